//! The one error type of the parser: where it happened and what is wrong.

use std::fmt;

/// A report that cannot be read. `Display` gives `name:line:column: what is wrong: what to do`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}:{column}: {kind}")]
pub struct ParseError {
    /// The name the caller gave the input (file name or upload name).
    pub source_name: String,
    /// 1-based line in the decompressed, UTF-8 report.
    pub line: u64,
    /// 1-based column, counted in characters.
    pub column: u64,
    pub kind: ErrorKind,
}

/// What went wrong; tests and callers match on this. The advice holds for a report read
/// locally (`flakewatch parse`) as well as for one a server received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("the report is empty: check the report path, and that the test runner wrote the file")]
    Empty,
    #[error("not an XML file (it starts with {found}): use the JUnit XML report your test runner writes")]
    NotXml { found: String },
    #[error("this is an HTML page, not a JUnit report: an error page or a login page was probably saved in its place; check the artifact URL or path")]
    Html,
    #[error("the root element is <{root}>, not <testsuites> or <testsuite>: this is not a JUnit XML report{hint}")]
    NotJunit { root: String, hint: String },
    #[error(
        "unexpected end of file {context}: the report is truncated; use the complete file (did the test run finish writing it?)"
    )]
    Truncated { context: String },
    #[error("malformed XML: {detail}; fix the tool that wrote the report, or use an intact copy")]
    Malformed { detail: String },
    #[error("the report declares XML entities in a DOCTYPE, which flakewatch never expands (entity-bomb and XXE protection); remove the DOCTYPE from the report")]
    EntityDeclaration,
    #[error("elements are nested more than {limit} levels deep; this is not a plausible test report (raise max_depth if it is genuine)")]
    TooDeep { limit: usize },
    #[error("a single tag or text block is larger than {limit} bytes; shorten the captured output in the report, or raise max_token_bytes")]
    TokenTooLarge { limit: usize },
    #[error("the report is larger than {limit} bytes once decompressed (a gzip bomb, or a genuinely huge report); split the report, or raise max_decompressed_bytes")]
    TooLarge { limit: u64 },
    #[error("corrupt gzip data ({detail}); use an intact copy, or the uncompressed report")]
    Gzip { detail: String },
    #[error("could not read the report: {detail}")]
    Io { detail: String },
}

impl ErrorKind {
    /// Stable machine-readable code for the HTTP error mapping.
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::Empty => "junit_empty",
            ErrorKind::NotXml { .. } => "junit_not_xml",
            ErrorKind::Html => "junit_html",
            ErrorKind::NotJunit { .. } => "junit_not_junit",
            ErrorKind::Truncated { .. } => "junit_truncated",
            ErrorKind::Malformed { .. } => "junit_malformed",
            ErrorKind::EntityDeclaration => "junit_entity_declaration",
            ErrorKind::TooDeep { .. } => "junit_too_deep",
            ErrorKind::TokenTooLarge { .. } => "junit_token_too_large",
            ErrorKind::TooLarge { .. } => "junit_too_large",
            ErrorKind::Gzip { .. } => "junit_gzip",
            ErrorKind::Io { .. } => "junit_io",
        }
    }
}

/// Something odd but readable; the store pipeline shows these next to the run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    pub kind: WarningKind,
    /// 1-based line the warning refers to, when it refers to one place.
    pub line: Option<u64>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    DialectDetected,
    DuplicateIdentity,
    MissingDuration,
    InvalidDuration,
    CountMismatch,
    Truncated,
    Encoding,
    Leniency,
    TooManyWarnings,
}

impl WarningKind {
    /// Stable machine-readable code, the same as the JSON name.
    pub const fn code(self) -> &'static str {
        match self {
            WarningKind::DialectDetected => "dialect_detected",
            WarningKind::DuplicateIdentity => "duplicate_identity",
            WarningKind::MissingDuration => "missing_duration",
            WarningKind::InvalidDuration => "invalid_duration",
            WarningKind::CountMismatch => "count_mismatch",
            WarningKind::Truncated => "truncated",
            WarningKind::Encoding => "encoding",
            WarningKind::Leniency => "leniency",
            WarningKind::TooManyWarnings => "too_many_warnings",
        }
    }

    /// Information about the report rather than a problem with it.
    pub fn is_information(self) -> bool {
        self == WarningKind::DialectDetected
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_codes_are_their_json_names() {
        let kinds = [
            WarningKind::DialectDetected,
            WarningKind::DuplicateIdentity,
            WarningKind::MissingDuration,
            WarningKind::InvalidDuration,
            WarningKind::CountMismatch,
            WarningKind::Truncated,
            WarningKind::Encoding,
            WarningKind::Leniency,
            WarningKind::TooManyWarnings,
        ];
        for kind in kinds {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.code());
        }
    }
}
