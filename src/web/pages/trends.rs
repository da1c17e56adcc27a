//! The project page's daily series: each day's red runs by cause and its time to feedback,
//! from the same run records and metric functions as the window's cards.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::window::Days;
use crate::analysis::metrics::{self, RunRecord};
use crate::web::charts::{DayFeedback, DayRed};

/// One point per day of `days`, empty days included, runs by the day they started.
pub fn daily(records: &[RunRecord], days: Days) -> (Vec<DayRed>, Vec<DayFeedback>) {
    let mut by_day: BTreeMap<NaiveDate, Vec<RunRecord>> = BTreeMap::new();
    for record in records {
        by_day
            .entry(record.started_at.date())
            .or_default()
            .push(record.clone());
    }
    let mut red = Vec::new();
    let mut feedback = Vec::new();
    for day in days.iter() {
        let runs = by_day.get(&day).map_or(&[][..], Vec::as_slice);
        let accuracy = metrics::accuracy(runs);
        red.push(DayRed {
            day,
            false_alarms: accuracy.red_flaky_only,
            broken: accuracy.red_broken,
            other: accuracy.red_other,
        });
        // A pipeline that runs past midnight counts on each day it ran in: good enough for
        // a daily trend, and it keeps each day's figure its own.
        feedback.push(DayFeedback {
            day,
            p50_minutes: metrics::promptness(runs).per_pipeline.p50,
        });
    }
    (red, feedback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Status;

    fn record(day: &str, hour: u32, minutes: i64, red: &[Status]) -> RunRecord {
        let start = day
            .parse::<NaiveDate>()
            .unwrap()
            .and_hms_opt(hour, 0, 0)
            .unwrap();
        RunRecord {
            pipeline: format!("{day}-{hour}"),
            commit: "c".into(),
            job: "unit".into(),
            attempt: 1,
            runner: String::new(),
            started_at: start,
            finished_at: start + chrono::Duration::minutes(minutes),
            red: !red.is_empty(),
            red_tests: red.iter().map(|s| (0, *s)).collect(),
            retries: Vec::new(),
        }
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
        let (red, feedback) = daily(&records, days);
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
        assert_eq!(feedback[0].p50_minutes, Some(20.0));
        assert_eq!(feedback[1].p50_minutes, None);
        assert_eq!(feedback[2].p50_minutes, Some(5.0));
    }
}
