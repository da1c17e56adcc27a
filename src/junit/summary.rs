//! Counts over the records of a report.

use super::record::{Outcome, TestCase};
use serde::Serialize;

/// Counts of records (merged test cases) by final outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    pub tests: u64,
    pub passed: u64,
    pub failed: u64,
    pub errors: u64,
    pub skipped: u64,
    /// Passed in the end after at least one failed attempt in the same run.
    pub flaky_in_run: u64,
}

impl Summary {
    pub fn add(&mut self, case: &TestCase) {
        self.tests += 1;
        match case.outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Skipped => self.skipped += 1,
        }
        if case.is_flaky_in_run() {
            self.flaky_in_run += 1;
        }
    }
}

impl<'a> FromIterator<&'a TestCase> for Summary {
    fn from_iter<I: IntoIterator<Item = &'a TestCase>>(iter: I) -> Self {
        let mut summary = Summary::default();
        for case in iter {
            summary.add(case);
        }
        summary
    }
}
