//! Runs one pipeline: every job on the pipeline's commit, red jobs maybe re-run, and each
//! test's tries decided by regression, outage or flakiness.

use chrono::{Duration, NaiveDateTime};

use super::config::Scenario;
use super::population::{Group, TestSpec};
use super::rng::Rng;
use super::timeline::{PipelinePlan, RegressionPlan};
use super::{Cause, Failure, SimResult};
use crate::analysis::model::Outcome;
use crate::analysis::signature::{normalize, signature_hash};

/// A job run before it is placed in the history.
pub(super) struct RawRun {
    pub pipeline_idx: u32,
    pub job: u32,
    pub attempt: i32,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    pub results: Vec<SimResult>,
}

pub(super) const RUNNERS: [&str; 4] = ["linux-4cpu", "linux-4cpu", "linux-8cpu", "windows-4cpu"];
const JOB_MINUTES: [i64; 4] = [7, 9, 11, 14];

struct Outage {
    share: f64,
    persistent: bool,
    template: u8,
    host: u32,
}

/// Everything a pipeline run needs to know about the suite.
pub(super) struct Suite<'a> {
    pub sc: &'a Scenario,
    pub tests: &'a [TestSpec],
    pub by_job: &'a [Vec<u32>],
    pub groups: &'a [Group],
    pub regressions: &'a [RegressionPlan],
}

pub(super) fn run_pipeline(
    suite: &Suite,
    rng: &mut Rng,
    idx: u32,
    plan: &PipelinePlan,
    out: &mut Vec<RawRun>,
) {
    let sc = suite.sc;
    for job in 0..sc.jobs as u32 {
        let mut attempt = 1;
        let mut start = plan.start + Duration::seconds(rng.between(5, 120) as i64);
        loop {
            let outage = rng.chance(sc.outage_rate).then(|| Outage {
                share: rng.uniform(0.2, 1.0),
                persistent: rng.chance(0.8),
                template: rng.below(3) as u8,
                host: rng.between(2, 250) as u32,
            });
            let fired: Vec<u32> = suite
                .groups
                .iter()
                .enumerate()
                .filter(|(_, g)| g.job == job)
                .filter(|(_, g)| rng.chance(g.rate))
                .map(|(i, _)| i as u32)
                .collect();
            let max_tries = if (job as usize) < sc.retry_jobs {
                1 + sc.max_reruns
            } else {
                1
            };
            let mut busy_ms: i64 = 0;
            let results: Vec<SimResult> = suite.by_job[job as usize]
                .iter()
                .map(|&t| {
                    let r = run_test(suite, rng, plan, t, max_tries, outage.as_ref(), &fired);
                    busy_ms += i64::from(r.duration_ms) * i64::from(r.attempts.saturating_sub(1));
                    r
                })
                .collect();
            let base_ms = JOB_MINUTES[job as usize % JOB_MINUTES.len()] * 60_000;
            let ms = (base_ms as f64 * rng.uniform(0.9, 1.2)) as i64 + busy_ms;
            let finished = start + Duration::milliseconds(ms);
            let red = results.iter().any(|r| r.outcome.is_failure());
            out.push(RawRun {
                pipeline_idx: idx,
                job,
                attempt,
                started_at: start,
                finished_at: finished,
                results,
            });
            let retry_prob = sc.job_retry_prob / f64::from(1 << (attempt - 1));
            if !red || attempt >= 3 || !rng.chance(retry_prob) {
                break;
            }
            attempt += 1;
            start = finished + Duration::seconds(rng.between(60, 900) as i64);
        }
    }
}

/// Tries of one test: the first try fails with `first`, each retry with `again`, until a
/// try passes or `max_tries` are used.
fn tries(rng: &mut Rng, first: bool, again: f64, max_tries: u32) -> (u8, u8, bool) {
    let (mut n, mut failed, mut last_failed) = (1u8, u8::from(first), first);
    while last_failed && u32::from(n) < max_tries {
        n += 1;
        last_failed = rng.chance(again);
        failed += u8::from(last_failed);
    }
    (n, failed, last_failed)
}

fn run_test(
    suite: &Suite,
    rng: &mut Rng,
    plan: &PipelinePlan,
    t: u32,
    max_tries: u32,
    outage: Option<&Outage>,
    fired: &[u32],
) -> SimResult {
    let spec = &suite.tests[t as usize];
    let duration_ms = (f64::from(spec.duration_ms) * rng.uniform(0.8, 1.25)) as u32;
    let mut result = SimResult {
        test: t,
        outcome: Outcome::Passed,
        attempts: 1,
        failed_attempts: 0,
        cause: Cause::None,
        duration_ms,
        failure: None,
    };
    let disabled = spec
        .disabled_from_frac
        .is_some_and(|from| plan.frac >= from);
    if disabled || (spec.sometimes_skipped && rng.chance(0.5)) {
        result.outcome = Outcome::Skipped;
        return result;
    }
    let regression = plan
        .regressions
        .iter()
        .copied()
        .find(|&id| suite.regressions[id as usize].test == t);
    let (n, failed, last_failed, cause, error) = if let Some(id) = regression {
        let n = max_tries as u8;
        (n, n, true, Cause::Regression(id), false)
    } else if let Some(o) = outage.filter(|o| rng.chance(o.share)) {
        let again = if o.persistent { 1.0 } else { 0.3 };
        let (n, f, last) = tries(rng, true, again, max_tries);
        (n, f, last, Cause::Outage, true)
    } else if let Some(f) = spec
        .flaky
        .as_ref()
        .filter(|f| f.from_frac <= plan.frac && plan.frac < f.to_frac)
    {
        let first = match f.group {
            Some(g) => fired.contains(&g),
            None => rng.chance(f.rate),
        };
        let (n, fl, last) = tries(rng, first, f.retry_fail, max_tries);
        (
            n,
            fl,
            last,
            if fl > 0 { Cause::Flaky } else { Cause::None },
            false,
        )
    } else {
        (1, 0, false, Cause::None, false)
    };
    result.attempts = n;
    result.failed_attempts = failed;
    result.cause = cause;
    if last_failed {
        result.outcome = if error {
            Outcome::Error
        } else {
            Outcome::Failed
        };
    }
    if failed > 0 {
        result.failure = Some(Box::new(failure_text(suite, rng, t, cause, outage)));
    }
    result
}

fn failure_text(
    suite: &Suite,
    rng: &mut Rng,
    t: u32,
    cause: Cause,
    outage: Option<&Outage>,
) -> Failure {
    let spec = &suite.tests[t as usize];
    let port = rng.between(1024, 65000);
    let ms = rng.between(100, 60_000);
    let addr = rng.next_u64() & 0xffff_ffff_ffff;
    let frame = format!(
        "  File \"/home/runner/work/app/{}.py\", line {}, in {}",
        spec.classname.replace('.', "/"),
        rng.between(10, 900),
        spec.name
    );
    let (kind, message) = match cause {
        Cause::Regression(id) => {
            let expected = suite.regressions[id as usize].expected;
            (
                "AssertionError",
                format!("assert result == {expected} in {}: got {}", spec.name, expected + 1 + port as u32 % 7),
            )
        }
        Cause::Outage => {
            let o = outage.expect("outage cause comes with an outage");
            match o.template {
                0 => (
                    "ConnectionError",
                    format!(
                        "could not connect to server at 10.1.0.{}:5432 after {ms}ms (request id {:08x}-1c2d-4e5f-8a9b-{addr:012x})",
                        o.host, port
                    ),
                ),
                1 => (
                    "OSError",
                    format!("[Errno 28] No space left on device: '/tmp/pytest-of-ci/pytest-{port}/{}'", spec.name),
                ),
                _ => (
                    "TimeoutError",
                    format!("runner lost connection to http://10.2.3.{}:{port}/cache after {ms} ms", o.host),
                ),
            }
        }
        // Members of a group share one message (one signature): the shared cause.
        _ => match spec.flaky.as_ref().map(|f| (f.group, f.template)).unwrap_or((None, 0)) {
            (Some(group), _) => (
                "OSError",
                format!("[Errno 98] Address already in use: shared fixture server_{group} on port {port}"),
            ),
            (None, 0) => ("TimeoutError", format!("timed out after {ms}ms waiting for {} on port {port}", spec.name)),
            (None, 1) => (
                "AssertionError",
                format!(
                    "expected status 200 but got 503 in {} (request {:08x}-0000-4000-8000-{addr:012x})",
                    spec.name, port
                ),
            ),
            (None, 2) => (
                "RuntimeError",
                format!("list changed during iteration at 0x{addr:x} in worker-{} ({})", port % 8, spec.name),
            ),
            _ => (
                "ElementNotInteractableError",
                format!("#submit-{} in {} not clickable at ({}, {})", port % 100, spec.name, ms % 1000, port % 700),
            ),
        },
    };
    let details = format!("Traceback (most recent call last):\n{frame}\n{kind}: {message}\n");
    let signature = signature_hash(&normalize(kind, &message, &details));
    Failure {
        kind: kind.to_string(),
        message,
        details,
        signature,
    }
}
