//! The per-test state the scorer carries between runs. Stored as JSON per test, so every
//! collection in it is bounded (see `Params::*_memory`) and every string is truncated.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::evidence::Evidence;
use super::model::Status;

/// Longest branch and job names kept (evidence messages only need to be recognisable).
const MAX_BRANCH_CHARS: usize = 64;
const MAX_JOB_CHARS: usize = 64;
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
    /// Names of the jobs the tracks below refer to by index, in the order first seen: a
    /// test run by one job stores its name once (its tracks' index 0 is left out). Empty
    /// while no run named a job, and in states stored before jobs were told apart: their
    /// tracks (index 0) become the first named job's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<String>,
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

/// Outcomes seen at one recent commit in one job (final outcomes, run-level failures
/// excluded). Per job: a test run by a build matrix (one job per platform) may fail on one
/// platform and pass on another at every commit, which is a breakage, not flakiness.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CommitTrack {
    pub commit: String,
    /// The CI job, as an index into `TestState::jobs`.
    #[serde(rename = "j", skip_serializing_if = "is_zero_u8")]
    pub job: u8,
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

/// The current failure streak on one recent branch, in one job (see `CommitTrack`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BranchTrack {
    pub branch: String,
    /// The CI job, as an index into `TestState::jobs`.
    #[serde(rename = "j", skip_serializing_if = "is_zero_u8")]
    pub job: u8,
    #[serde(skip_serializing_if = "is_false")]
    pub is_default: bool,
    /// This track's regression made the test `Broken` (default branch only): its passes
    /// clear it, another job's do not.
    #[serde(skip_serializing_if = "is_false")]
    pub broken: bool,
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

fn is_zero_u8(v: &u8) -> bool {
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
    prefix(s, n).to_owned()
}

/// The first `n` characters of `s`, borrowed: lookups compare keys without allocating
/// (they run once per test per run).
fn prefix(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s; // no more characters than bytes
    }
    s.char_indices().nth(n).map_or(s, |(end, _)| &s[..end])
}

/// Sets `field` to `value` unless it already is (no allocation in the usual case).
fn set_text(field: &mut String, value: &str) {
    if field != value {
        value.clone_into(field);
    }
}

/// Job names kept per state before the unused ones are dropped: at most
/// `commit_memory + job_memory * branch_memory` tracks refer to one, far fewer.
const MAX_JOB_NAMES: usize = 64;

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

    /// The name of job `index` ("" for none, and while no run named a job).
    pub fn job_name(&self, index: u8) -> &str {
        self.jobs.get(usize::from(index)).map_or("", String::as_str)
    }

    /// Whether job `index` is `job` (as far as names are kept).
    pub fn is_job(&self, index: u8, job: &str) -> bool {
        self.job_name(index) == prefix(job, MAX_JOB_CHARS)
    }

    /// The index of `job` in `jobs`, added if new (dropping names no track uses when the
    /// table is full).
    pub fn job_index(&mut self, job: &str) -> u8 {
        let job = prefix(job, MAX_JOB_CHARS);
        if let Some(i) = self.jobs.iter().position(|j| j == job) {
            return i as u8;
        }
        if job.is_empty() && self.jobs.is_empty() {
            return 0; // no job named yet: nothing to store
        }
        if self.jobs.len() >= MAX_JOB_NAMES {
            self.drop_unused_job_names();
        }
        self.jobs.push(job.to_owned());
        (self.jobs.len() - 1) as u8
    }

    fn drop_unused_job_names(&mut self) {
        let mut used = [false; MAX_JOB_NAMES];
        let indices = self.commits.iter().map(|c| c.job);
        for i in indices.chain(self.branches.iter().map(|b| b.job)) {
            if let Some(slot) = used.get_mut(usize::from(i)) {
                *slot = true;
            }
        }
        let mut renumbered = [0u8; MAX_JOB_NAMES];
        let mut kept = Vec::new();
        for (i, name) in std::mem::take(&mut self.jobs).into_iter().enumerate() {
            if used.get(i).copied().unwrap_or(false) {
                renumbered[i] = kept.len() as u8;
                kept.push(name);
            }
        }
        self.jobs = kept;
        let renumber = |j: &mut u8| *j = renumbered.get(usize::from(*j)).copied().unwrap_or(0);
        self.commits.iter_mut().for_each(|c| renumber(&mut c.job));
        self.branches.iter_mut().for_each(|b| renumber(&mut b.job));
    }

    /// The entry for `commit` in job `job` (an index of `job_index`), added (and the
    /// oldest dropped) if new.
    pub fn commit_track(&mut self, commit: &str, job: u8, cap: usize) -> &mut CommitTrack {
        let key = prefix(commit, COMMIT_CHARS);
        let found = self
            .commits
            .iter()
            .position(|c| c.job == job && c.commit == key);
        if let Some(i) = found {
            return &mut self.commits[i];
        }
        while self.commits.len() >= cap.max(1) {
            self.commits.remove(0);
        }
        self.commits.push(CommitTrack {
            commit: key.to_owned(),
            job,
            ..Default::default()
        });
        self.commits.last_mut().expect("just pushed")
    }

    /// Index of the entry for this run's branch and job, added if new, and the entries
    /// forgotten to make room (least recently used first). The default branch is found by
    /// its flag (it may be renamed); its jobs are kept up to `memory.jobs`, and other
    /// branches' entries up to `memory.branches - 1` per job the default branch runs the
    /// test in. `job` is an index of `job_index`.
    pub fn branch_index(
        &mut self,
        branch: &str,
        is_default: bool,
        job: u8,
        memory: TrackMemory,
    ) -> (usize, Vec<BranchTrack>) {
        let name = prefix(branch, MAX_BRANCH_CHARS);
        let same = |b: &BranchTrack| {
            b.job == job
                && if is_default {
                    b.is_default
                } else {
                    !b.is_default && b.branch == name
                }
        };
        let found = self.branches.iter().position(same);
        let now = self.runs_seen;
        let mut forgotten = Vec::new();
        let i = match found {
            Some(i) => i,
            None => {
                forgotten = self.make_room(is_default, memory);
                self.branches.push(BranchTrack {
                    is_default,
                    ..Default::default()
                });
                self.branches.len() - 1
            }
        };
        let b = &mut self.branches[i];
        set_text(&mut b.branch, name);
        b.job = job;
        b.last_used = now;
        (i, forgotten)
    }

    /// Forgets the least recently used entries of the kind about to be added (default
    /// branch or not) until one more fits.
    fn make_room(&mut self, is_default: bool, memory: TrackMemory) -> Vec<BranchTrack> {
        let defaults = self.branches.iter().filter(|b| b.is_default).count();
        let cap = if is_default {
            memory.jobs.max(1)
        } else {
            memory.branches.saturating_sub(1).max(1) * defaults.max(1)
        };
        let mut forgotten = Vec::new();
        loop {
            let mut kind = self
                .branches
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_default == is_default);
            if kind.clone().count() < cap {
                return forgotten;
            }
            let oldest = kind
                .by_ref()
                .min_by_key(|(_, b)| b.last_used)
                .map(|(i, _)| i)
                .expect("the kind is full, so not empty");
            forgotten.push(self.branches.remove(oldest));
        }
    }

    /// Whether the track at `i` is the one whose passes clear `Broken`: the one whose
    /// regression made it so, or, in a state stored before jobs were told apart (Broken
    /// with no track marked), any default-branch track.
    pub fn clears_broken(&self, i: usize) -> bool {
        let b = &self.branches[i];
        b.broken || (b.is_default && !self.branches.iter().any(|t| t.broken))
    }
}

/// How many branch tracks a state keeps (`Params::branch_memory`, `Params::job_memory`).
#[derive(Debug, Clone, Copy)]
pub struct TrackMemory {
    pub branches: usize,
    pub jobs: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_ring_is_bounded_and_finds_by_prefix() {
        let mut s = TestState::default();
        let unit = s.job_index("unit");
        for i in 0..20 {
            s.commit_track(&format!("{i:x}{:039x}", 0), unit, 8).passed += 1;
        }
        assert_eq!(s.commits.len(), 8);
        s.commit_track(&format!("{:x}{:039x}", 19, 0), unit, 8)
            .passed += 1;
        assert_eq!(s.commits.len(), 8);
        assert_eq!(s.commits.last().unwrap().passed, 2);
    }

    const MEMORY: TrackMemory = TrackMemory {
        branches: 3,
        jobs: 2,
    };

    #[test]
    fn branch_ring_keeps_default_and_recent() {
        let mut s = TestState::default();
        let (main, _) = s.branch_index("main", true, 0, MEMORY);
        s.branches[main].fail_streak = 7;
        let mut forgotten = Vec::new();
        for i in 0..10 {
            s.runs_seen += 1;
            forgotten.extend(s.branch_index(&format!("pr-{i}"), false, 0, MEMORY).1);
        }
        assert_eq!(s.branches.len(), 3);
        let names: Vec<_> = forgotten.iter().map(|b| b.branch.as_str()).collect();
        assert_eq!(
            names,
            ["pr-0", "pr-1", "pr-2", "pr-3", "pr-4", "pr-5", "pr-6", "pr-7"]
        );
        let (main, _) = s.branch_index("main", true, 0, MEMORY);
        assert_eq!(s.branches[main].fail_streak, 7);
        assert!(s.branches.iter().any(|b| b.branch == "pr-9"));
        assert!(!s.branches.iter().any(|b| b.branch == "pr-0"));
    }

    #[test]
    fn each_job_has_its_tracks_and_other_branches_get_room_per_job() {
        let mut s = TestState::default();
        let (linux, windows) = (s.job_index("linux"), s.job_index("windows"));
        let (on_linux, _) = s.branch_index("main", true, linux, MEMORY);
        s.runs_seen += 1;
        let (on_windows, _) = s.branch_index("main", true, windows, MEMORY);
        assert_ne!(on_linux, on_windows);
        s.commit_track("abc", linux, 8).passed += 1;
        s.commit_track("abc", windows, 8).failed += 1;
        assert_eq!(s.commits.len(), 2, "one commit, two jobs: {:?}", s.commits);
        // Two jobs on the default branch: room for two other-branch tracks per job.
        for job in [linux, windows] {
            s.runs_seen += 1;
            assert!(s.branch_index("pr-1", false, job, MEMORY).1.is_empty());
            s.runs_seen += 1;
            assert!(s.branch_index("pr-2", false, job, MEMORY).1.is_empty());
        }
        assert_eq!(s.branches.len(), 6);
        // A third job on the default branch forgets the least recently used one.
        s.runs_seen += 1;
        let macos = s.job_index("macos");
        let (_, forgotten) = s.branch_index("main", true, macos, MEMORY);
        assert_eq!(forgotten.len(), 1);
        assert_eq!(
            (forgotten[0].is_default, s.job_name(forgotten[0].job)),
            (true, "linux")
        );
    }

    #[test]
    fn a_state_names_a_single_job_once_and_old_states_take_the_first_job() {
        let mut s = TestState::default();
        let (main, _) = s.branch_index("main", true, 0, MEMORY);
        s.branches[main].fail_streak = 3;
        s.commit_track("abc", 0, 8).failed += 1;
        // An old state: no job names. Its tracks become the first job's.
        let json = serde_json::to_string(&s).unwrap();
        assert!(
            !json.contains("\"jobs\"") && !json.contains("\"j\""),
            "{json}"
        );
        let unit = s.job_index("unit");
        assert_eq!(unit, 0);
        let (again, _) = s.branch_index("main", true, unit, MEMORY);
        assert_eq!((again, s.branches[again].fail_streak), (main, 3));
        assert_eq!(s.commit_track("abc", unit, 8).failed, 1);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json.matches("unit").count(), 1, "{json}");
        assert!(!json.contains("\"j\""), "index 0 is left out: {json}");
    }

    #[test]
    fn the_job_table_keeps_only_names_in_use_when_full() {
        let mut s = TestState::default();
        for i in 0..MAX_JOB_NAMES {
            let job = s.job_index(&format!("job-{i}"));
            if i % 2 == 1 {
                s.commit_track("abc", job, 64).passed += 1;
            }
        }
        let next = s.job_index("one-more");
        assert_eq!(s.jobs.len(), MAX_JOB_NAMES / 2 + 1);
        assert_eq!(s.job_name(next), "one-more");
        for c in &s.commits {
            let n: usize = s
                .job_name(c.job)
                .trim_start_matches("job-")
                .parse()
                .unwrap();
            assert_eq!(n % 2, 1, "{:?}", s.jobs);
        }
    }
}
