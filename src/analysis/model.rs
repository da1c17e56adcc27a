//! The plain input and output types of the scorer: what storage knows about a run and a
//! test result, and the status a test can have.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// Final outcome of one test case in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    Error,
    Skipped,
}

impl Outcome {
    /// Failed and Error both make the test red.
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Error)
    }
}

/// What flakewatch says about a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Too little history to say anything.
    #[default]
    New,
    Healthy,
    /// Passes and fails without a code change.
    Flaky,
    /// Fails consistently on the default branch since some commit (a regression).
    Broken,
    /// Reported skipped run after run: disabled, or skipped by the test itself.
    Skipped,
    /// Not reported at all for a while (`Params::inactive_after_hours`) while the project
    /// went on: removed, renamed or no longer run. Set by storage (`scorer::go_inactive`);
    /// the test's next result ends it.
    Inactive,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Flaky,
        Status::Broken,
        Status::Healthy,
        Status::New,
        Status::Skipped,
        Status::Inactive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Healthy => "healthy",
            Status::Flaky => "flaky",
            Status::Broken => "broken",
            Status::Skipped => "skipped",
            Status::Inactive => "inactive",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What storage knows about one stored run (one job attempt of one pipeline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    pub run_id: i64,
    pub at: NaiveDateTime,
    pub branch: String,
    pub on_default_branch: bool,
    pub commit: String,
    pub job: String,
    /// Job rerun number, 1 = first.
    pub attempt: i32,
    pub pipeline: String,
    /// Executed (not skipped) test cases in the run.
    pub tests_in_run: u32,
    /// Test cases whose final outcome is failed or error.
    pub failed_in_run: u32,
    /// Among test cases with at least one failed attempt, how many share the most common
    /// failure signature.
    pub top_signature_failures: u32,
    /// Added to the brief's struct: that most common signature. With it only the failures
    /// sharing it are discounted as run-level; without it (None) every failure of such a run is.
    #[serde(default)]
    pub top_signature: Option<String>,
}

/// One test's result in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResultObs {
    pub outcome: Outcome,
    /// In-run tries (pytest-rerunfailures, surefire rerunFailingTestsCount), at least 1.
    pub attempts: u32,
    pub failed_attempts: u32,
    /// Normalised failure signature hash of the (first) failure, see `signature`.
    pub signature: Option<String>,
}

impl TestResultObs {
    /// True when any try failed, whatever the final outcome.
    pub fn has_failed_attempt(&self) -> bool {
        self.failed_attempts > 0 || self.outcome.is_failure()
    }
}

/// The run-level counts of a `RunContext`, computed from the run's results. Storage and the
/// simulator both use this, so they agree on what the counts mean.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunSummary {
    pub tests_in_run: u32,
    pub failed_in_run: u32,
    pub top_signature_failures: u32,
    pub top_signature: Option<String>,
}

/// Counts executed tests, final failures, and the most common signature among tests with a
/// failed attempt (ties broken by the smaller signature, so the result is deterministic).
pub fn summarize_run<'a>(results: impl IntoIterator<Item = &'a TestResultObs>) -> RunSummary {
    let mut summary = RunSummary::default();
    let mut by_signature: HashMap<&'a str, u32> = HashMap::new();
    for r in results {
        if r.outcome == Outcome::Skipped {
            continue;
        }
        summary.tests_in_run += 1;
        if r.outcome.is_failure() {
            summary.failed_in_run += 1;
        }
        if r.has_failed_attempt() {
            if let Some(sig) = r.signature.as_deref() {
                *by_signature.entry(sig).or_default() += 1;
            }
        }
    }
    if let Some((sig, n)) = by_signature
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
    {
        summary.top_signature_failures = n;
        summary.top_signature = Some(sig.to_string());
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(outcome: Outcome, failed_attempts: u32, sig: Option<&str>) -> TestResultObs {
        TestResultObs {
            outcome,
            attempts: failed_attempts.max(1),
            failed_attempts,
            signature: sig.map(str::to_string),
        }
    }

    #[test]
    fn summary_counts_failures_and_top_signature() {
        let results = vec![
            obs(Outcome::Passed, 0, None),
            obs(Outcome::Skipped, 0, None),
            obs(Outcome::Failed, 1, Some("aa")),
            obs(Outcome::Error, 1, Some("bb")),
            obs(Outcome::Failed, 1, Some("bb")),
            // A retried pass still counts towards the shared signature.
            obs(Outcome::Passed, 1, Some("bb")),
        ];
        let s = summarize_run(&results);
        assert_eq!(s.tests_in_run, 5);
        assert_eq!(s.failed_in_run, 3);
        assert_eq!(s.top_signature_failures, 3);
        assert_eq!(s.top_signature.as_deref(), Some("bb"));
    }

    #[test]
    fn summary_tie_is_deterministic() {
        let results = vec![
            obs(Outcome::Failed, 1, Some("zz")),
            obs(Outcome::Failed, 1, Some("aa")),
        ];
        assert_eq!(summarize_run(&results).top_signature.as_deref(), Some("aa"));
    }
}
