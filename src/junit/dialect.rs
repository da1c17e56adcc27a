//! Best-effort naming of the tool that wrote a report, from tell-tale attributes.
//!
//! Purely informational (a warning the store shows, and a hint when reading an odd
//! report): the parser applies every quirk it knows to every report, because
//! converters and look-alike tools mix conventions freely.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// Nothing tool-specific seen: Ant/Jenkins-style JUnit.
    Generic,
    Surefire,
    Nextest,
    Pytest,
    JestJunit,
    Mocha,
    GoogleTest,
    Go,
    PhpUnit,
    Tst,
    Catch2,
    Bazel,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Generic => "generic JUnit",
            Dialect::Surefire => "Maven Surefire/Failsafe",
            Dialect::Nextest => "cargo-nextest",
            Dialect::Pytest => "pytest",
            Dialect::JestJunit => "jest-junit",
            Dialect::Mocha => "mocha/Cypress (mocha-junit-reporter)",
            Dialect::GoogleTest => "GoogleTest",
            Dialect::Go => "Go (go-junit-report/gotestsum)",
            Dialect::PhpUnit => "PHPUnit",
            Dialect::Tst => "tst",
            Dialect::Catch2 => "Catch2",
            Dialect::Bazel => "Bazel",
        }
    }
}

/// Feeds on the attributes of the first few elements; settles on the first clear sign.
#[derive(Debug)]
pub(crate) struct DialectDetector {
    dialect: Dialect,
}

impl Default for DialectDetector {
    fn default() -> Self {
        DialectDetector {
            dialect: Dialect::Generic,
        }
    }
}

impl DialectDetector {
    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn settle(&mut self, d: Dialect) {
        if self.dialect == Dialect::Generic {
            self.dialect = d;
        }
    }

    /// The `name` of the root `<testsuites>`.
    pub(crate) fn root_name(&mut self, name: &str) {
        match name {
            "nextest-run" => self.settle(Dialect::Nextest),
            "jest tests" => self.settle(Dialect::JestJunit),
            "Mocha Tests" => self.settle(Dialect::Mocha),
            "AllTests" => self.settle(Dialect::GoogleTest),
            _ => {}
        }
    }

    pub(crate) fn suite(
        &mut self,
        name: &str,
        schema_location: Option<&str>,
        hostname: Option<&str>,
    ) {
        if schema_location.is_some_and(|s| s.contains("surefire")) {
            self.settle(Dialect::Surefire);
        } else if name == "pytest" {
            self.settle(Dialect::Pytest);
        } else if hostname == Some("tbd") {
            self.settle(Dialect::Catch2);
        }
    }

    pub(crate) fn property(&mut self, name: &str) {
        if name == "go.version" {
            self.settle(Dialect::Go);
        }
    }

    /// Attribute names and the `status` of a `<testcase>`.
    pub(crate) fn case(
        &mut self,
        has_class_attr: bool,
        has_assertions: bool,
        status: Option<&str>,
        has_result: bool,
    ) {
        if self.dialect != Dialect::Generic {
            return;
        }
        if has_result || matches!(status, Some("run" | "notrun")) {
            self.settle(Dialect::GoogleTest);
        } else if matches!(status, Some("passed" | "failed" | "disabled" | "errored")) {
            self.settle(Dialect::Tst);
        } else if has_class_attr && has_assertions {
            self.settle(Dialect::PhpUnit);
        }
    }

    /// A `<flakyFailure>`-style child: Surefire unless nextest was already seen.
    pub(crate) fn rerun_element(&mut self) {
        self.settle(Dialect::Surefire);
    }

    /// Bazel's test.xml: a single case named after the target, `duration` attribute.
    pub(crate) fn bazel_duration_attr(&mut self) {
        self.settle(Dialect::Bazel);
    }
}
