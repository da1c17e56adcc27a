//! The demo's history: a simulated project, retimed so that its pipelines spread over the
//! last weeks (or the last year) and its last job finishes now.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};

use crate::analysis::simulator::{generate, Scenario, SimHistory, SimRun};

/// How much history `--demo` stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DemoSize {
    /// 240 tests over 45 days (about 550 runs): stored in well under a minute on SQLite,
    /// big enough to hold flaky, broken and disabled tests, reruns, pull requests and
    /// scheduled pipelines. The project page's 30-day window is full, and the 90-day one
    /// shows where the history began.
    #[default]
    Small,
    /// 10,000 tests in 4 jobs over 90 days, about 1,300 runs and 3.3 million results: the
    /// dashboard's load benchmark.
    Large,
    /// 2,000 tests in 4 jobs over 365 days, about 5,000 runs and 2.5 million results: a
    /// year of history, for the weekly report's benchmark.
    Year,
}

impl DemoSize {
    /// Days the pipelines spread over, ending now.
    pub fn span_days(self) -> i64 {
        match self {
            DemoSize::Small => 45,
            DemoSize::Large => 90,
            DemoSize::Year => 365,
        }
    }

    pub fn scenario(self) -> Scenario {
        let small = Scenario {
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
        };
        match self {
            DemoSize::Small => small,
            DemoSize::Large => Scenario {
                name: "demo-large".into(),
                tests: 10_000,
                jobs: 4,
                main_commits: 80,
                flaky_share: 0.02,
                ..small
            },
            DemoSize::Year => Scenario {
                name: "demo-year".into(),
                tests: 2_000,
                jobs: 4,
                main_commits: 300,
                scheduled_every: 7,
                flaky_share: 0.03,
                ..small
            },
        }
    }

    /// The history, its last job finishing at `now`.
    pub fn history_ending_at(self, now: NaiveDateTime) -> SimHistory {
        let mut history = generate(&self.scenario());
        retime(&mut history.runs, now, self.span_days());
        history
    }
}

/// Spreads the pipelines' starts evenly over `span_days` (the simulator packs them minutes
/// apart), keeps each job's offset within its pipeline and its duration, then shifts
/// everything so the last finish is `now`.
fn retime(runs: &mut [SimRun], now: NaiveDateTime, span_days: i64) {
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
    let target_ms = Duration::days(span_days).num_milliseconds() as f64;
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
        let history = DemoSize::Small.history_ending_at(now);
        let end = history.runs.iter().map(|r| r.finished_at).max().unwrap();
        let begin = history.runs.iter().map(|r| r.started_at).min().unwrap();
        assert_eq!(end, now);
        let days = (end - begin).num_days();
        let span = DemoSize::Small.span_days();
        assert!((span..=span + 1).contains(&days), "{days} days");
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
