//! The demo's history: a simulated project a few hundred tests big, retimed so that its
//! pipelines spread over the last weeks and its last job finishes now.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};

use crate::analysis::simulator::{generate, Scenario, SimHistory, SimRun};

/// Days the demo's pipelines spread over: the project page's 30-day window is full, and
/// the 90-day one shows where the history began.
pub const SPAN_DAYS: i64 = 45;

/// Small enough to store in well under a minute on SQLite, big enough to hold flaky,
/// broken and disabled tests, reruns, pull requests and scheduled pipelines.
pub fn scenario() -> Scenario {
    Scenario {
        name: "demo".into(),
        tests: 240,
        jobs: 3,
        retry_jobs: 1,
        main_commits: 60,
        pr_pushes_per_commit: 1.5,
        scheduled_every: 10,
        flaky_share: 0.06,
        disabled_share: 0.01,
        ..Scenario::standard(20_261_201)
    }
}

/// The history of `scenario`, its last job finishing at `now`.
pub fn ending_at(scenario: &Scenario, now: NaiveDateTime) -> SimHistory {
    let mut history = generate(scenario);
    retime(&mut history.runs, now);
    history
}

/// Spreads the pipelines' starts evenly over `SPAN_DAYS` (the simulator packs them minutes
/// apart), keeps each job's offset within its pipeline and its duration, then shifts
/// everything so the last finish is `now`.
fn retime(runs: &mut [SimRun], now: NaiveDateTime) {
    let mut pipeline_start: HashMap<u32, NaiveDateTime> = HashMap::new();
    for run in runs.iter() {
        let start = pipeline_start
            .entry(run.pipeline_idx)
            .or_insert(run.started_at);
        *start = (*start).min(run.started_at);
    }
    let (Some(first), Some(last)) = (
        pipeline_start.values().min().copied(),
        pipeline_start.values().max().copied(),
    ) else {
        return;
    };
    let span_ms = (last - first).num_milliseconds().max(1) as f64;
    let target_ms = Duration::days(SPAN_DAYS).num_milliseconds() as f64;
    let stretched = |at: NaiveDateTime| {
        first
            + Duration::milliseconds(
                ((at - first).num_milliseconds() as f64 / span_ms * target_ms) as i64,
            )
    };
    for run in runs.iter_mut() {
        let pipeline = pipeline_start[&run.pipeline_idx];
        let offset = run.started_at - pipeline;
        let duration = run.finished_at - run.started_at;
        run.started_at = stretched(pipeline) + offset;
        run.finished_at = run.started_at + duration;
    }
    let Some(end) = runs.iter().map(|run| run.finished_at).max() else {
        return;
    };
    let shift = now - end;
    for run in runs.iter_mut() {
        run.started_at += shift;
        run.finished_at += shift;
        run.ctx.at = run.started_at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_spreads_over_the_span_and_ends_now() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .and_then(|d| d.and_hms_opt(9, 30, 0))
            .unwrap();
        let history = ending_at(&scenario(), now);
        let end = history.runs.iter().map(|r| r.finished_at).max().unwrap();
        let begin = history.runs.iter().map(|r| r.started_at).min().unwrap();
        assert_eq!(end, now);
        let days = (end - begin).num_days();
        assert!((SPAN_DAYS..=SPAN_DAYS + 1).contains(&days), "{days} days");
        assert!(history.runs.iter().all(|r| r.finished_at >= r.started_at));
        let flaky = history.tests.iter().filter(|t| t.flaky.is_some()).count();
        assert!(flaky >= 5, "the demo needs flaky tests to show: {flaky}");
        assert!(!history.regressions.is_empty(), "and broken ones");
        assert!(history.runs.iter().any(|r| r.ctx.attempt > 1), "and reruns");
        assert!(
            history.runs.iter().any(|r| !r.ctx.on_default_branch),
            "and PRs"
        );
    }
}
