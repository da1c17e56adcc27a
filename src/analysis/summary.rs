//! What a window's CI-quality figures are computed from, in a form that adds up: exact
//! sums over runs, and histograms of the durations whose percentiles are shown. The store
//! keeps one summary per day (by branch, job and runner) as runs are scored, so a window
//! merges its days instead of reading its runs; `Summary::of_runs` builds the same from
//! run records, for windows that do not start and end at midnight.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;

use super::histogram::Histogram;

/// One job run (one attempt of one job of one pipeline), with its red tests counted by
/// the status they had when the run was scored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunRecord {
    /// Empty when the CI step sent none: the commit then groups the runs.
    pub pipeline: String,
    pub commit: String,
    pub job: String,
    /// Runner label, the key of the rate table.
    pub runner: String,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    /// The job failed (tests or anything else).
    pub red: bool,
    /// Failed tests that were Flaky, Broken, or anything else.
    pub red_flaky: i32,
    pub red_broken: i32,
    pub red_other: i32,
    /// Time spent on in-run retries of tests that were Flaky, in milliseconds.
    pub flaky_retry_ms: i64,
}

impl RunRecord {
    /// The runs of one pipeline: by its id, or by commit when the CI step sent none (then
    /// every job of a commit, reruns included, counts as one pipeline).
    pub fn pipeline_key(&self) -> (&str, &str) {
        if self.pipeline.is_empty() {
            ("", self.commit.as_str())
        } else {
            (self.pipeline.as_str(), "")
        }
    }

    pub fn duration_ms(&self) -> i64 {
        (self.finished_at - self.started_at)
            .num_milliseconds()
            .max(0)
    }

    /// Red only because of tests that were Flaky.
    pub fn is_false_alarm(&self) -> bool {
        self.red && self.red_flaky > 0 && self.red_broken == 0 && self.red_other == 0
    }
}

/// Sums over runs, for accuracy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub runs: i64,
    pub red_runs: i64,
    /// Red only because of tests that were Flaky: false alarms.
    pub red_flaky_only: i64,
    /// Red with at least one Broken test.
    pub red_broken: i64,
    /// Red for any other reason.
    pub red_other: i64,
    /// Failures of tests that were Flaky.
    pub flaky_failures: i64,
}

/// Runner time of one runner label, for cost (milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunnerTime {
    pub run_ms: i64,
    /// Later attempts of a job in the same pipeline.
    pub rerun_ms: i64,
    /// Of those, attempts after one that was red only because of Flaky tests.
    pub rerun_after_flaky_ms: i64,
    /// In-run retries of tests that were Flaky.
    pub flaky_retry_ms: i64,
}

/// Spans of pipelines (or of one job's attempts within each pipeline), in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpanHistograms {
    /// First start to last finish.
    pub feedback: Histogram,
    /// First start to the first red run's finish, for spans with a red run.
    pub first_red: Histogram,
    /// Runner time of the span's runs.
    pub minutes: Histogram,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub counts: RunCounts,
    pub by_runner: BTreeMap<String, RunnerTime>,
    /// Durations of each job's runs, all attempts.
    pub job_durations: BTreeMap<String, Histogram>,
    pub spans: SpanHistograms,
}

/// Where a run stands among the attempts of its job in its pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    First,
    /// A rerun; `after_false_alarm`: the attempt before was red only because of Flaky tests.
    Rerun {
        after_false_alarm: bool,
    },
}

impl RunCounts {
    pub fn add(&mut self, run: &RunRecord) {
        self.runs += 1;
        self.flaky_failures += i64::from(run.red_flaky.max(0));
        if !run.red {
            return;
        }
        self.red_runs += 1;
        if run.red_broken > 0 {
            self.red_broken += 1;
        } else if run.is_false_alarm() {
            self.red_flaky_only += 1;
        } else {
            self.red_other += 1;
        }
    }

    pub fn merge(&mut self, other: &RunCounts) {
        self.runs += other.runs;
        self.red_runs += other.red_runs;
        self.red_flaky_only += other.red_flaky_only;
        self.red_broken += other.red_broken;
        self.red_other += other.red_other;
        self.flaky_failures += other.flaky_failures;
    }
}

impl RunnerTime {
    pub fn add(&mut self, run: &RunRecord, attempt: Attempt) {
        let ms = run.duration_ms();
        self.run_ms += ms;
        if let Attempt::Rerun { after_false_alarm } = attempt {
            self.rerun_ms += ms;
            if after_false_alarm {
                self.rerun_after_flaky_ms += ms;
            }
        }
        self.flaky_retry_ms += run.flaky_retry_ms.max(0);
    }

    pub fn merge(&mut self, other: &RunnerTime) {
        self.run_ms += other.run_ms;
        self.rerun_ms += other.rerun_ms;
        self.rerun_after_flaky_ms += other.rerun_after_flaky_ms;
        self.flaky_retry_ms += other.flaky_retry_ms;
    }
}

impl SpanHistograms {
    pub fn merge(&mut self, other: &SpanHistograms) {
        self.feedback.merge(&other.feedback);
        self.first_red.merge(&other.first_red);
        self.minutes.merge(&other.minutes);
    }
}

/// The runs of one pipeline (or one job's attempts in it) seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    /// The first red run's finish.
    pub first_red_at: Option<NaiveDateTime>,
    pub run_ms: i64,
}

fn ms_between(from: NaiveDateTime, to: NaiveDateTime) -> i64 {
    (to - from).num_milliseconds().max(0)
}

impl Span {
    pub fn of(run: &RunRecord) -> Span {
        Span {
            started_at: run.started_at,
            finished_at: run.finished_at,
            first_red_at: run.red.then_some(run.finished_at),
            run_ms: run.duration_ms(),
        }
    }

    pub fn extended(self, run: &RunRecord) -> Span {
        let red_at = run.red.then_some(run.finished_at);
        Span {
            started_at: self.started_at.min(run.started_at),
            finished_at: self.finished_at.max(run.finished_at),
            first_red_at: match (self.first_red_at, red_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            run_ms: self.run_ms + run.duration_ms(),
        }
    }

    pub fn add_to(&self, histograms: &mut SpanHistograms) {
        histograms
            .feedback
            .add(ms_between(self.started_at, self.finished_at));
        if let Some(red_at) = self.first_red_at {
            histograms
                .first_red
                .add(ms_between(self.started_at, red_at));
        }
        histograms.minutes.add(self.run_ms);
    }

    pub fn remove_from(&self, histograms: &mut SpanHistograms) {
        histograms
            .feedback
            .remove(ms_between(self.started_at, self.finished_at));
        if let Some(red_at) = self.first_red_at {
            histograms
                .first_red
                .remove(ms_between(self.started_at, red_at));
        }
        histograms.minutes.remove(self.run_ms);
    }
}

impl Summary {
    /// Adds one run's sums and duration; its pipeline's span is added apart (`Span`).
    pub fn add_run(&mut self, run: &RunRecord, attempt: Attempt) {
        self.counts.add(run);
        self.by_runner
            .entry(run.runner.clone())
            .or_default()
            .add(run, attempt);
        self.job_durations
            .entry(run.job.clone())
            .or_default()
            .add(run.duration_ms());
    }

    pub fn merge(&mut self, other: &Summary) {
        self.counts.merge(&other.counts);
        for (runner, time) in &other.by_runner {
            self.by_runner
                .entry(runner.clone())
                .or_default()
                .merge(time);
        }
        for (job, durations) in &other.job_durations {
            self.job_durations
                .entry(job.clone())
                .or_default()
                .merge(durations);
        }
        self.spans.merge(&other.spans);
    }

    /// The summary of `records` taken in their order (the store's: by start): a run whose
    /// job already ran in its pipeline is a rerun of the attempt seen last. Pipelines are
    /// the spans, so with runs of one job they are that job's spans.
    pub fn of_runs(records: &[RunRecord]) -> Summary {
        let mut summary = Summary::default();
        let mut last_attempt: HashMap<((&str, &str), &str), bool> = HashMap::new();
        let mut spans: HashMap<(&str, &str), Span> = HashMap::new();
        for run in records {
            let key = run.pipeline_key();
            let attempt = match last_attempt.insert((key, &run.job), run.is_false_alarm()) {
                None => Attempt::First,
                Some(after_false_alarm) => Attempt::Rerun { after_false_alarm },
            };
            summary.add_run(run, attempt);
            spans
                .entry(key)
                .and_modify(|span| *span = span.extended(run))
                .or_insert_with(|| Span::of(run));
        }
        for span in spans.values() {
            span.add_to(&mut summary.spans);
        }
        summary
    }
}
