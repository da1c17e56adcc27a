//! The project page's daily series: each day's red runs by cause, time to feedback, flaky
//! failures per run, runner cost, and the store queue's times, from the same per-day
//! summaries and metric functions as the window's cards.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::window::Days;
use crate::analysis::histogram::Histogram;
use crate::analysis::metrics::{self, RateTable, Spread};
use crate::analysis::summary::Summary;
use crate::store::task_rollups::TaskHistograms;
use crate::web::charts::DayRed;

/// One value per day of the window, empty days included.
#[derive(Debug, Clone, Default)]
pub struct Trends {
    pub red: Vec<DayRed>,
    /// Pipeline time to feedback, minutes (`None`: no pipeline that day).
    pub feedback_p50: Vec<Option<f64>>,
    pub feedback_p95: Vec<Option<f64>>,
    /// Failures of flaky tests per run (`None`: no run that day).
    pub flaky_per_run: Vec<Option<f64>>,
    /// Runner minutes, and money in units when the project has prices.
    pub minutes: Vec<f64>,
    pub money: Vec<f64>,
}

/// The series of each day's summary (runs by the day they started, pipelines by the day
/// they started); days without runs are empty.
pub fn daily(by_day: &BTreeMap<NaiveDate, Summary>, days: Days, rates: &RateTable) -> Trends {
    let empty = Summary::default();
    let mut trends = Trends::default();
    for day in days.iter() {
        let summary = by_day.get(&day).unwrap_or(&empty);
        let accuracy = metrics::accuracy(summary);
        trends.red.push(DayRed {
            day,
            false_alarms: accuracy.red_flaky_only,
            broken: accuracy.red_broken,
            other: accuracy.red_other,
        });
        let feedback = metrics::promptness(summary).per_pipeline;
        trends.feedback_p50.push(feedback.p50);
        trends.feedback_p95.push(feedback.p95);
        trends
            .flaky_per_run
            .push((accuracy.runs > 0).then_some(accuracy.flaky_failures_per_run));
        let cost = metrics::cost(summary, rates).total;
        trends.minutes.push(cost.minutes);
        trends.money.push(cost.money_micros as f64 / 1e6);
    }
    trends
}

/// Each day's median queue and store time in seconds, tasks by the day they were received.
pub fn task_daily(
    by_day: &BTreeMap<NaiveDate, TaskHistograms>,
    days: Days,
) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
    days.iter()
        .map(|day| match by_day.get(&day) {
            Some(tasks) => (seconds_p50(&tasks.queue), seconds_p50(&tasks.store)),
            None => (None, None),
        })
        .unzip()
}

/// Median scoring lag per day, in seconds (tasks by the day they were received).
pub fn scoring_daily(by_day: &BTreeMap<NaiveDate, TaskHistograms>, days: Days) -> Vec<Option<f64>> {
    days.iter()
        .map(|day| {
            by_day
                .get(&day)
                .and_then(|tasks| seconds_p50(&tasks.scoring))
        })
        .collect()
}

fn seconds_p50(ms: &Histogram) -> Option<f64> {
    Spread::ms_of(ms).p50.map(|ms| ms / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::summary::RunRecord;
    use crate::analysis::Status;

    fn record(day: &str, hour: u32, minutes: i64, red: &[Status]) -> RunRecord {
        let start = day
            .parse::<NaiveDate>()
            .unwrap()
            .and_hms_opt(hour, 0, 0)
            .unwrap();
        let count = |wanted: Status| red.iter().filter(|s| **s == wanted).count() as i32;
        RunRecord {
            pipeline: format!("{day}-{hour}"),
            commit: "c".into(),
            job: "unit".into(),
            runner: String::new(),
            started_at: start,
            finished_at: start + chrono::Duration::minutes(minutes),
            red: !red.is_empty(),
            red_flaky: count(Status::Flaky),
            red_broken: count(Status::Broken),
            red_other: count(Status::Healthy),
            flaky_retry_ms: 0,
        }
    }

    /// Each day's summary, as the per-day rollups hold them.
    fn by_day(records: &[RunRecord]) -> BTreeMap<NaiveDate, Summary> {
        let mut days: BTreeMap<NaiveDate, Vec<RunRecord>> = BTreeMap::new();
        for r in records {
            days.entry(r.started_at.date()).or_default().push(r.clone());
        }
        days.into_iter()
            .map(|(day, runs)| (day, Summary::of_runs(&runs)))
            .collect()
    }

    #[test]
    fn each_day_has_its_red_runs_by_cause_and_its_median_feedback() {
        let days = Days {
            first: "2026-03-01".parse().unwrap(),
            last: "2026-03-03".parse().unwrap(),
        };
        let records = [
            record("2026-03-01", 9, 10, &[Status::Flaky]),
            record("2026-03-01", 10, 20, &[Status::Broken, Status::Flaky]),
            record("2026-03-01", 11, 30, &[]),
            record("2026-03-03", 9, 5, &[Status::Healthy]),
        ];
        let trends = daily(&by_day(&records), days, &RateTable::default());
        let red = &trends.red;
        assert_eq!(red.len(), 3, "empty days are kept");
        assert_eq!(
            (red[0].false_alarms, red[0].broken, red[0].other),
            (1, 1, 0)
        );
        assert_eq!(
            (red[1].false_alarms, red[1].broken, red[1].other),
            (0, 0, 0)
        );
        assert_eq!(red[2].other, 1);
        // Within the histograms' 1%.
        let near =
            |got: Option<f64>, want: f64| got.is_some_and(|g| (g - want).abs() <= want * 0.01);
        assert!(near(trends.feedback_p50[0], 20.0));
        assert_eq!(trends.feedback_p50[1], None);
        assert!(near(trends.feedback_p50[2], 5.0));
        assert!(near(trends.feedback_p95[0], 30.0));
        assert_eq!(trends.flaky_per_run, [Some(2.0 / 3.0), None, Some(0.0)]);
        assert_eq!(trends.minutes, [60.0, 0.0, 5.0]);
    }

    #[test]
    fn queue_and_store_times_are_daily_medians_in_seconds() {
        let days = Days {
            first: "2026-03-01".parse().unwrap(),
            last: "2026-03-02".parse().unwrap(),
        };
        let mut tasks = TaskHistograms::default();
        for (queue, store) in [(1000, Some(4000)), (3000, None), (2000, Some(2000))] {
            tasks.queue.add(queue);
            if let Some(store) = store {
                tasks.store.add(store);
                tasks.scoring.add(store / 2);
            }
        }
        let by_day = BTreeMap::from([("2026-03-01".parse().unwrap(), tasks)]);
        let (queue, store) = task_daily(&by_day, days);
        assert_eq!(queue, [Some(2.0), None]);
        assert_eq!(store, [Some(2.0), None]);
        assert_eq!(scoring_daily(&by_day, days), [Some(1.0), None]);
    }
}
