//! Run-level failures: when most of a run failed, or many tests failed with one signature,
//! the cause is the run (an outage, a broken runner), not the test.

use std::fmt;

use super::model::{RunContext, TestResultObs};
use super::params::Params;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunLevelCause {
    MostTestsFailed { failed: u32, tests: u32 },
    SharedSignature { tests: u32 },
}

impl fmt::Display for RunLevelCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunLevelCause::MostTestsFailed { failed, tests } => {
                write!(f, "{failed} of {tests} tests in the run failed")
            }
            RunLevelCause::SharedSignature { tests } => {
                write!(f, "{tests} tests in the run failed with the same signature")
            }
        }
    }
}

/// Whether this test's failure in this run is explained by a run-level failure.
pub fn classify(run: &RunContext, result: &TestResultObs, p: &Params) -> Option<RunLevelCause> {
    if !result.has_failed_attempt() || run.tests_in_run == 0 {
        return None;
    }
    let tests = run.tests_in_run;
    if run.failed_in_run >= p.run_level_min_failures
        && f64::from(run.failed_in_run) >= p.run_level_fail_share * f64::from(tests)
    {
        return Some(RunLevelCause::MostTestsFailed {
            failed: run.failed_in_run,
            tests,
        });
    }
    let needed = f64::from(p.run_level_signature_min)
        .max((p.run_level_signature_share * f64::from(tests)).ceil());
    let shares_top = match (&run.top_signature, &result.signature) {
        (Some(top), Some(own)) => top == own,
        (Some(_), None) => false,
        (None, _) => true,
    };
    if f64::from(run.top_signature_failures) >= needed && shares_top {
        return Some(RunLevelCause::SharedSignature {
            tests: run.top_signature_failures,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::Outcome;

    fn run(tests: u32, failed: u32, top: u32, sig: Option<&str>) -> RunContext {
        RunContext {
            run_id: 1,
            at: Default::default(),
            branch: "main".into(),
            on_default_branch: true,
            commit: "c".into(),
            job: "j".into(),
            attempt: 1,
            pipeline: "p".into(),
            tests_in_run: tests,
            failed_in_run: failed,
            top_signature_failures: top,
            top_signature: sig.map(str::to_string),
        }
    }

    fn failed(sig: &str) -> TestResultObs {
        TestResultObs {
            outcome: Outcome::Failed,
            attempts: 1,
            failed_attempts: 1,
            signature: Some(sig.into()),
        }
    }

    #[test]
    fn most_tests_failing_is_run_level() {
        let p = Params::default();
        let c = classify(&run(100, 60, 3, None), &failed("x"), &p);
        assert_eq!(
            c,
            Some(RunLevelCause::MostTestsFailed {
                failed: 60,
                tests: 100
            })
        );
        // Half of a four-test job is not an outage.
        assert_eq!(classify(&run(4, 2, 1, None), &failed("x"), &p), None);
    }

    #[test]
    fn shared_signature_only_discounts_tests_that_share_it() {
        let p = Params::default();
        let r = run(500, 40, 40, Some("outage"));
        assert!(classify(&r, &failed("outage"), &p).is_some());
        assert_eq!(classify(&r, &failed("own-bug"), &p), None);
        // A few tests failing together (one shared flaky cause) is not run-level.
        let small = run(500, 4, 4, Some("outage"));
        assert_eq!(classify(&small, &failed("outage"), &p), None);
    }

    #[test]
    fn passing_test_is_never_run_level() {
        let p = Params::default();
        let pass = TestResultObs {
            outcome: Outcome::Passed,
            attempts: 1,
            failed_attempts: 0,
            signature: None,
        };
        assert_eq!(classify(&run(10, 10, 10, None), &pass, &p), None);
    }
}
