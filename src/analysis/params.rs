//! Tunable parameters of the scorer. The defaults were tuned with the accuracy harness on the
//! tuning seeds (see BENCHMARKS.md); every field says what it trades.

use serde::{Deserialize, Serialize};

/// Scorer parameters. Evidence weights are log-likelihood ratios (natural log) of
/// "flaky" against "deterministic" for one piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
    /// Below this many observed (non-skipped) runs a test without evidence stays `New`.
    pub min_runs: u32,
    /// Half-life, in this test's runs, of the failure-rate counts (Beta posterior).
    pub rate_half_life_runs: f64,
    /// Beta prior of the flaky-failure rate: pseudo-failures and pseudo-passes.
    pub prior_failures: f64,
    pub prior_passes: f64,

    /// A test failed, then passed on an in-run retry.
    pub w_retry_passed: f64,
    /// The same commit both passed and failed (job attempts, jobs, pipelines).
    pub w_same_commit: f64,
    /// One flip (pass->fail or fail->pass) on the default branch, counted when a short
    /// failure streak ends with a pass. A single-try isolated failure is two flips.
    pub w_flip_default: f64,
    /// A short failure streak on another branch that ended with a pass.
    pub w_branch_failure: f64,
    /// Share of `w_branch_failure` given to a failure whose branch was forgotten before the
    /// test passed there again (the outcome of the streak is unknown).
    pub unfinished_branch_factor: f64,
    /// Weight of a branch failure in the failure-rate counts (a PR may be genuinely broken).
    pub branch_rate_weight: f64,
    /// Multiplier for failures whose in-run retries all failed too: such consistency points
    /// to a (short) regression, not to chance.
    pub retried_failure_factor: f64,
    /// The evidence total is capped: it is how sure we are, and the cap bounds how long a
    /// fixed test takes to be cleared.
    pub max_evidence: f64,
    /// Score mapping: score = rescaled sigmoid(evidence - score_midpoint), 0 without evidence.
    pub score_midpoint: f64,

    /// Hysteresis: enter `Flaky` at or above this score...
    pub enter_flaky: f64,
    /// ...leave it only below this one, and only after `min_clean_to_leave` clean runs.
    pub leave_flaky: f64,
    pub min_clean_to_leave: u32,
    /// Or leave it sooner, once the clean runs in a row make the fix this sure: a test still
    /// failing at its estimated rate r would have failed within n runs with probability
    /// 1 - (1 - r)^n. Never before `min_clean_to_clear` clean runs.
    /// (0.99: at 0.95 the accuracy harness lost recall to flaky tests cleared in a dry
    /// spell, see BENCHMARKS.md.)
    pub fix_confidence: f64,
    pub min_clean_to_clear: u32,

    /// `Skipped` after at least this many skipped results in a row, and a streak a test
    /// skipped at its usual rate would produce with probability below `skipped_max_chance`
    /// (so a test that one job skips and another runs, or that skips itself now and then,
    /// keeps its status).
    pub skipped_after_runs: u32,
    pub skipped_max_chance: f64,
    /// Beta prior of the skip rate: pseudo-skips and pseudo-executions.
    pub prior_skips: f64,
    pub prior_executions: f64,
    /// `Inactive` when a test has not been reported at all for this long, counted from the
    /// project's newest run (data time, not the clock, so old histories read right).
    pub inactive_after_hours: f64,

    /// A failure streak is a regression when it is at least this long and a flaky test at its
    /// estimated rate would produce it with probability below `regression_max_chance`.
    pub regression_min_streak: u32,
    pub regression_max_chance: f64,
    /// Consecutive passes on the default branch that clear `Broken`.
    pub broken_clear_passes: u32,

    /// Run-level failure: at least this share of the run's tests failed...
    pub run_level_fail_share: f64,
    /// ...and at least this many (tiny jobs never count as run-level).
    pub run_level_min_failures: u32,
    /// Run-level failure: one signature shared by at least max(min, share * tests) tests.
    pub run_level_signature_min: u32,
    pub run_level_signature_share: f64,

    /// Bounds of the stored state: commits (per job), branches (other branches' tracks
    /// per job the default branch runs the test in, plus the default branch), and jobs on
    /// the default branch.
    pub commit_memory: usize,
    pub branch_memory: usize,
    pub job_memory: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_runs: 5,
            rate_half_life_runs: 500.0,
            prior_failures: 0.1,
            prior_passes: 50.0,
            w_retry_passed: 6.0,
            w_same_commit: 6.0,
            w_flip_default: 1.5,
            w_branch_failure: 1.0,
            branch_rate_weight: 0.5,
            unfinished_branch_factor: 0.7,
            retried_failure_factor: 0.2,
            max_evidence: 8.0,
            score_midpoint: 3.0,
            enter_flaky: 0.9,
            leave_flaky: 0.5,
            min_clean_to_leave: 20,
            fix_confidence: 0.99,
            min_clean_to_clear: 8,
            skipped_after_runs: 3,
            skipped_max_chance: 0.001,
            prior_skips: 0.5,
            prior_executions: 10.0,
            inactive_after_hours: 14.0 * 24.0,
            regression_min_streak: 2,
            regression_max_chance: 0.001,
            broken_clear_passes: 2,
            run_level_fail_share: 0.5,
            run_level_min_failures: 5,
            run_level_signature_min: 8,
            run_level_signature_share: 0.02,
            commit_memory: 8,
            branch_memory: 6,
            job_memory: 8,
        }
    }
}

impl Params {
    /// Per-observation decay factor of the rate counts.
    pub fn rate_decay(&self) -> f64 {
        0.5f64.powf(1.0 / self.rate_half_life_runs.max(1.0))
    }

    /// Clean runs in a row that take a flaky test failing at `rate` as fixed.
    pub fn clean_runs_to_clear(&self, rate: f64) -> u32 {
        let rate = rate.clamp(1e-6, 0.999);
        let needed = ((1.0 - self.fix_confidence).max(1e-9).ln() / (1.0 - rate).ln()).ceil();
        (needed.min(f64::from(u32::MAX)) as u32).max(self.min_clean_to_clear)
    }

    /// Maps accumulated evidence (a log-likelihood ratio, >= 0) to a score in [0, 1]:
    /// 0 without evidence, rising steeply around `score_midpoint`.
    pub fn score(&self, evidence: f64) -> f64 {
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let base = sig(-self.score_midpoint);
        ((sig(evidence - self.score_midpoint) - base) / (1.0 - base)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_is_zero_without_evidence_and_monotone() {
        let p = Params::default();
        assert_eq!(p.score(0.0), 0.0);
        assert!(p.score(3.0) < p.enter_flaky);
        // One strong piece of evidence is enough to enter Flaky, one isolated failure is not.
        assert!(p.score(p.w_retry_passed) >= p.enter_flaky);
        assert!(p.score(2.0 * p.w_flip_default) < p.leave_flaky);
        assert!(p.score(4.0 * p.w_flip_default) >= p.enter_flaky);
        assert!(p.score(p.max_evidence) > 0.99);
    }

    #[test]
    fn params_round_trip_with_missing_fields() {
        let p: Params = serde_json::from_str(r#"{"min_runs": 3}"#).unwrap();
        assert_eq!(p.min_runs, 3);
        assert_eq!(p.enter_flaky, Params::default().enter_flaky);
    }
}
