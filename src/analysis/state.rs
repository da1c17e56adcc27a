//! The per-test state the scorer carries between runs. Stored as JSON per test, so every
//! collection in it is bounded (see `Params::*_memory`) and every string is truncated.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::evidence::Evidence;
use super::model::Status;

/// Longest branch name kept (evidence messages only need to be recognisable).
const MAX_BRANCH_CHARS: usize = 64;
/// Commits are kept as 12-character prefixes: unique enough within a few recent commits.
const COMMIT_CHARS: usize = 12;
/// Most run ids kept for a pending failure streak.
const MAX_PENDING_RUNS: usize = 4;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TestState {
    pub status: Status,
    /// When the current status began.
    pub status_changed_at: Option<NaiveDateTime>,
    /// Non-skipped observations.
    pub runs_seen: u32,
    /// Latest result of any kind, skipped included: a long silence makes the test inactive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<NaiveDateTime>,
    /// Consecutive skipped results.
    #[serde(skip_serializing_if = "is_zero")]
    pub skip_streak: u32,
    /// Decayed skipped results (`failures`) and executed ones (`passes`): the skip rate.
    pub skips: DecayedRate,
    /// The skip rate when the current skip streak began, which the streak is weighed against.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub skip_rate_at_streak: f64,
    /// First run of the current clean streak, and when the last flaky spell was taken as
    /// fixed (that streak's start): "fixed since".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clean_since: Option<(i64, NaiveDateTime)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_since: Option<NaiveDateTime>,
    /// Accumulated flaky evidence, a log-likelihood ratio in [0, max_evidence]; clean runs
    /// erode it at the rate a test this flaky would fail.
    pub evidence_llr: f64,
    /// Exponentially decayed flaky failures and clean runs: a Beta posterior of the rate.
    pub rate: DecayedRate,
    /// The rate estimate when flaky evidence last arrived: the rate a still-flaky test is
    /// expected to keep failing at, which clean runs are weighed against.
    pub rate_at_evidence: f64,
    /// Decayed flips and observations on the default branch (the flip rate).
    pub default_flips: f64,
    pub default_runs: f64,
    /// Clean runs (no failed attempt) since the last failure that counted.
    pub clean_streak: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_flaky_at: Option<NaiveDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_flaky_at: Option<NaiveDateTime>,
    /// Whether the test was Flaky when it became Broken, to restore it after the fix.
    #[serde(skip_serializing_if = "is_false")]
    pub flaky_before_broken: bool,
    /// Signatures of this test's recent regressions (newest last): later failures with one
    /// of them on other branches (based on the broken code) are not flaky evidence.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regression_signatures: Vec<String>,
    /// Signature of the latest flaky failure: never taken for a regression's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flaky_signature: Option<String>,
    pub commits: Vec<CommitTrack>,
    pub branches: Vec<BranchTrack>,
    /// One entry per kind, newest first.
    pub evidence: Vec<Evidence>,
}

/// Decayed counts of flaky failures and clean runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DecayedRate {
    pub failures: f64,
    pub passes: f64,
}

impl DecayedRate {
    pub fn decay(&mut self, factor: f64) {
        self.failures *= factor;
        self.passes *= factor;
    }

    /// Posterior mean of the rate under a Beta(prior_failures, prior_passes) prior.
    pub fn mean(&self, prior_failures: f64, prior_passes: f64) -> f64 {
        let a = prior_failures + self.failures;
        a / (a + prior_passes + self.passes)
    }
}

/// Outcomes seen at one recent commit (final outcomes, run-level failures excluded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommitTrack {
    pub commit: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub passed: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub failed: u32,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub last_pass_run: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub last_fail_run: i64,
    /// Whether the pass+fail evidence was already counted for this commit.
    #[serde(skip_serializing_if = "is_false")]
    pub reported: bool,
}

/// The current failure streak on one recent branch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BranchTrack {
    pub branch: String,
    #[serde(skip_serializing_if = "is_false")]
    pub is_default: bool,
    /// Consecutive runs with a final failure.
    #[serde(skip_serializing_if = "is_zero")]
    pub fail_streak: u32,
    /// Log-probability that a flaky test at its estimated rate fails every try of the streak.
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub streak_log_chance: f64,
    /// Evidence and failure weight the streak adds if it turns out short (flaky).
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub pending_llr: f64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub pending_failures: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_runs: Vec<i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub streak_commit: String,
    /// Signature of the streak's first failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streak_signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streak_started_at: Option<NaiveDateTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fail_at: Option<NaiveDateTime>,
    /// Consecutive passing runs.
    #[serde(skip_serializing_if = "is_zero")]
    pub pass_streak: u32,
    /// `runs_seen` when last used: the least recently used branch is forgotten first.
    pub last_used: u32,
}

impl BranchTrack {
    pub fn push_pending_run(&mut self, run_id: i64) {
        if self.pending_runs.len() == MAX_PENDING_RUNS {
            self.pending_runs.remove(0);
        }
        self.pending_runs.push(run_id);
    }

    pub fn reset_streak(&mut self) {
        self.fail_streak = 0;
        self.streak_log_chance = 0.0;
        self.clear_pending();
        self.streak_started_at = None;
    }

    pub fn clear_pending(&mut self) {
        self.pending_llr = 0.0;
        self.pending_failures = 0.0;
        self.pending_runs.clear();
    }
}

/// Regression signatures kept per test.
const MAX_REGRESSION_SIGNATURES: usize = 2;
/// Longest signature kept (hashes are 16 characters; foreign ones are cut).
const MAX_SIGNATURE_CHARS: usize = 32;

// Idle branches and commits are mostly zeros: leaving those out keeps the stored JSON small.
fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

fn is_false(v: &bool) -> bool {
    !*v
}

pub fn short_commit(commit: &str) -> String {
    truncate_chars(commit, COMMIT_CHARS)
}

fn truncate_chars(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl TestState {
    pub fn remember_flaky_signature(&mut self, signature: Option<&str>) {
        if let Some(sig) = signature {
            self.flaky_signature = Some(truncate_chars(sig, MAX_SIGNATURE_CHARS));
        }
    }

    pub fn remember_regression(&mut self, signature: Option<&str>) {
        let Some(sig) = signature.map(|s| truncate_chars(s, MAX_SIGNATURE_CHARS)) else {
            return;
        };
        if self.flaky_signature.as_ref() == Some(&sig) {
            return;
        }
        self.regression_signatures.retain(|s| *s != sig);
        if self.regression_signatures.len() == MAX_REGRESSION_SIGNATURES {
            self.regression_signatures.remove(0);
        }
        self.regression_signatures.push(sig);
    }

    pub fn is_known_regression(&self, signature: Option<&str>) -> bool {
        signature.is_some_and(|sig| {
            let sig = truncate_chars(sig, MAX_SIGNATURE_CHARS);
            self.regression_signatures.contains(&sig)
        })
    }

    /// The commit entry for `commit`, added (and the oldest dropped) if new.
    pub fn commit_track(&mut self, commit: &str, cap: usize) -> &mut CommitTrack {
        let key = short_commit(commit);
        if let Some(i) = self.commits.iter().position(|c| c.commit == key) {
            return &mut self.commits[i];
        }
        while self.commits.len() >= cap.max(1) {
            self.commits.remove(0);
        }
        self.commits.push(CommitTrack {
            commit: key,
            ..Default::default()
        });
        self.commits.last_mut().expect("just pushed")
    }

    /// Index of the branch entry for this run's branch, added if new, and the entries
    /// forgotten to make room (least recently used first). The default branch is found by
    /// its flag (it may be renamed) and never forgotten.
    pub fn branch_index(
        &mut self,
        branch: &str,
        is_default: bool,
        cap: usize,
    ) -> (usize, Vec<BranchTrack>) {
        let name = truncate_chars(branch, MAX_BRANCH_CHARS);
        let found = self.branches.iter().position(|b| {
            if is_default {
                b.is_default
            } else {
                !b.is_default && b.branch == name
            }
        });
        let now = self.runs_seen;
        let mut forgotten = Vec::new();
        let i = match found {
            Some(i) => i,
            None => {
                while self.branches.len() >= cap.max(2) {
                    let oldest = self
                        .branches
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| !b.is_default)
                        .min_by_key(|(_, b)| b.last_used)
                        .map(|(i, _)| i)
                        .unwrap_or(0);
                    forgotten.push(self.branches.remove(oldest));
                }
                self.branches.push(BranchTrack {
                    is_default,
                    ..Default::default()
                });
                self.branches.len() - 1
            }
        };
        let b = &mut self.branches[i];
        b.branch = name;
        b.last_used = now;
        (i, forgotten)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_ring_is_bounded_and_finds_by_prefix() {
        let mut s = TestState::default();
        for i in 0..20 {
            s.commit_track(&format!("{i:x}{:039x}", 0), 8).passed += 1;
        }
        assert_eq!(s.commits.len(), 8);
        s.commit_track(&format!("{:x}{:039x}", 19, 0), 8).passed += 1;
        assert_eq!(s.commits.len(), 8);
        assert_eq!(s.commits.last().unwrap().passed, 2);
    }

    #[test]
    fn branch_ring_keeps_default_and_recent() {
        let mut s = TestState::default();
        let (main, _) = s.branch_index("main", true, 3);
        s.branches[main].fail_streak = 7;
        let mut forgotten = Vec::new();
        for i in 0..10 {
            s.runs_seen += 1;
            forgotten.extend(s.branch_index(&format!("pr-{i}"), false, 3).1);
        }
        assert_eq!(s.branches.len(), 3);
        let names: Vec<_> = forgotten.iter().map(|b| b.branch.as_str()).collect();
        assert_eq!(
            names,
            ["pr-0", "pr-1", "pr-2", "pr-3", "pr-4", "pr-5", "pr-6", "pr-7"]
        );
        let (main, _) = s.branch_index("main", true, 3);
        assert_eq!(s.branches[main].fail_streak, 7);
        assert!(s.branches.iter().any(|b| b.branch == "pr-9"));
        assert!(!s.branches.iter().any(|b| b.branch == "pr-0"));
    }
}
