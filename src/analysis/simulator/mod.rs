//! A simulator of CI histories with known ground truth: which tests are flaky (and when),
//! which runs failed because of a regression or an outage. Deterministic from a seed.
//!
//! Model: `tests` tests sharded over `jobs` jobs; a pipeline runs every job on one commit.
//! Main gets `main_commits` commits; PR branches get pushes in between (each a pipeline on a
//! new commit, based on the main head when the PR was opened); a scheduled pipeline re-runs
//! the main head now and then. Red jobs are re-run (attempt 2, same commit) with some
//! probability. Tests fail for exactly one of these reasons, in this order: a regression in
//! the code being tested (every try fails), an infrastructure outage hitting the run (many
//! tests, one signature), or their own flakiness (rates from 0.1% to 30%, some in groups that
//! fail together, some flaky only for part of the history).

mod config;
mod execute;
mod generate;
pub mod junit;
mod population;
pub mod rng;
mod timeline;
mod truth;

use chrono::NaiveDateTime;

use super::model::{Outcome, RunContext, TestResultObs};

pub use config::Scenario;
pub use generate::generate;
pub use truth::{FlakyTruth, RegressionTruth, Scope, TestTruth};

/// A generated history: runs in the order storage would receive them, and the truth.
#[derive(Debug, Clone)]
pub struct SimHistory {
    pub scenario: Scenario,
    pub tests: Vec<TestTruth>,
    pub runs: Vec<SimRun>,
    pub regressions: Vec<RegressionTruth>,
}

/// One job run, with the context storage would build for it.
#[derive(Debug, Clone)]
pub struct SimRun {
    /// `run_id` is the 1-based position in `SimHistory::runs`.
    pub ctx: RunContext,
    /// Index of the pipeline in creation order (the simulator's clock).
    pub pipeline_idx: u32,
    pub runner: String,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    pub results: Vec<SimResult>,
}

/// Why a test failed, as only the simulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    None,
    /// Its own flakiness (alone or with its group).
    Flaky,
    /// Regression id (index into `SimHistory::regressions`).
    Regression(u32),
    Outage,
}

#[derive(Debug, Clone)]
pub struct SimResult {
    /// Index into `SimHistory::tests`.
    pub test: u32,
    pub outcome: Outcome,
    pub attempts: u8,
    pub failed_attempts: u8,
    pub cause: Cause,
    /// Duration of one try.
    pub duration_ms: u32,
    /// Text of the (first) failure; None when no try failed.
    pub failure: Option<Box<Failure>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Exception type.
    pub kind: String,
    pub message: String,
    /// Stack trace.
    pub details: String,
    /// `signature_hash(normalize(kind, message, details))`.
    pub signature: String,
}

impl SimResult {
    /// What storage would hand the scorer for this result.
    pub fn obs(&self) -> TestResultObs {
        TestResultObs {
            outcome: self.outcome,
            attempts: u32::from(self.attempts),
            failed_attempts: u32::from(self.failed_attempts),
            signature: self.failure.as_ref().map(|f| f.signature.clone()),
        }
    }
}
