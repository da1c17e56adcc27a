//! CI-quality metrics over plain run records: accuracy (false alarms from flaky tests),
//! promptness (time to feedback) and cost (runner minutes and money, and the part spent on
//! reruns and retries). Pure functions; storage builds the records.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;

use super::model::Status;

/// One job run (one attempt of one job of one pipeline).
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// Empty when the CI step sent none: the commit then groups the runs.
    pub pipeline: String,
    pub commit: String,
    pub job: String,
    /// Job rerun number, 1 = first.
    pub attempt: i32,
    /// Runner label, the key of the rate table.
    pub runner: String,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    /// The job failed (tests or anything else).
    pub red: bool,
    /// Tests whose final outcome failed, with their status when the run was scored.
    pub red_tests: Vec<(i64, Status)>,
    /// In-run retries (extra tries of failed tests) and the time they took.
    pub retries: Vec<RetryRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryRecord {
    pub test_id: i64,
    /// The test's status when the run was scored.
    pub status: Status,
    /// Time spent on the extra tries, in milliseconds.
    pub retry_ms: i64,
}

impl RunRecord {
    /// The runs of one pipeline: by its id, or by commit when the CI step sent none (then
    /// every job of a commit, reruns included, counts as one pipeline).
    fn pipeline_key(&self) -> (&str, &str) {
        if self.pipeline.is_empty() {
            ("", self.commit.as_str())
        } else {
            (self.pipeline.as_str(), "")
        }
    }

    fn duration_ms(&self) -> i64 {
        (self.finished_at - self.started_at)
            .num_milliseconds()
            .max(0)
    }
}

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

pub fn accuracy(runs: &[RunRecord]) -> Accuracy {
    let mut a = Accuracy {
        runs: runs.len(),
        ..Default::default()
    };
    let mut flaky_failures = 0usize;
    for r in runs {
        flaky_failures += r
            .red_tests
            .iter()
            .filter(|(_, s)| *s == Status::Flaky)
            .count();
        if !r.red {
            continue;
        }
        a.red_runs += 1;
        if r.red_tests.iter().any(|(_, s)| *s == Status::Broken) {
            a.red_broken += 1;
        } else if !r.red_tests.is_empty() && r.red_tests.iter().all(|(_, s)| *s == Status::Flaky) {
            a.red_flaky_only += 1;
        } else {
            a.red_other += 1;
        }
    }
    let share = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    a.false_alarm_share = share(a.red_flaky_only, a.red_runs);
    a.broken_share = share(a.red_broken, a.red_runs);
    a.flaky_failures_per_run = share(flaky_failures, a.runs);
    a
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

fn by_pipeline(runs: &[RunRecord]) -> BTreeMap<(&str, &str), Vec<&RunRecord>> {
    let mut map: BTreeMap<(&str, &str), Vec<&RunRecord>> = BTreeMap::new();
    for r in runs {
        map.entry(r.pipeline_key()).or_default().push(r);
    }
    map
}

pub fn promptness(runs: &[RunRecord]) -> Promptness {
    let mut per_job: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in runs {
        per_job
            .entry(r.job.clone())
            .or_default()
            .push(minutes(r.duration_ms()));
    }
    let mut pipeline_times = Vec::new();
    let mut first_red = Vec::new();
    for group in by_pipeline(runs).values() {
        let start = group
            .iter()
            .map(|r| r.started_at)
            .min()
            .expect("non-empty group");
        let end = group
            .iter()
            .map(|r| r.finished_at)
            .max()
            .expect("non-empty group");
        pipeline_times.push(minutes((end - start).num_milliseconds().max(0)));
        if let Some(red_end) = group.iter().filter(|r| r.red).map(|r| r.finished_at).min() {
            first_red.push(minutes((red_end - start).num_milliseconds().max(0)));
        }
    }
    Promptness {
        per_job: per_job
            .into_iter()
            .map(|(k, v)| (k, Spread::of(&v)))
            .collect(),
        per_pipeline: Spread::of(&pipeline_times),
        time_to_first_red: Spread::of(&first_red),
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
    pub per_pipeline: BTreeMap<String, Spend>,
    /// Spend over pipelines: p50/p95 of minutes.
    pub pipeline_minutes: Spread,
    /// Job reruns, whatever the cause: a later attempt of the same job in the same pipeline
    /// (or at the same commit, without a pipeline id).
    pub reruns: Spend,
    /// Job reruns whose previous attempt was red only because of Flaky tests.
    pub reruns_after_flaky: Spend,
    /// In-run retries of tests that were Flaky.
    pub flaky_retries: Spend,
}

pub fn cost(runs: &[RunRecord], rates: &RateTable) -> Cost {
    let mut c = Cost::default();
    let flaky_only_red = |r: &RunRecord| {
        r.red && !r.red_tests.is_empty() && r.red_tests.iter().all(|(_, s)| *s == Status::Flaky)
    };
    // The attempts of one job, in order: each after the first reruns the one before.
    let mut attempts: HashMap<((&str, &str), &str), Vec<&RunRecord>> = HashMap::new();
    for r in runs {
        let ms = r.duration_ms();
        c.total.add(rates, &r.runner, ms);
        let (pipeline, commit) = r.pipeline_key();
        c.per_pipeline
            .entry(
                if pipeline.is_empty() {
                    commit
                } else {
                    pipeline
                }
                .to_owned(),
            )
            .or_default()
            .add(rates, &r.runner, ms);
        attempts
            .entry((r.pipeline_key(), r.job.as_str()))
            .or_default()
            .push(r);
        for t in r.retries.iter().filter(|t| t.status == Status::Flaky) {
            c.flaky_retries.add(rates, &r.runner, t.retry_ms.max(0));
        }
    }
    for group in attempts.values_mut() {
        group.sort_by_key(|r| (r.attempt, r.started_at));
        for pair in group.windows(2) {
            let (previous, rerun) = (pair[0], pair[1]);
            let ms = rerun.duration_ms();
            c.reruns.add(rates, &rerun.runner, ms);
            if flaky_only_red(previous) {
                c.reruns_after_flaky.add(rates, &rerun.runner, ms);
            }
        }
    }
    let per: Vec<f64> = c.per_pipeline.values().map(|s| s.minutes).collect();
    c.pipeline_minutes = Spread::of(&per);
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    fn t(min: i64) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2025, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            + Duration::minutes(min)
    }

    fn run(
        pipeline: &str,
        job: &str,
        attempt: i32,
        start: i64,
        end: i64,
        red: &[Status],
    ) -> RunRecord {
        RunRecord {
            pipeline: pipeline.into(),
            commit: format!("c{pipeline}"),
            job: job.into(),
            attempt,
            runner: "linux".into(),
            started_at: t(start),
            finished_at: t(end),
            red: !red.is_empty(),
            red_tests: red
                .iter()
                .enumerate()
                .map(|(i, s)| (i as i64, *s))
                .collect(),
            retries: Vec::new(),
        }
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
            run("1", "a", 1, 0, 10, &[]),
            run("1", "b", 1, 0, 10, &[Flaky, Flaky]),
            run("2", "a", 1, 0, 10, &[Flaky, Broken]),
            run("2", "b", 1, 0, 10, &[Healthy]),
        ];
        let a = accuracy(&runs);
        assert_eq!((a.runs, a.red_runs), (4, 3));
        assert_eq!((a.red_flaky_only, a.red_broken, a.red_other), (1, 1, 1));
        assert!((a.false_alarm_share - 1.0 / 3.0).abs() < 1e-12);
        assert!((a.flaky_failures_per_run - 0.75).abs() < 1e-12);
    }

    #[test]
    fn promptness_per_job_pipeline_and_first_red() {
        let runs = vec![
            run("1", "unit", 1, 0, 10, &[]),
            run("1", "e2e", 1, 0, 30, &[Status::Flaky]),
            run("1", "e2e", 2, 31, 61, &[]),
            run("2", "unit", 1, 100, 112, &[]),
        ];
        let p = promptness(&runs);
        assert_eq!(p.per_job["unit"].p50, Some(10.0));
        assert_eq!(p.per_job["e2e"].count, 2);
        assert_eq!(p.per_pipeline.p95, Some(61.0));
        assert_eq!(p.per_pipeline.p50, Some(12.0));
        assert_eq!(p.time_to_first_red.count, 1);
        assert_eq!(p.time_to_first_red.p50, Some(30.0));
    }

    #[test]
    fn cost_counts_reruns_and_flaky_retries() {
        let mut runs = vec![
            run("1", "e2e", 1, 0, 30, &[Status::Flaky]),
            run("1", "e2e", 2, 31, 61, &[]),
            run("2", "e2e", 1, 0, 10, &[Status::Broken]),
            run("2", "e2e", 2, 10, 20, &[Status::Broken]),
        ];
        runs[1].runner = "macos".into();
        runs[0].retries = vec![
            RetryRecord {
                test_id: 1,
                status: Status::Flaky,
                retry_ms: 90_000,
            },
            RetryRecord {
                test_id: 2,
                status: Status::Healthy,
                retry_ms: 60_000,
            },
        ];
        let rates = RateTable {
            per_minute_micros: HashMap::from([("linux".into(), 8_000), ("macos".into(), 80_000)]),
            default_micros: 0,
        };
        let c = cost(&runs, &rates);
        assert!((c.total.minutes - 80.0).abs() < 1e-9);
        assert_eq!(c.total.money_micros, 30 * 8_000 + 30 * 80_000 + 20 * 8_000);
        assert_eq!(c.per_pipeline["2"].money_micros, 20 * 8_000);
        assert!((c.reruns.minutes - 40.0).abs() < 1e-9);
        // Only pipeline 1's rerun followed a flaky-only red attempt.
        assert_eq!(c.reruns_after_flaky.money_micros, 30 * 80_000);
        assert!((c.flaky_retries.minutes - 1.5).abs() < 1e-9);
        assert_eq!(c.flaky_retries.money_micros, 12_000);
        assert_eq!(c.pipeline_minutes.p95, Some(60.0));
    }

    #[test]
    fn without_a_pipeline_attempts_pair_by_commit_and_job() {
        // A CI step that sends neither pipeline nor attempt: the second run of a commit's
        // job is its rerun, whatever its attempt number says.
        let mut runs = vec![
            run("", "e2e", 1, 0, 30, &[Status::Flaky]),
            run("", "e2e", 1, 31, 61, &[]),
            run("", "unit", 1, 0, 5, &[]),
            run("", "e2e", 1, 100, 110, &[Status::Flaky]),
        ];
        runs[0].commit = "abc".into();
        runs[1].commit = "abc".into();
        runs[2].commit = "abc".into();
        runs[3].commit = "def".into();
        let c = cost(&runs, &RateTable::default());
        assert!((c.reruns.minutes - 30.0).abs() < 1e-9);
        assert!((c.reruns_after_flaky.minutes - 30.0).abs() < 1e-9);
        let p = promptness(&runs);
        assert_eq!(p.per_pipeline.count, 2, "one pipeline per commit");
        assert_eq!(p.per_pipeline.p95, Some(61.0));
    }
}
