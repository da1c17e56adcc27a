//! The simple rules flakewatch is compared with, on the same data. Each keeps per-test state
//! and answers "flaky?" after every observation.

use std::collections::VecDeque;

use super::model::{Outcome, RunContext, TestResultObs};

/// A per-test detection rule.
pub trait Rule: Default + Clone {
    fn observe(&mut self, run: &RunContext, result: &TestResultObs);
    fn flaky(&self) -> bool;
}

/// (a) Any failure on the default branch (a failed try counts) opens a flake; `CLOSE_AFTER`
/// consecutive clean passes there close it.
#[derive(Debug, Clone, Default)]
pub struct AnyFailureOnMain {
    open: bool,
    passes: u32,
}

impl AnyFailureOnMain {
    pub const CLOSE_AFTER: u32 = 30;
}

impl Rule for AnyFailureOnMain {
    fn observe(&mut self, run: &RunContext, r: &TestResultObs) {
        if !run.on_default_branch || r.outcome == Outcome::Skipped {
            return;
        }
        if r.has_failed_attempt() {
            self.open = true;
            self.passes = 0;
        } else if self.open {
            self.passes += 1;
            if self.passes >= Self::CLOSE_AFTER {
                self.open = false;
            }
        }
    }

    fn flaky(&self) -> bool {
        self.open
    }
}

/// (b) Failed and passed on the same commit (an in-run retry that passed included) marks
/// the test flaky for good.
#[derive(Debug, Clone, Default)]
pub struct SameCommitFlip {
    flagged: bool,
    /// Recent commits: (commit, passed, failed).
    commits: VecDeque<(String, bool, bool)>,
}

impl SameCommitFlip {
    const MEMORY: usize = 16;
}

impl Rule for SameCommitFlip {
    fn observe(&mut self, run: &RunContext, r: &TestResultObs) {
        if self.flagged || r.outcome == Outcome::Skipped {
            return;
        }
        if r.failed_attempts > 0 && r.outcome == Outcome::Passed {
            self.flagged = true;
            return;
        }
        let i = match self.commits.iter().position(|c| c.0 == run.commit) {
            Some(i) => i,
            None => {
                if self.commits.len() == Self::MEMORY {
                    self.commits.pop_front();
                }
                self.commits.push_back((run.commit.clone(), false, false));
                self.commits.len() - 1
            }
        };
        let c = &mut self.commits[i];
        if r.outcome.is_failure() {
            c.2 = true;
        } else {
            c.1 = true;
        }
        self.flagged = c.1 && c.2;
    }

    fn flaky(&self) -> bool {
        self.flagged
    }
}

/// (c) Flip rate of the final outcome over the last `WINDOW` runs (any branch) at or
/// above `THRESHOLD`.
#[derive(Debug, Clone, Default)]
pub struct FlipRateWindow {
    recent: VecDeque<bool>,
}

impl FlipRateWindow {
    pub const WINDOW: usize = 50;
    /// Three flips in 50 runs.
    pub const THRESHOLD: f64 = 0.06;
}

impl Rule for FlipRateWindow {
    fn observe(&mut self, _run: &RunContext, r: &TestResultObs) {
        if r.outcome == Outcome::Skipped {
            return;
        }
        if self.recent.len() == Self::WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(r.outcome.is_failure());
    }

    fn flaky(&self) -> bool {
        if self.recent.len() < 2 {
            return false;
        }
        let flips = self
            .recent
            .iter()
            .zip(self.recent.iter().skip(1))
            .filter(|(a, b)| a != b)
            .count();
        flips as f64 / (self.recent.len() - 1) as f64 >= Self::THRESHOLD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(main: bool, commit: &str) -> RunContext {
        RunContext {
            run_id: 1,
            at: Default::default(),
            branch: if main { "main" } else { "pr" }.into(),
            on_default_branch: main,
            commit: commit.into(),
            job: "j".into(),
            attempt: 1,
            pipeline: "p".into(),
            tests_in_run: 10,
            failed_in_run: 0,
            top_signature_failures: 0,
            top_signature: None,
        }
    }

    fn obs(outcome: Outcome, failed: u32) -> TestResultObs {
        TestResultObs {
            outcome,
            attempts: failed.max(1),
            failed_attempts: failed,
            signature: None,
        }
    }

    #[test]
    fn any_failure_on_main_opens_and_30_passes_close() {
        let mut r = AnyFailureOnMain::default();
        r.observe(&ctx(false, "a"), &obs(Outcome::Failed, 1));
        assert!(!r.flaky(), "PR failures do not count");
        r.observe(&ctx(true, "a"), &obs(Outcome::Failed, 1));
        assert!(r.flaky());
        for _ in 0..29 {
            r.observe(&ctx(true, "b"), &obs(Outcome::Passed, 0));
        }
        assert!(r.flaky());
        r.observe(&ctx(true, "b"), &obs(Outcome::Passed, 0));
        assert!(!r.flaky());
    }

    #[test]
    fn same_commit_flip_needs_both_outcomes_on_one_commit() {
        let mut r = SameCommitFlip::default();
        r.observe(&ctx(true, "a"), &obs(Outcome::Failed, 1));
        r.observe(&ctx(true, "b"), &obs(Outcome::Passed, 0));
        assert!(!r.flaky());
        r.observe(&ctx(true, "a"), &obs(Outcome::Passed, 0));
        assert!(r.flaky());
        let mut retry = SameCommitFlip::default();
        retry.observe(&ctx(true, "c"), &obs(Outcome::Passed, 1));
        assert!(retry.flaky());
    }

    #[test]
    fn flip_rate_window_counts_flips() {
        let mut r = FlipRateWindow::default();
        for i in 0..50 {
            let fail = i == 10 || i == 30;
            r.observe(
                &ctx(true, "a"),
                &obs(
                    if fail {
                        Outcome::Failed
                    } else {
                        Outcome::Passed
                    },
                    u32::from(fail),
                ),
            );
        }
        assert!(r.flaky(), "4 flips in 50 runs");
        for _ in 0..40 {
            r.observe(&ctx(true, "a"), &obs(Outcome::Passed, 0));
        }
        assert!(!r.flaky(), "the failures left the window");
    }
}
