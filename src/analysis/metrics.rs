//! CI-quality metrics from a window's summary (`summary::Summary`): accuracy (false
//! alarms from flaky tests), promptness (time to feedback) and cost (runner minutes and
//! money, and the part spent on reruns and retries). Pure functions; storage builds the
//! summaries, from its per-day rollups or from run records.

use std::collections::{BTreeMap, HashMap};

use super::histogram::Histogram;
use super::summary::Summary;

/// Nearest-rank percentile: the smallest value such that at least `p` percent of the values
/// are less or equal, i.e. the value at 1-based rank ceil(p/100 * n) of the sorted values.
/// Always one of the values (no interpolation). None for no values; `p` is clamped to (0, 100].
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// p50 and p95 (nearest rank) of a set of values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spread {
    pub count: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        Spread {
            count: values.len(),
            p50: percentile(values, 50.0),
            p95: percentile(values, 95.0),
        }
    }

    /// In minutes, of a histogram of milliseconds (within its 1% error).
    pub fn minutes_of(histogram: &Histogram) -> Spread {
        Spread::scaled(histogram, 1.0 / 60_000.0)
    }

    /// In milliseconds, of a histogram of milliseconds (within its 1% error).
    pub fn ms_of(histogram: &Histogram) -> Spread {
        Spread::scaled(histogram, 1.0)
    }

    fn scaled(histogram: &Histogram, factor: f64) -> Spread {
        Spread {
            count: histogram.count(),
            p50: histogram.percentile(50.0).map(|v| v * factor),
            p95: histogram.percentile(95.0).map(|v| v * factor),
        }
    }
}

/// Why red runs were red.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Accuracy {
    pub runs: usize,
    pub red_runs: usize,
    /// Red only because of tests that were Flaky: false alarms.
    pub red_flaky_only: usize,
    /// Red with at least one Broken test.
    pub red_broken: usize,
    /// Red for other reasons (healthy or new tests failing, or no test failure at all).
    pub red_other: usize,
    /// red_flaky_only / red_runs (0 without red runs).
    pub false_alarm_share: f64,
    /// red_broken / red_runs.
    pub broken_share: f64,
    /// Failures of Flaky tests per run.
    pub flaky_failures_per_run: f64,
}

pub fn accuracy(summary: &Summary) -> Accuracy {
    let c = &summary.counts;
    let count = |n: i64| n.max(0) as usize;
    let share = |n: i64, d: i64| if d <= 0 { 0.0 } else { n as f64 / d as f64 };
    Accuracy {
        runs: count(c.runs),
        red_runs: count(c.red_runs),
        red_flaky_only: count(c.red_flaky_only),
        red_broken: count(c.red_broken),
        red_other: count(c.red_other),
        false_alarm_share: share(c.red_flaky_only, c.red_runs),
        broken_share: share(c.red_broken, c.red_runs),
        flaky_failures_per_run: share(c.flaky_failures, c.runs),
    }
}

/// Time to feedback, in minutes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Promptness {
    /// Per job name: duration of each run of it (all attempts).
    pub per_job: BTreeMap<String, Spread>,
    /// Per pipeline: first start to last finish, reruns included.
    pub per_pipeline: Spread,
    /// Per pipeline with a red run: first start to the first red run's finish.
    pub time_to_first_red: Spread,
}

fn minutes(ms: i64) -> f64 {
    ms as f64 / 60_000.0
}

pub fn promptness(summary: &Summary) -> Promptness {
    Promptness {
        per_job: summary
            .job_durations
            .iter()
            .map(|(job, durations)| (job.clone(), Spread::minutes_of(durations)))
            .collect(),
        per_pipeline: Spread::minutes_of(&summary.spans.feedback),
        time_to_first_red: Spread::minutes_of(&summary.spans.first_red),
    }
}

/// Runner prices in micro-units of money per minute, by runner label.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RateTable {
    pub per_minute_micros: HashMap<String, i64>,
    /// For labels missing from the table.
    pub default_micros: i64,
}

impl RateTable {
    fn money_micros(&self, runner: &str, ms: i64) -> i64 {
        let rate = self
            .per_minute_micros
            .get(runner)
            .copied()
            .unwrap_or(self.default_micros);
        // i128: a year of runner time at a high rate must not overflow.
        (i128::from(ms) * i128::from(rate) / 60_000) as i64
    }
}

/// Minutes and money (micro-units).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spend {
    pub minutes: f64,
    pub money_micros: i64,
}

impl Spend {
    fn add(&mut self, rates: &RateTable, runner: &str, ms: i64) {
        self.minutes += minutes(ms);
        self.money_micros += rates.money_micros(runner, ms);
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cost {
    pub total: Spend,
    /// Runner minutes per pipeline: p50/p95.
    pub pipeline_minutes: Spread,
    /// Job reruns, whatever the cause: a later attempt of the same job in the same pipeline
    /// (or at the same commit, without a pipeline id).
    pub reruns: Spend,
    /// Job reruns whose previous attempt was red only because of Flaky tests.
    pub reruns_after_flaky: Spend,
    /// In-run retries of tests that were Flaky.
    pub flaky_retries: Spend,
}

pub fn cost(summary: &Summary, rates: &RateTable) -> Cost {
    let mut c = Cost::default();
    for (runner, time) in &summary.by_runner {
        c.total.add(rates, runner, time.run_ms);
        c.reruns.add(rates, runner, time.rerun_ms);
        c.reruns_after_flaky
            .add(rates, runner, time.rerun_after_flaky_ms);
        c.flaky_retries.add(rates, runner, time.flaky_retry_ms);
    }
    c.pipeline_minutes = Spread::minutes_of(&summary.spans.minutes);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::summary::RunRecord;
    use crate::analysis::Status;
    use chrono::{Duration, NaiveDate, NaiveDateTime};

    fn t(min: i64) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2025, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            + Duration::minutes(min)
    }

    fn run(pipeline: &str, job: &str, start: i64, end: i64, red: &[Status]) -> RunRecord {
        let count = |wanted: Status| red.iter().filter(|s| **s == wanted).count() as i32;
        RunRecord {
            pipeline: pipeline.into(),
            commit: format!("c{pipeline}"),
            job: job.into(),
            runner: "linux".into(),
            started_at: t(start),
            finished_at: t(end),
            red: !red.is_empty(),
            red_flaky: count(Status::Flaky),
            red_broken: count(Status::Broken),
            red_other: red.len() as i32 - count(Status::Flaky) - count(Status::Broken),
            flaky_retry_ms: 0,
        }
    }

    /// Within the histograms' 1%.
    fn near(got: Option<f64>, want: f64) -> bool {
        got.is_some_and(|got| (got - want).abs() <= want * 0.01)
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(10.0));
        assert_eq!(percentile(&v, 95.0), Some(19.0));
        assert_eq!(percentile(&v, 100.0), Some(20.0));
        assert_eq!(percentile(&[7.0, 1.0, 3.0], 50.0), Some(3.0));
        assert_eq!(percentile(&[5.0], 95.0), Some(5.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn accuracy_classifies_red_runs() {
        use Status::*;
        let runs = vec![
            run("1", "a", 0, 10, &[]),
            run("1", "b", 0, 10, &[Flaky, Flaky]),
            run("2", "a", 0, 10, &[Flaky, Broken]),
            run("2", "b", 0, 10, &[Healthy]),
        ];
        let a = accuracy(&Summary::of_runs(&runs));
        assert_eq!((a.runs, a.red_runs), (4, 3));
        assert_eq!((a.red_flaky_only, a.red_broken, a.red_other), (1, 1, 1));
        assert!((a.false_alarm_share - 1.0 / 3.0).abs() < 1e-12);
        assert!((a.flaky_failures_per_run - 0.75).abs() < 1e-12);
    }

    #[test]
    fn promptness_per_job_pipeline_and_first_red() {
        let runs = vec![
            run("1", "unit", 0, 10, &[]),
            run("1", "e2e", 0, 30, &[Status::Flaky]),
            run("1", "e2e", 31, 61, &[]),
            run("2", "unit", 100, 112, &[]),
        ];
        let p = promptness(&Summary::of_runs(&runs));
        assert!(near(p.per_job["unit"].p50, 10.0));
        assert_eq!(p.per_job["e2e"].count, 2);
        assert!(near(p.per_pipeline.p95, 61.0));
        assert!(near(p.per_pipeline.p50, 12.0));
        assert_eq!(p.time_to_first_red.count, 1);
        assert!(near(p.time_to_first_red.p50, 30.0));
    }

    #[test]
    fn cost_counts_reruns_and_flaky_retries() {
        let mut runs = vec![
            run("1", "e2e", 0, 30, &[Status::Flaky]),
            run("1", "e2e", 31, 61, &[]),
            run("2", "e2e", 0, 10, &[Status::Broken]),
            run("2", "e2e", 10, 20, &[Status::Broken]),
        ];
        runs[1].runner = "macos".into();
        runs[0].flaky_retry_ms = 90_000;
        let rates = RateTable {
            per_minute_micros: HashMap::from([("linux".into(), 8_000), ("macos".into(), 80_000)]),
            default_micros: 0,
        };
        let c = cost(&Summary::of_runs(&runs), &rates);
        assert!((c.total.minutes - 80.0).abs() < 1e-9);
        assert_eq!(c.total.money_micros, 30 * 8_000 + 30 * 80_000 + 20 * 8_000);
        assert!((c.reruns.minutes - 40.0).abs() < 1e-9);
        // Only pipeline 1's rerun followed a flaky-only red attempt.
        assert_eq!(c.reruns_after_flaky.money_micros, 30 * 80_000);
        assert!((c.flaky_retries.minutes - 1.5).abs() < 1e-9);
        assert_eq!(c.flaky_retries.money_micros, 12_000);
        assert_eq!(c.pipeline_minutes.count, 2);
        assert!(near(c.pipeline_minutes.p95, 60.0));
        assert!(near(c.pipeline_minutes.p50, 20.0));
    }

    #[test]
    fn without_a_pipeline_attempts_pair_by_commit_and_job() {
        // A CI step that sends neither pipeline nor attempt: the second run of a commit's
        // job is its rerun, whatever its attempt number says.
        let mut runs = vec![
            run("", "e2e", 0, 30, &[Status::Flaky]),
            run("", "unit", 0, 5, &[]),
            run("", "e2e", 31, 61, &[]),
            run("", "e2e", 100, 110, &[Status::Flaky]),
        ];
        runs[0].commit = "abc".into();
        runs[1].commit = "abc".into();
        runs[2].commit = "abc".into();
        runs[3].commit = "def".into();
        let summary = Summary::of_runs(&runs);
        let c = cost(&summary, &RateTable::default());
        assert!((c.reruns.minutes - 30.0).abs() < 1e-9);
        assert!((c.reruns_after_flaky.minutes - 30.0).abs() < 1e-9);
        let p = promptness(&summary);
        assert_eq!(p.per_pipeline.count, 2, "one pipeline per commit");
        assert!(near(p.per_pipeline.p95, 61.0));
    }

    #[test]
    fn summaries_of_days_merge_into_the_summary_of_their_runs() {
        use Status::*;
        // Pipelines that each fall within one day: merging the days' summaries gives the
        // window's, so per-day rollups answer any run of whole days.
        let runs = vec![
            run("1", "unit", 0, 10, &[Flaky]),
            run("1", "unit", 11, 20, &[]),
            run("2", "e2e", 1_500, 1_540, &[Broken]),
            run("3", "e2e", 3_000, 3_010, &[Healthy, Flaky]),
        ];
        let mut merged = Summary::default();
        for day in [&runs[..2], &runs[2..3], &runs[3..]] {
            merged.merge(&Summary::of_runs(day));
        }
        assert_eq!(merged, Summary::of_runs(&runs));
    }
}
