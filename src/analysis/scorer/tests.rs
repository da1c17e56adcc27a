use chrono::{Duration, NaiveDate, NaiveDateTime};

use super::*;
use crate::analysis::model::Outcome;

/// Feeds one test's results through the scorer, one run at a time.
struct Feed {
    state: TestState,
    p: Params,
    run_id: i64,
    at: NaiveDateTime,
    last: Option<Verdict>,
    status_changes: u32,
}

fn pass() -> TestResultObs {
    TestResultObs {
        outcome: Outcome::Passed,
        attempts: 1,
        failed_attempts: 0,
        signature: None,
    }
}

fn fail() -> TestResultObs {
    TestResultObs {
        outcome: Outcome::Failed,
        attempts: 1,
        failed_attempts: 1,
        signature: Some("own-assertion".into()),
    }
}

/// Failed every one of `tries` tries.
fn fail_all(tries: u32) -> TestResultObs {
    TestResultObs {
        attempts: tries,
        failed_attempts: tries,
        ..fail()
    }
}

fn retry_pass() -> TestResultObs {
    TestResultObs {
        outcome: Outcome::Passed,
        attempts: 2,
        failed_attempts: 1,
        signature: Some("own-timeout".into()),
    }
}

impl Feed {
    fn new() -> Self {
        Feed {
            state: TestState::default(),
            p: Params::default(),
            run_id: 0,
            at: NaiveDate::from_ymd_opt(2025, 3, 1)
                .unwrap()
                .and_hms_opt(8, 0, 0)
                .unwrap(),
            last: None,
            status_changes: 0,
        }
    }

    fn ctx(&mut self, branch: &str, commit: Option<&str>, attempt: i32) -> RunContext {
        self.run_id += 1;
        self.at += Duration::minutes(10);
        RunContext {
            run_id: self.run_id,
            at: self.at,
            branch: branch.into(),
            on_default_branch: branch == "main",
            commit: commit.map_or_else(
                || format!("{:010x}{:030x}", self.run_id * 7919, 0),
                str::to_string,
            ),
            job: "unit".into(),
            attempt,
            pipeline: format!("p{}", self.run_id),
            tests_in_run: 500,
            failed_in_run: 0,
            top_signature_failures: 0,
            top_signature: None,
        }
    }

    fn feed(&mut self, mut ctx: RunContext, r: TestResultObs) -> &Verdict {
        if r.outcome.is_failure() && ctx.failed_in_run == 0 {
            ctx.failed_in_run = 1;
        }
        if r.has_failed_attempt() && ctx.top_signature_failures == 0 {
            ctx.top_signature_failures = 1;
            ctx.top_signature = r.signature.clone();
        }
        let before = self.state.status;
        let (state, v) = observe(std::mem::take(&mut self.state), &ctx, &r, &self.p);
        self.state = state;
        if v.status != before {
            self.status_changes += 1;
        }
        self.last = Some(v);
        self.last.as_ref().unwrap()
    }

    /// A run on `branch` at a fresh commit.
    fn on(&mut self, branch: &str, r: TestResultObs) -> &Verdict {
        let ctx = self.ctx(branch, None, 1);
        self.feed(ctx, r)
    }

    fn main(&mut self, r: TestResultObs) -> &Verdict {
        self.on("main", r)
    }

    fn passes(&mut self, n: usize) -> &Verdict {
        for _ in 1..n {
            self.main(pass());
        }
        self.main(pass())
    }

    fn status(&self) -> Status {
        self.state.status
    }

    fn has_evidence(&self, kind: EvidenceKind) -> bool {
        self.state.evidence.iter().any(|e| e.kind == kind)
    }
}

#[test]
fn new_while_history_is_short() {
    let mut f = Feed::new();
    for _ in 0..4 {
        assert_eq!(f.main(pass()).status, Status::New);
    }
    assert_eq!(f.main(pass()).status, Status::Healthy);

    // One plain failure early on is not enough to call a new test anything.
    let mut g = Feed::new();
    g.main(pass());
    g.main(fail());
    assert_eq!(g.main(pass()).status, Status::New);
}

fn skip() -> TestResultObs {
    TestResultObs {
        outcome: Outcome::Skipped,
        ..pass()
    }
}

#[test]
fn a_skipped_result_is_not_a_run() {
    let mut f = Feed::new();
    f.passes(10);
    let before = f.state.clone();
    f.main(skip());
    assert_eq!(f.state.runs_seen, before.runs_seen);
    assert_eq!(f.state.evidence_llr, before.evidence_llr);
    assert_eq!(f.status(), Status::Healthy);
    assert_eq!(f.state.skip_streak, 1);
}

#[test]
fn a_disabled_broken_test_is_skipped_not_broken() {
    let mut f = Feed::new();
    f.passes(20);
    for _ in 0..3 {
        f.main(fail_all(1));
    }
    assert_eq!(f.status(), Status::Broken);
    // Disabled (`@Disabled`, `pytest.skip`): reported skipped from now on, for days.
    for _ in 0..3 {
        f.at += Duration::hours(12);
        f.main(skip());
    }
    assert_eq!(f.status(), Status::Skipped);
    let v = f.last.clone().unwrap();
    assert_eq!(v.status_changed_at, f.at, "since: when it became skipped");
    let e = f
        .state
        .evidence
        .iter()
        .find(|e| e.kind == EvidenceKind::Skipped)
        .unwrap();
    assert!(
        e.message.starts_with("reported skipped in 3 runs"),
        "{}",
        e.message
    );
    // Enabled again and passing: healthy, not broken.
    f.main(pass());
    assert_eq!(f.status(), Status::Healthy);
    f.main(pass());
    assert_eq!(f.status(), Status::Healthy);
}

#[test]
fn a_test_skipped_from_the_start_is_skipped_not_new() {
    let mut f = Feed::new();
    f.main(skip());
    f.main(skip());
    assert_eq!(f.status(), Status::New);
    f.main(skip());
    assert_eq!(f.status(), Status::Skipped);
}

#[test]
fn a_test_one_job_skips_and_another_runs_keeps_its_status() {
    let mut f = Feed::new();
    f.passes(20);
    for i in 0..200 {
        f.main(if i % 4 == 0 { pass() } else { skip() });
    }
    assert_eq!(f.status(), Status::Healthy);
}

#[test]
fn a_test_gone_silent_is_inactive_then_starts_afresh() {
    let mut f = Feed::new();
    f.passes(20);
    for _ in 0..3 {
        f.main(fail_all(1));
    }
    assert_eq!(f.status(), Status::Broken);
    let inactive_at = inactive_from(f.at, &f.p).unwrap();
    assert_eq!(
        inactive_at,
        f.at + Duration::hours(f.p.inactive_after_hours as i64)
    );
    // A project that pauses for a month leaves its tests as they were.
    f.at += Duration::days(30);
    f.main(fail_all(1));
    assert_eq!(f.status(), Status::Broken);
    // Storage saw the project go on without the test: inactive, since the silence began.
    go_inactive(&mut f.state, inactive_at);
    assert_eq!(verdict(&f.state, &f.p).status_changed_at, inactive_at);
    // It is reported again: what it was then says nothing now.
    f.at += Duration::days(30);
    f.main(pass());
    assert_eq!(f.status(), Status::Healthy);
    assert_eq!(f.last.as_ref().unwrap().status_changed_at, f.at);
}

#[test]
fn in_run_retry_that_passed_makes_flaky() {
    let mut f = Feed::new();
    assert_eq!(f.passes(20).status, Status::Healthy);
    let v = f.main(retry_pass()).clone();
    assert_eq!(v.status, Status::Flaky);
    assert!(v.score >= f.p.enter_flaky);
    let e = &v.evidence[0];
    assert_eq!(e.kind, EvidenceKind::RetryPassed);
    assert_eq!((e.first_run_id, e.last_run_id, e.count), (21, 21, 1));
    assert_eq!(
        e.message,
        "failed, then passed on an in-run retry, in 1 run: run 21, 1 of 2 tries failed"
    );
    assert_eq!(v.first_flaky_at, Some(e.at));
}

#[test]
fn evidence_is_one_line_per_kind_with_counts() {
    let mut f = Feed::new();
    f.passes(20);
    for _ in 0..8 {
        f.main(retry_pass());
        f.passes(3);
    }
    let retries: Vec<_> = f
        .state
        .evidence
        .iter()
        .filter(|e| e.kind == EvidenceKind::RetryPassed)
        .collect();
    assert_eq!(retries.len(), 1);
    assert_eq!(
        (
            retries[0].count,
            retries[0].first_run_id,
            retries[0].last_run_id
        ),
        (8, 21, 49)
    );
    assert!(
        retries[0].message.contains("in 8 runs"),
        "{}",
        retries[0].message
    );
}

#[test]
fn retry_pass_on_a_pr_branch_counts_too() {
    let mut f = Feed::new();
    f.passes(20);
    assert_eq!(f.on("feature/x", retry_pass()).status, Status::Flaky);
}

#[test]
fn same_commit_passing_and_failing_makes_flaky() {
    let mut f = Feed::new();
    f.passes(20);
    let c = f.ctx("main", Some("3f2a1c9d0e"), 1);
    assert_eq!(f.feed(c, fail()).status, Status::Healthy);
    // The job is re-run on the same commit and passes.
    let c = f.ctx("main", Some("3f2a1c9d0e"), 2);
    let v = f.feed(c, pass()).clone();
    assert_eq!(v.status, Status::Flaky);
    let e = v
        .evidence
        .iter()
        .find(|e| e.kind == EvidenceKind::SameCommitMixed)
        .expect("same-commit evidence");
    assert_eq!(
        e.message,
        "1 commit both passed and failed: commit 3f2a1c9 in job unit, 1 passed, 1 failed"
    );
    assert_eq!((e.first_run_id, e.last_run_id), (22, 22));
    // A third run at that commit updates the entry instead of adding one.
    let c = f.ctx("feature", Some("3f2a1c9d0e"), 1);
    let v = f.feed(c, pass()).clone();
    let mixed: Vec<_> = v
        .evidence
        .iter()
        .filter(|e| e.kind == EvidenceKind::SameCommitMixed)
        .collect();
    assert_eq!(mixed.len(), 1);
    assert_eq!(
        mixed[0].message,
        "1 commit both passed and failed: commit 3f2a1c9 in job unit, 2 passed, 1 failed"
    );
}

fn outage_ctx(f: &mut Feed, commit: &str, attempt: i32) -> RunContext {
    let mut c = f.ctx("main", Some(commit), attempt);
    c.failed_in_run = 450;
    c.top_signature_failures = 450;
    c.top_signature = Some("connection-refused".into());
    c
}

#[test]
fn outage_runs_do_not_make_tests_flaky() {
    let mut f = Feed::new();
    f.passes(20);
    for i in 0..6 {
        // Most of the run failed with one signature; the job retry on that commit passes.
        let commit = format!("outage{i}");
        let c = outage_ctx(&mut f, &commit, 1);
        let mut r = fail_all(2);
        r.signature = Some("connection-refused".into());
        f.feed(c, r);
        let c = f.ctx("main", Some(&commit), 2);
        f.feed(c, pass());
        f.passes(15);
    }
    assert_eq!(f.status(), Status::Healthy);
    assert_eq!(f.last.as_ref().unwrap().score, 0.0);
    assert!(f.has_evidence(EvidenceKind::RunLevelIgnored));
    assert!(!f.has_evidence(EvidenceKind::SameCommitMixed));
    assert_eq!(f.status_changes, 1, "only New -> Healthy");
}

#[test]
fn shared_signature_outage_is_ignored_but_own_failure_in_it_counts() {
    let mut f = Feed::new();
    f.passes(20);
    // 40 of 500 tests failed with one signature: a partial outage.
    let mut c = f.ctx("main", Some("abc"), 1);
    c.failed_in_run = 40;
    c.top_signature_failures = 40;
    c.top_signature = Some("db-down".into());
    let mut r = retry_pass();
    r.signature = Some("db-down".into());
    assert_eq!(f.feed(c.clone(), r).status, Status::Healthy);
    // The same run shape, but this test failed with its own signature: that is evidence.
    c.run_id += 100;
    assert_eq!(f.feed(c, retry_pass()).status, Status::Flaky);
}

#[test]
fn regression_is_broken_not_flaky_and_healthy_after_the_fix() {
    let mut f = Feed::new();
    f.passes(30);
    let mut statuses = Vec::new();
    for i in 0..6 {
        let commit = format!("bad{i}");
        let c = f.ctx("main", Some(&commit), 1);
        statuses.push(f.feed(c, fail_all(3)).status);
        // A red job gets re-run on the same commit: it fails again.
        let c = f.ctx("main", Some(&commit), 2);
        statuses.push(f.feed(c, fail_all(3)).status);
    }
    assert_eq!(statuses[0], Status::Healthy);
    assert!(
        statuses[1..].iter().all(|s| *s == Status::Broken),
        "{statuses:?}"
    );
    assert!(f.has_evidence(EvidenceKind::Regression));
    let msg = &f
        .state
        .evidence
        .iter()
        .find(|e| e.kind == EvidenceKind::Regression)
        .unwrap()
        .message;
    assert!(msg.contains("since commit bad0"), "{msg}");

    // The fix lands: passes again, consistently.
    assert_eq!(f.main(pass()).status, Status::Broken);
    let v = f.main(pass()).clone();
    assert_eq!(v.status, Status::Healthy);
    assert!(v.score < f.p.leave_flaky);
    assert!(f.has_evidence(EvidenceKind::Fixed));
    f.passes(50);
    assert_eq!(f.status(), Status::Healthy);
    assert!(!f
        .state
        .evidence
        .iter()
        .any(|e| e.kind == EvidenceKind::FlipOnDefaultBranch));
}

#[test]
fn regression_without_retries_is_broken_too() {
    let mut f = Feed::new();
    f.passes(30);
    f.main(fail());
    assert_eq!(f.main(fail()).status, Status::Broken);
    f.main(fail());
    f.passes(2);
    assert_eq!(f.status(), Status::Healthy);
}

#[test]
fn regression_on_a_flaky_test_is_broken_then_flaky_again() {
    let mut f = Feed::new();
    for i in 0..200 {
        f.main(if i % 10 == 5 { retry_pass() } else { pass() });
    }
    assert_eq!(f.status(), Status::Flaky);
    let score_before = f.last.as_ref().unwrap().score;
    for _ in 0..3 {
        f.main(fail_all(2));
    }
    assert_eq!(f.status(), Status::Broken);
    for _ in 0..5 {
        f.main(fail_all(2));
    }
    assert_eq!(f.status(), Status::Broken);
    // The consistent failures did not make it "more flaky".
    assert!(f.last.as_ref().unwrap().score <= score_before + 1e-9);
    f.passes(2);
    assert_eq!(f.status(), Status::Flaky);
}

#[test]
fn one_isolated_failure_is_not_flaky_but_repeated_flips_are() {
    let mut f = Feed::new();
    f.passes(30);
    f.main(fail());
    assert_eq!(f.passes(30).status, Status::Healthy);
    assert!(f.has_evidence(EvidenceKind::FlipOnDefaultBranch));
    f.main(fail());
    let v = f.main(pass()).clone();
    assert_eq!(v.status, Status::Flaky);
    let e = &v.evidence[0];
    assert_eq!(e.kind, EvidenceKind::FlipOnDefaultBranch);
    assert_eq!(e.count, 2);
    assert!(
        e.message.contains("2 times; latest: run 62 failed on main"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("run 63 passed; flip rate"),
        "{}",
        e.message
    );
}

#[test]
fn pr_branch_failures_count_less_and_pr_regressions_not_at_all() {
    let mut f = Feed::new();
    f.passes(30);
    // A PR is genuinely broken for a few pushes while main keeps passing.
    for _ in 0..4 {
        f.on("feature/broken", fail());
        f.main(pass());
    }
    f.on("feature/broken", pass());
    assert_eq!(f.status(), Status::Healthy);
    assert_eq!(f.last.as_ref().unwrap().score, 0.0);
    // Two isolated failures on PR branches are weaker than two on main.
    let mut g = Feed::new();
    g.passes(30);
    for b in ["feature/a", "feature/b"] {
        g.on(b, fail());
        g.on(b, pass());
    }
    assert_eq!(g.status(), Status::Healthy);
    assert!(g.last.as_ref().unwrap().score > 0.0);
}

#[test]
fn hysteresis_keeps_a_borderline_test_from_flip_flopping() {
    // Cap the evidence just above the entry level, so every clean stretch drops the score
    // below `enter_flaky` and every isolated failure lifts it above again: borderline.
    let mut f = Feed::new();
    f.p.max_evidence = 5.6;
    f.passes(30);
    let (mut naive_flips, mut above, mut seen_flaky, mut changes_after_flaky) =
        (0, false, false, 0);
    for i in 0..2000 {
        let before = f.status();
        let v = if i % 40 == 0 {
            f.main(fail());
            f.main(pass()).clone()
        } else {
            f.main(pass()).clone()
        };
        if (v.score >= f.p.enter_flaky) != above {
            naive_flips += 1;
            above = !above;
        }
        if seen_flaky && v.status != before {
            changes_after_flaky += 1;
        }
        seen_flaky |= v.status == Status::Flaky;
    }
    assert!(seen_flaky);
    // A single threshold would flip the label on every cycle of this history...
    assert!(naive_flips >= 40, "naive flips: {naive_flips}");
    // ...the two thresholds keep it put.
    assert_eq!(changes_after_flaky, 0);
}

#[test]
fn leaving_flaky_needs_enough_clean_runs() {
    let mut f = Feed::new();
    // Any score is below this leave threshold: only the clean-run count holds the label.
    f.p.leave_flaky = 0.999;
    f.passes(30);
    f.main(retry_pass());
    assert_eq!(f.status(), Status::Flaky);
    let mut clean = 0;
    while f.status() == Status::Flaky {
        f.main(pass());
        clean += 1;
        assert!(clean <= 100);
    }
    assert_eq!(clean, f.p.min_clean_to_leave);
}

#[test]
fn fixed_flaky_test_leaves_flaky() {
    let mut f = Feed::new();
    let mut last_failure_at = f.at;
    for i in 0..300 {
        f.main(if i % 10 == 3 { retry_pass() } else { pass() });
        if i % 10 == 3 {
            last_failure_at = f.at;
        }
    }
    assert_eq!(f.status(), Status::Flaky);
    let rate = f.last.as_ref().unwrap().failure_rate;
    assert!((0.05..0.15).contains(&rate), "rate {rate}");
    // The fix: clean from now on.
    let mut left_after = None;
    for n in 1..=400 {
        if f.main(pass()).status != Status::Flaky {
            left_after = Some(n);
            break;
        }
    }
    let n = left_after.expect("left Flaky within 400 clean runs");
    // At about 10%, some 45 clean runs make the fix 99% sure.
    let needed = f.p.clean_runs_to_clear(f.state.rate_at_evidence) as usize;
    assert!((40..=60).contains(&needed), "needed {needed}");
    // (or sooner, when the evidence had already worn down below the leaving score)
    assert!(
        (f.p.min_clean_to_clear as usize..=needed).contains(&n),
        "left after {n}"
    );
    assert_eq!(f.status(), Status::Healthy);
    // "Fixed since" is the first clean run; the status began when the fix was taken.
    let v = f.last.clone().unwrap();
    assert_eq!(v.fixed_since, Some(last_failure_at + Duration::minutes(10)));
    assert_eq!(v.status_changed_at, f.at);
    assert!(f.has_evidence(EvidenceKind::FlakyCleared));
    // One more flaky failure: flaky again, and no longer "fixed".
    f.main(retry_pass());
    assert_eq!(f.status(), Status::Flaky);
    assert_eq!(f.last.as_ref().unwrap().fixed_since, None);
}

#[test]
fn rarely_failing_flaky_test_is_not_cleared_too_soon() {
    let mut f = Feed::new();
    for i in 0..600 {
        f.main(if i % 200 == 100 { retry_pass() } else { pass() });
    }
    assert_eq!(f.status(), Status::Flaky);
    // 100 clean runs prove little about a test that fails once in 200.
    f.passes(100);
    assert_eq!(f.status(), Status::Flaky);
}

#[test]
fn state_stays_bounded_after_100k_observations() {
    let mut f = Feed::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut size_at_1k = 0;
    for i in 0..100_000 {
        let roll = next() % 100;
        let branch = if roll % 3 == 0 {
            format!("feature/{}", next() % 5000)
        } else {
            "main".into()
        };
        let r = match roll {
            0..=3 => fail(),
            4..=5 => retry_pass(),
            6 => fail_all(3),
            _ => pass(),
        };
        let mut c = f.ctx(&branch, None, 1 + (roll % 2) as i32);
        if roll == 1 {
            c.failed_in_run = 400;
        }
        f.feed(c, r);
        if i == 1000 {
            size_at_1k = serde_json::to_string(&f.state).unwrap().len();
        }
    }
    let json = serde_json::to_string(&f.state).unwrap();
    // Evidence lines carry counts and their first and latest runs: still a few KiB.
    assert!(json.len() < 6144, "state is {} bytes", json.len());
    assert!(
        json.len() < size_at_1k * 2,
        "{} vs {size_at_1k} at 1k",
        json.len()
    );
    assert!(f.state.commits.len() <= f.p.commit_memory);
    assert!(f.state.branches.len() <= f.p.branch_memory);
    assert!(f.state.evidence.len() <= 10, "one entry per kind at most");
    assert_eq!(f.state.runs_seen, 100_000);
    // The state survives its JSON round trip (floats up to their last digit).
    let back: TestState = serde_json::from_str(&json).unwrap();
    assert_eq!(back.status, f.state.status);
    assert_eq!(back.branches, f.state.branches);
    assert_eq!(back.commits, f.state.commits);
    assert_eq!(back.evidence, f.state.evidence);
    assert!((back.evidence_llr - f.state.evidence_llr).abs() < 1e-9);
}

#[test]
fn forgotten_branch_streaks_weigh_little_and_consistent_ones_nothing() {
    let mut f = Feed::new();
    f.passes(30);
    // One failure on a PR that is never seen again, then enough other branches to forget it.
    f.on("feature/gone", fail());
    for i in 0..f.p.branch_memory {
        f.on(&format!("feature/other-{i}"), pass());
    }
    let weak = f.state.evidence_llr;
    assert!(weak > 0.0 && weak < f.p.w_branch_failure, "{weak}");
    assert!(f.state.evidence[0].message.contains("not seen again"));
    // A consistent streak on a forgotten branch was the branch's own regression.
    let mut g = Feed::new();
    g.passes(30);
    for _ in 0..3 {
        g.on("feature/broken", fail());
    }
    for i in 0..g.p.branch_memory {
        g.on(&format!("feature/other-{i}"), pass());
    }
    assert_eq!(g.state.evidence_llr, 0.0);
}

#[test]
fn branches_based_on_a_broken_main_do_not_make_the_test_flaky() {
    let mut f = Feed::new();
    f.passes(30);
    for _ in 0..3 {
        f.main(fail());
    }
    assert_eq!(f.status(), Status::Broken);
    f.passes(2);
    assert_eq!(f.status(), Status::Healthy);
    // PRs opened while main was broken keep failing with the regression's signature.
    for i in 0..12 {
        f.on(&format!("feature/{i}"), fail());
        f.on(&format!("feature/{i}"), pass());
    }
    assert_eq!(f.status(), Status::Healthy);
    assert_eq!(f.state.evidence_llr, 0.0);
}

#[test]
fn a_broken_commit_finishing_late_is_not_a_flip() {
    let mut f = Feed::new();
    f.passes(30);
    // Commit "bad" fails; the fix "good" passes; a re-run of "bad" finishes later and fails.
    let c = f.ctx("main", Some("bad"), 1);
    f.feed(c, fail());
    let c = f.ctx("main", Some("good"), 1);
    f.feed(c, pass());
    let c = f.ctx("main", Some("bad"), 2);
    f.feed(c, fail());
    let c = f.ctx("main", Some("good2"), 1);
    f.feed(c, pass());
    // The first flip counted before the re-run came; the consistent commit is not a second one.
    let flips = f
        .state
        .evidence
        .iter()
        .filter(|e| e.kind == EvidenceKind::FlipOnDefaultBranch)
        .count();
    assert_eq!(flips, 1);
    assert_eq!(f.status(), Status::Healthy);
}

impl Feed {
    /// A run of `job` on main at `commit` (a build matrix runs several jobs per commit).
    fn matrix(&mut self, job: &str, commit: &str, r: TestResultObs) -> &Verdict {
        let mut ctx = self.ctx("main", Some(commit), 1);
        ctx.job = job.into();
        self.feed(ctx, r)
    }

    /// Linux and Windows at each of these commits (`c00`, `c01`...): Linux passes.
    fn matrix_commits(&mut self, commits: std::ops::Range<u32>, windows: TestResultObs) {
        for i in commits {
            let commit = format!("c{i:02}");
            self.matrix("test (linux)", &commit, pass());
            self.matrix("test (windows)", &commit, windows.clone());
        }
    }

    /// The evidence line of `kind`.
    fn evidence(&self, kind: EvidenceKind) -> &str {
        let found = self.state.evidence.iter().find(|e| e.kind == kind);
        &found
            .unwrap_or_else(|| panic!("no {kind:?}: {:?}", self.state.evidence))
            .message
    }
}

#[test]
fn a_test_failing_on_one_platform_of_a_matrix_is_broken_not_flaky() {
    let mut f = Feed::new();
    f.matrix_commits(0..10, pass());
    // From commit c10 on, windows fails at every commit and linux passes.
    f.matrix_commits(10..20, fail());
    assert_eq!(f.status(), Status::Broken, "{:?}", f.state.evidence);
    assert!(
        !f.has_evidence(EvidenceKind::SameCommitMixed),
        "{:?}",
        f.state.evidence
    );
    assert!(
        !f.has_evidence(EvidenceKind::FlipOnDefaultBranch),
        "{:?}",
        f.state.evidence
    );
    assert_eq!(f.state.evidence_llr, 0.0);
    let regression = f.evidence(EvidenceKind::Regression);
    assert!(
        regression.contains("failing on main in job test (windows) since commit c10"),
        "{regression}"
    );
    // Linux passing does not clear it; windows passing twice does.
    f.matrix("test (linux)", "c20", pass());
    f.matrix("test (linux)", "c21", pass());
    assert_eq!(f.status(), Status::Broken);
    f.matrix("test (windows)", "c20", pass());
    f.matrix("test (windows)", "c21", pass());
    assert_eq!(f.status(), Status::Healthy, "{:?}", f.state.evidence);
}

#[test]
fn a_flaky_test_in_a_matrix_is_still_flaky() {
    let mut f = Feed::new();
    f.matrix_commits(0..10, pass());
    // Linux fails once and its rerun at the same commit passes.
    f.matrix("test (linux)", "c10", fail());
    f.matrix("test (linux)", "c10", pass());
    f.matrix("test (windows)", "c10", pass());
    assert_eq!(f.status(), Status::Flaky, "{:?}", f.state.evidence);
    let mixed = f.evidence(EvidenceKind::SameCommitMixed);
    assert!(
        mixed.contains("commit c10 in job test (linux), 1 passed, 1 failed"),
        "{mixed}"
    );
}

#[test]
fn a_state_stored_before_jobs_were_told_apart_carries_on() {
    // A test Broken on main, scored when every track was job-less.
    let mut f = Feed::new();
    for r in std::iter::repeat_n(pass(), 10).chain(std::iter::repeat_n(fail(), 3)) {
        let ctx = f.ctx("main", None, 1);
        f.feed(
            RunContext {
                job: String::new(),
                ..ctx
            },
            r,
        );
    }
    assert_eq!(f.status(), Status::Broken);
    for b in &mut f.state.branches {
        b.broken = false;
    }
    // Runs that name their job take the old track over, and its passes clear it.
    f.matrix("unit", "d1", pass());
    f.matrix("unit", "d2", pass());
    assert_eq!(f.status(), Status::Healthy, "{:?}", f.state.evidence);
    assert_eq!(f.state.branches.len(), 1, "{:?}", f.state.branches);
}
