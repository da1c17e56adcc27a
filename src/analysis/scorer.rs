//! The flakiness scorer: one pure step per (test, run), state in, state out.
//!
//! How evidence combines (all amounts are log-likelihood ratios "flaky vs deterministic"):
//! - strong evidence, on any branch: a failed try that passed on an in-run retry, or one
//!   commit that both passed and failed; each adds a large amount;
//! - failure streaks are held per branch and judged when they end: a short streak that ends
//!   with a pass is a flip (full weight on the default branch, less on other branches), a
//!   long consistent one is a regression and adds nothing (on the default branch it makes
//!   the test `Broken` until it passes again);
//! - a streak left unfinished on a branch that is not seen again counts a little (its end is
//!   unknown); on other branches, failures with the signature of a regression the default
//!   branch had (branches based on the broken code) count nothing;
//! - failures explained by a run-level failure (outage) are ignored;
//! - each clean run erodes the evidence by -ln(1 - rate), rate being this test's flaky
//!   failure rate (decayed Beta posterior) when the evidence came: a test that used to fail
//!   often is cleared quickly after a fix, a rarely failing one slowly, as the evidence
//!   warrants.
//!
//! Status uses hysteresis: enter `Flaky` at `enter_flaky`; leave it once the clean runs in
//! a row make the fix `fix_confidence` sure at the test's own failure rate (or, for tests
//! whose rate is unclear, below `leave_flaky` after `min_clean_to_leave` clean runs).
//! Skipped results never count as runs; a test skipped run after run is `Skipped`, and one
//! that is back after a long silence starts again from `Healthy`/`New`.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::evidence::{self, Evidence, EvidenceKind, Occurrence};
use super::model::{Outcome, RunContext, Status, TestResultObs};
use super::params::Params;
use super::run_level::{self, RunLevelCause};
use super::state::{BranchTrack, TestState, TrackMemory};

/// What the UI and the quarantine API show for a test after a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: Status,
    /// Confidence that the test is flaky, in [0, 1].
    pub score: f64,
    /// Estimated share of this test's runs that fail for flaky reasons (decayed Beta
    /// posterior mean; run-level failures and regressions excluded).
    pub failure_rate: f64,
    pub runs_seen: u32,
    /// First and latest flaky evidence (a failure that counted as flaky).
    pub first_flaky_at: Option<NaiveDateTime>,
    pub last_flaky_at: Option<NaiveDateTime>,
    /// When the current status began.
    pub status_changed_at: NaiveDateTime,
    /// For a test whose flakiness was taken as fixed: the first of the clean runs since.
    pub fixed_since: Option<NaiveDateTime>,
    /// One entry per kind, newest first.
    pub evidence: Vec<Evidence>,
}

/// Scores one test's result in one run. Call once per test of each stored run, in run
/// order; a skipped result is not a run, it only counts towards `Skipped`.
pub fn observe(
    mut state: TestState,
    run: &RunContext,
    result: &TestResultObs,
    params: &Params,
) -> (TestState, Verdict) {
    observe_in_place(&mut state, run, result, params);
    let verdict = verdict(&state, params);
    (state, verdict)
}

/// The verdict for a state, without observing anything.
pub fn verdict(state: &TestState, params: &Params) -> Verdict {
    Verdict {
        status: state.status,
        score: params.score(state.evidence_llr),
        failure_rate: state.rate.mean(params.prior_failures, params.prior_passes),
        runs_seen: state.runs_seen,
        first_flaky_at: state.first_flaky_at,
        last_flaky_at: state.last_flaky_at,
        status_changed_at: state.status_changed_at.unwrap_or_default(),
        fixed_since: state.fixed_since,
        evidence: state.evidence.clone(),
    }
}

/// Marks a test no longer reported `Inactive` since `since`. Only storage knows that the
/// project went on without the test (a project that pauses leaves its tests as they are),
/// so it calls this; the test's next result ends it.
pub fn go_inactive(state: &mut TestState, since: NaiveDateTime) {
    set_status(state, Status::Inactive, since);
}

/// When a test last reported at `last_seen` becomes inactive, if the project goes on.
pub fn inactive_from(last_seen: NaiveDateTime, params: &Params) -> Option<NaiveDateTime> {
    let ms = (params.inactive_after_hours * 3_600_000.0).min(i64::MAX as f64 / 2.0) as i64;
    last_seen.checked_add_signed(chrono::Duration::milliseconds(ms))
}

/// `observe` without building a verdict: for replays that only need the final state.
pub fn observe_in_place(s: &mut TestState, run: &RunContext, r: &TestResultObs, p: &Params) {
    s.status_changed_at.get_or_insert(run.at);
    if s.status == Status::Inactive {
        // Back after a long silence: what it was then says little about it now.
        let calm = calm_status(s, p);
        set_status(s, calm, run.at);
    }
    if s.last_seen_at.is_none_or(|t| t < run.at) {
        s.last_seen_at = Some(run.at);
    }
    s.skips.decay(p.rate_decay());
    if r.outcome == Outcome::Skipped {
        note_skip(s, run, p);
        return;
    }
    s.skip_streak = 0;
    s.skips.passes += 1.0;
    s.runs_seen = s.runs_seen.saturating_add(1);
    if s.status == Status::Skipped {
        let calm = calm_status(s, p);
        set_status(s, calm, run.at);
    }
    let decay = p.rate_decay();
    s.rate.decay(decay);
    s.default_flips *= decay;
    s.default_runs *= decay;

    let run_level = run_level::classify(run, r, p);
    // Other branches count less in the rate, both outcomes, so the estimate stays unbiased.
    let weight = if run.on_default_branch {
        1.0
    } else {
        p.branch_rate_weight
    };
    let job = s.job_index(&run.job);
    match run_level {
        Some(cause) => note_run_level(s, run, cause),
        None => {
            record_commit(s, run, job, r, p);
            record_in_run_retry(s, run, r, weight, p);
            if run.on_default_branch {
                s.default_runs += 1.0;
            }
        }
    }
    if !r.has_failed_attempt() {
        record_clean_run(s, run, weight);
    } else if run_level.is_none() {
        s.clean_streak = 0;
        s.clean_since = None;
    }
    let memory = TrackMemory {
        branches: p.branch_memory,
        jobs: p.job_memory,
    };
    let (b, forgotten) = s.branch_index(&run.branch, run.on_default_branch, job, memory);
    for track in forgotten {
        judge_unfinished_streak(s, track, run.at, p);
    }
    if r.outcome.is_failure() {
        record_branch_failure(s, b, run, r, run_level.is_some(), weight, p);
    } else {
        record_branch_pass(s, b, run, p);
    }
    update_flaky_status(s, run, p);
}

/// A skipped result: not a run. Skipped run after run, more than its usual skips explain,
/// the test is `Skipped` (whatever it was: a disabled broken test is no longer broken).
fn note_skip(s: &mut TestState, run: &RunContext, p: &Params) {
    if s.skip_streak == 0 {
        s.skip_rate_at_streak = s.skips.mean(p.prior_skips, p.prior_executions);
    }
    s.skip_streak = s.skip_streak.saturating_add(1);
    s.skips.failures += 1.0;
    let chance_ln = f64::from(s.skip_streak) * s.skip_rate_at_streak.clamp(1e-9, 1.0).ln();
    let unusual = chance_ln <= p.skipped_max_chance.ln();
    if s.status != Status::Skipped && s.skip_streak >= p.skipped_after_runs && unusual {
        set_status(s, Status::Skipped, run.at);
    }
    let latest = format!("run {}, {} in a row", run.run_id, s.skip_streak);
    record(s, EvidenceKind::Skipped, run.run_id, run.at, latest);
}

fn record(s: &mut TestState, kind: EvidenceKind, run_id: i64, at: NaiveDateTime, latest: String) {
    evidence::record(
        &mut s.evidence,
        Occurrence {
            kind,
            run_id,
            at,
            latest,
            counts: true,
        },
    );
}

fn set_status(s: &mut TestState, status: Status, at: NaiveDateTime) {
    if s.status != status {
        s.status = status;
        s.status_changed_at = Some(at);
    }
}

/// Adds flaky evidence (capped); the failures behind it are already in the rate counts.
fn add_flaky(s: &mut TestState, llr: f64, at: NaiveDateTime, p: &Params) {
    s.evidence_llr = (s.evidence_llr + llr).min(p.max_evidence);
    s.rate_at_evidence = s.rate.mean(p.prior_failures, p.prior_passes);
    s.first_flaky_at.get_or_insert(at);
    if s.last_flaky_at.is_none_or(|t| t < at) {
        s.last_flaky_at = Some(at);
    }
}

/// " in job J", or nothing for runs that named no job.
fn in_job(job: &str) -> String {
    if job.is_empty() {
        String::new()
    } else {
        format!(" in job {job}")
    }
}

fn display_commit(commit: &str) -> &str {
    match commit.char_indices().nth(7) {
        Some((i, _)) => &commit[..i],
        None => commit,
    }
}

fn note_run_level(s: &mut TestState, run: &RunContext, cause: RunLevelCause) {
    let latest = format!("run {}, {cause}", run.run_id);
    record(s, EvidenceKind::RunLevelIgnored, run.run_id, run.at, latest);
}

/// Same commit and job, both outcomes: neither the code nor the platform changed, so the
/// test is nondeterministic. (Across jobs of a build matrix, one platform may fail where
/// another passes every time: that is no evidence.)
fn record_commit(s: &mut TestState, run: &RunContext, job: u8, r: &TestResultObs, p: &Params) {
    let c = s.commit_track(&run.commit, job, p.commit_memory);
    if r.outcome.is_failure() {
        c.failed += 1;
        c.last_fail_run = run.run_id;
    } else {
        c.passed += 1;
        c.last_pass_run = run.run_id;
    }
    if c.passed == 0 || c.failed == 0 {
        return;
    }
    let latest = format!(
        "commit {}{}, {} passed, {} failed",
        display_commit(&c.commit),
        in_job(&run.job),
        c.passed,
        c.failed
    );
    // A commit already counted only brings its line's figures up to date.
    let first_time = !c.reported;
    c.reported = true;
    evidence::record(
        &mut s.evidence,
        Occurrence {
            kind: EvidenceKind::SameCommitMixed,
            run_id: run.run_id,
            at: run.at,
            latest,
            counts: first_time,
        },
    );
    if first_time {
        add_flaky(s, p.w_same_commit, run.at, p);
        if r.outcome.is_failure() {
            s.remember_flaky_signature(r.signature.as_deref());
        }
    }
}

/// A try failed and another try in the same run passed.
fn record_in_run_retry(
    s: &mut TestState,
    run: &RunContext,
    r: &TestResultObs,
    weight: f64,
    p: &Params,
) {
    let mixed =
        r.failed_attempts > 0 && (!r.outcome.is_failure() || r.failed_attempts < r.attempts);
    if !mixed {
        return;
    }
    let latest = if r.outcome.is_failure() {
        format!(
            "run {}, passed a try but failed in the end ({} of {} tries failed)",
            run.run_id, r.failed_attempts, r.attempts
        )
    } else {
        format!(
            "run {}, {} of {} tries failed",
            run.run_id, r.failed_attempts, r.attempts
        )
    };
    // A final failure is counted in the rate with its branch streak, a final pass here.
    if !r.outcome.is_failure() {
        s.rate.failures += weight;
    }
    add_flaky(s, p.w_retry_passed, run.at, p);
    s.remember_flaky_signature(r.signature.as_deref());
    record(s, EvidenceKind::RetryPassed, run.run_id, run.at, latest);
}

/// A run without any failed try: the evidence erodes by the log-likelihood of a clean run
/// for a test still failing at the rate it had when the evidence came (a CUSUM-style change
/// test: "still as flaky as before" against "fixed").
fn record_clean_run(s: &mut TestState, run: &RunContext, weight: f64) {
    s.evidence_llr = (s.evidence_llr + (1.0 - s.rate_at_evidence).ln()).max(0.0);
    s.rate.passes += weight;
    s.clean_streak = s.clean_streak.saturating_add(1);
    s.clean_since.get_or_insert((run.run_id, run.at));
}

fn is_regression(b: &BranchTrack, p: &Params) -> bool {
    b.fail_streak >= p.regression_min_streak && b.streak_log_chance <= p.regression_max_chance.ln()
}

fn record_branch_failure(
    s: &mut TestState,
    bi: usize,
    run: &RunContext,
    r: &TestResultObs,
    run_level: bool,
    weight: f64,
    p: &Params,
) {
    let rate = s.rate.mean(p.prior_failures, p.prior_passes).max(1e-9);
    // Failures explained by the run, or by a known regression (the test is Broken, or the
    // failure has a recent regression's signature: a branch based on the broken code), are
    // not flaky evidence. On the default branch, Broken explains only the failures of the
    // job whose regression made it so (another platform of a matrix may still be flaky).
    let broken_here = if run.on_default_branch {
        s.status == Status::Broken && s.clears_broken(bi)
    } else {
        s.status == Status::Broken
    };
    let explained = run_level
        || broken_here
        || (!run.on_default_branch && s.is_known_regression(r.signature.as_deref()));
    let b = &mut s.branches[bi];
    b.pass_streak = 0;
    if b.fail_streak == 0 {
        b.streak_started_at = Some(run.at);
        b.streak_commit = super::state::short_commit(&run.commit);
        b.streak_signature = r.signature.clone();
    }
    b.fail_streak += 1;
    b.last_fail_at = Some(run.at);
    b.streak_log_chance += f64::from(r.attempts.max(1)) * rate.ln();
    if !explained {
        let all_tries_failed = r.attempts > 1 && r.failed_attempts >= r.attempts;
        let factor = if all_tries_failed {
            p.retried_failure_factor
        } else {
            1.0
        };
        let llr = if b.is_default {
            2.0 * p.w_flip_default
        } else {
            p.w_branch_failure
        };
        b.pending_llr += llr * factor;
        // Counted in the rate now, taken out again if the streak proves a regression.
        b.pending_failures += weight;
        s.rate.failures += weight;
        b.push_pending_run(run.run_id);
    }
    if b.is_default && !broken_here && is_regression(b, p) {
        let latest = format!(
            "failing on {}{} since commit {} ({} runs{})",
            b.branch,
            in_job(&run.job),
            display_commit(&b.streak_commit),
            b.fail_streak,
            if r.attempts > 1 {
                ", retries failing too"
            } else {
                ""
            }
        );
        s.rate.failures = (s.rate.failures - b.pending_failures).max(0.0);
        b.clear_pending();
        b.broken = true;
        let signature = b.streak_signature.clone();
        if s.status != Status::Broken {
            s.flaky_before_broken = s.status == Status::Flaky;
        }
        s.remember_regression(signature.as_deref());
        set_status(s, Status::Broken, run.at);
        record(s, EvidenceKind::Regression, run.run_id, run.at, latest);
    }
}

fn record_branch_pass(s: &mut TestState, bi: usize, run: &RunContext, p: &Params) {
    let b = &mut s.branches[bi];
    b.pass_streak = b.pass_streak.saturating_add(1);
    if b.fail_streak > 0 {
        judge_ended_streak(s, bi, run, p);
    }
    let b = &s.branches[bi];
    let clears = b.is_default && s.status == Status::Broken && s.clears_broken(bi);
    if clears && b.pass_streak >= p.broken_clear_passes {
        let latest = format!(
            "on {}{} since run {} ({} runs in a row)",
            b.branch,
            in_job(&run.job),
            run.run_id,
            b.pass_streak
        );
        s.branches[bi].broken = false;
        if s.branches.iter().any(|t| t.broken) {
            // Still failing in another job.
            record(s, EvidenceKind::Fixed, run.run_id, run.at, latest);
            return;
        }
        let was_flaky = s.flaky_before_broken;
        let score = p.score(s.evidence_llr);
        let next = if score >= p.enter_flaky || (was_flaky && score >= p.leave_flaky) {
            Status::Flaky
        } else {
            calm_status(s, p)
        };
        set_status(s, next, run.at);
        record(s, EvidenceKind::Fixed, run.run_id, run.at, latest);
    }
}

/// A failure streak on a branch just ended with a pass: short ones were flaky, long
/// consistent ones were a regression and fixed.
fn judge_ended_streak(s: &mut TestState, bi: usize, run: &RunContext, p: &Params) {
    let b = &s.branches[bi];
    let streak = b.fail_streak;
    // A commit that failed again and never passed failed consistently, even when a newer
    // commit's pass arrived in between (runs finish out of order).
    let consistent_commit = s
        .commits
        .iter()
        .any(|c| c.commit == b.streak_commit && c.job == b.job && c.failed >= 2 && c.passed == 0);
    let regression = is_regression(b, p)
        || consistent_commit
        || (b.is_default && s.status == Status::Broken && s.clears_broken(bi))
        || (!b.is_default && s.is_known_regression(b.streak_signature.as_deref()));
    let (llr, failures, runs) = (b.pending_llr, b.pending_failures, b.pending_runs.clone());
    let (is_default, branch, commit) = (b.is_default, b.branch.clone(), b.streak_commit.clone());
    let failed_at = b.last_fail_at.unwrap_or(run.at);
    s.branches[bi].reset_streak();
    if regression {
        s.rate.failures = (s.rate.failures - failures).max(0.0);
        if !is_default {
            let latest = format!(
                "branch {branch} from commit {} ({streak} runs), passing again in run {}",
                display_commit(&commit),
                run.run_id
            );
            record(
                s,
                EvidenceKind::RegressionOnBranch,
                run.run_id,
                run.at,
                latest,
            );
        }
        return;
    }
    if runs.is_empty() {
        return; // only run-level failures in the streak
    }
    add_flaky(s, llr, failed_at, p);
    let first = runs[0];
    let runs_text = if streak == 1 {
        format!("run {first} failed")
    } else {
        format!("{streak} runs from run {first} failed")
    };
    if is_default {
        s.default_flips += 2.0;
        let flip_rate = 100.0 * s.default_flips / s.default_runs.max(1.0);
        let latest = format!(
            "{runs_text} on {branch} (commit {}), run {} passed; flip rate {flip_rate:.1}%",
            display_commit(&commit),
            run.run_id
        );
        record(
            s,
            EvidenceKind::FlipOnDefaultBranch,
            first,
            failed_at,
            latest,
        );
    } else {
        let latest = format!(
            "{runs_text} on branch {branch} (commit {}), run {} passed",
            display_commit(&commit),
            run.run_id
        );
        record(s, EvidenceKind::FailureOnBranch, first, failed_at, latest);
    }
}

/// A branch not seen for a while is forgotten with its failure streak unfinished (the PR
/// was merged, abandoned or re-run elsewhere). A single failure there is weak flaky
/// evidence; a longer consistent streak was more likely the branch's own regression.
fn judge_unfinished_streak(s: &mut TestState, b: BranchTrack, at: NaiveDateTime, p: &Params) {
    if b.fail_streak == 0 || b.pending_runs.is_empty() {
        return;
    }
    if is_regression(&b, p) || s.is_known_regression(b.streak_signature.as_deref()) {
        s.rate.failures = (s.rate.failures - b.pending_failures).max(0.0);
        return;
    }
    let failed_at = b.last_fail_at.unwrap_or(at);
    add_flaky(s, b.pending_llr * p.unfinished_branch_factor, failed_at, p);
    let first = b.pending_runs[0];
    let latest = format!(
        "run {first} failed on branch {} (commit {}), and the branch was not seen again",
        b.branch,
        display_commit(&b.streak_commit)
    );
    record(s, EvidenceKind::FailureOnBranch, first, failed_at, latest);
}

fn calm_status(s: &TestState, p: &Params) -> Status {
    if s.runs_seen >= p.min_runs {
        Status::Healthy
    } else {
        Status::New
    }
}

fn update_flaky_status(s: &mut TestState, run: &RunContext, p: &Params) {
    let score = p.score(s.evidence_llr);
    let next = match s.status {
        Status::Broken | Status::Skipped | Status::Inactive => return,
        Status::Flaky => {
            let rate = s.rate_at_evidence;
            let convincing = s.clean_streak >= p.clean_runs_to_clear(rate);
            if convincing || (score < p.leave_flaky && s.clean_streak >= p.min_clean_to_leave) {
                clear_flaky(s, run, rate, p);
                calm_status(s, p)
            } else {
                Status::Flaky
            }
        }
        Status::New | Status::Healthy => {
            if score >= p.enter_flaky {
                s.fixed_since = None;
                Status::Flaky
            } else {
                calm_status(s, p)
            }
        }
    };
    set_status(s, next, run.at);
}

/// The clean runs since the last flaky failure are enough: the fix is taken as real. The
/// evidence is brought down below the leaving level, so it takes new flaky evidence (not
/// the old) to call the test flaky again.
fn clear_flaky(s: &mut TestState, run: &RunContext, rate: f64, p: &Params) {
    let (first_clean, since) = s.clean_since.unwrap_or((run.run_id, run.at));
    s.fixed_since = Some(since);
    s.evidence_llr = s.evidence_llr.min(p.score_midpoint);
    let latest = format!(
        "no failed try in {} runs since run {first_clean}: failing {:.1}% of the time, a \
         still flaky test would have failed by now ({:.0}% sure)",
        s.clean_streak,
        100.0 * rate,
        100.0 * p.fix_confidence
    );
    record(s, EvidenceKind::FlakyCleared, run.run_id, run.at, latest);
}

#[cfg(test)]
mod tests;
