//! Plain data types the parser yields. No parsing logic lives here.

use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// The verdict of one execution of a test, or of the test for the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Error,
    Skipped,
}

impl Outcome {
    /// Failed or error: the execution did not pass and was not skipped.
    pub fn is_failing(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Error)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Text kept from the report, cut at a configured size.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Captured {
    pub text: String,
    /// True when the report held more than was kept.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Property {
    pub name: String,
    pub value: String,
}

/// Where an extra attempt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptKind {
    /// Surefire/nextest `<flakyFailure>`: failed, a later run passed.
    FlakyFailure,
    /// Surefire/nextest `<flakyError>`.
    FlakyError,
    /// Surefire/nextest `<rerunFailure>`: a re-run that failed again.
    RerunFailure,
    /// Surefire/nextest `<rerunError>`.
    RerunError,
    /// Another `<testcase>` element with the same identity, right after this one
    /// (pytest-rerunfailures and similar).
    Repeat,
}

/// One execution of a test inside a run, other than the one the record itself describes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub kind: AttemptKind,
    pub outcome: Outcome,
    pub duration_ms: Option<i64>,
    pub message: Option<String>,
    #[serde(rename = "type")]
    pub failure_type: Option<String>,
    pub text: Option<Captured>,
    pub system_out: Option<Captured>,
    pub system_err: Option<Captured>,
}

/// One test of the run: one `<testcase>` (or several merged repeats of it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestCase {
    /// Names of the enclosing `<testsuite>` elements, outermost first. `<testsuites>`
    /// and `<testrun>` containers are not part of it.
    pub suite_path: Arc<[String]>,
    pub classname: Option<String>,
    pub name: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Final outcome for the run; see the module docs for how attempts decide it.
    pub outcome: Outcome,
    /// Duration of the execution the top-level fields describe.
    pub duration_ms: Option<i64>,
    pub message: Option<String>,
    #[serde(rename = "type")]
    pub failure_type: Option<String>,
    /// Body of `<failure>`/`<error>`/`<skipped>` (stack trace, reason).
    pub text: Option<Captured>,
    pub system_out: Option<Captured>,
    pub system_err: Option<Captured>,
    pub properties: Vec<Property>,
    /// Other executions of this test in the same run, in document order.
    pub attempts: Vec<Attempt>,
    /// True for a record synthesised from a suite-level `<error>`/`<failure>`
    /// (Ant writes one when a test class cannot even be loaded).
    pub suite_level: bool,
    /// 1-based line of the `<testcase>` start tag in the (decompressed) report.
    #[serde(skip)]
    pub source_line: u64,
}

/// The rule that makes the same test from two runs the same test: see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TestIdentity {
    /// The classname, or the suite path joined with `/` when the tool wrote no classname.
    pub scope: String,
    pub name: String,
}

impl fmt::Display for TestIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scope.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}::{}", self.scope, self.name)
        }
    }
}

impl TestCase {
    /// Stable identity: classname + name, or suite path + name without a classname.
    pub fn identity(&self) -> TestIdentity {
        TestIdentity {
            scope: identity_scope(self.classname.as_deref(), &self.suite_path),
            name: self.name.clone(),
        }
    }

    /// Passed in the end, after at least one failing attempt in the same run.
    pub fn is_flaky_in_run(&self) -> bool {
        self.outcome == Outcome::Passed && self.attempts.iter().any(|a| a.outcome.is_failing())
    }

    /// Number of tries that ran: this one plus the extra attempts that were not skipped.
    /// A skipped attempt (e.g. TestNG's skipped retry, or `<skipped/>` before a failure)
    /// is not a try that passed.
    pub fn tries(&self) -> usize {
        1 + self
            .attempts
            .iter()
            .filter(|a| a.outcome != Outcome::Skipped)
            .count()
    }
}

pub(crate) fn identity_scope(classname: Option<&str>, suite_path: &[String]) -> String {
    match classname {
        Some(c) if !c.is_empty() => c.to_owned(),
        _ => suite_path.join("/"),
    }
}

/// The `tests`/`failures`/`errors`/`skipped` attributes a suite declares about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DeclaredCounts {
    pub tests: Option<u64>,
    pub failures: Option<u64>,
    pub errors: Option<u64>,
    pub skipped: Option<u64>,
}

impl DeclaredCounts {
    pub fn is_empty(&self) -> bool {
        self.tests.is_none()
            && self.failures.is_none()
            && self.errors.is_none()
            && self.skipped.is_none()
    }
}

/// A `<testsuite>` as known when its first test case or child suite starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suite {
    /// Names from the outermost suite down to this one.
    pub path: Arc<[String]>,
    pub name: String,
    pub timestamp: Option<String>,
    pub hostname: Option<String>,
    pub id: Option<String>,
    pub package: Option<String>,
    pub file: Option<String>,
    pub duration_ms: Option<i64>,
    pub declared: DeclaredCounts,
    /// `<properties>` that came before the first test case or child suite.
    pub properties: Vec<Property>,
}

/// Closing data of a `<testsuite>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteEnd {
    pub path: Arc<[String]>,
    pub system_out: Option<Captured>,
    pub system_err: Option<Captured>,
    /// `<properties>` that came after the first test case or child suite.
    pub late_properties: Vec<Property>,
}

/// The root `<testsuites>` (or `<testrun>`) container's own attributes.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RunInfo {
    pub name: Option<String>,
    pub timestamp: Option<String>,
    pub duration_ms: Option<i64>,
    pub declared: DeclaredCounts,
}

/// One item of the stream, in document order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    SuiteStart(Suite),
    /// Boxed: a record is a few hundred bytes, and it travels through a queue.
    Case(Box<TestCase>),
    SuiteEnd(SuiteEnd),
}
