//! Each test's passing results per day (UTC) of its runs: how many, and their total
//! duration (`test_duration_days`). Kept as runs are scored and rebuilt by a rescore, so
//! the weekly report's slowest tests and duration regressions add up a test's days instead
//! of reading every result of the period.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::db::schema::{results, runs, test_duration_days};
use crate::db::DbConnection;

/// A test's passing results in a period: (total ms, results).
pub type MeanDurations = HashMap<i64, (i64, i64)>;

/// Passing durations gathered while runs are scored, added to the stored days in one go.
#[derive(Debug, Default)]
pub struct DurationBatch {
    days: BTreeMap<(i64, NaiveDate), (i32, i64)>,
}

impl DurationBatch {
    /// A passing result of `test_id` that took `ms`, in a run started `at`.
    pub fn add(&mut self, test_id: i64, at: NaiveDateTime, ms: i64) {
        let day = self.days.entry((test_id, at.date())).or_default();
        day.0 += 1;
        day.1 = day.1.saturating_add(ms.max(0));
    }

    /// Test-days gathered so far.
    pub fn len(&self) -> usize {
        self.days.len()
    }

    pub fn is_empty(&self) -> bool {
        self.days.is_empty()
    }

    /// Adds the batch to the stored days (in test id order, so concurrent writers lock rows
    /// in one order). Adding is all it does, so a long batch may be written in parts.
    pub fn write(self, conn: &mut DbConnection, project_id: i64) -> QueryResult<()> {
        let rows: Vec<_> = self
            .days
            .iter()
            .map(|((test_id, day), (passed, ms))| {
                (
                    test_duration_days::test_id.eq(*test_id),
                    test_duration_days::project_id.eq(project_id),
                    test_duration_days::day.eq(*day),
                    test_duration_days::passed.eq(*passed),
                    test_duration_days::passed_ms.eq(*ms),
                )
            })
            .collect();
        for chunk in rows.chunks(1000) {
            crate::per_backend!(conn, |c| diesel::insert_into(test_duration_days::table)
                .values(chunk)
                .on_conflict((test_duration_days::test_id, test_duration_days::day))
                .do_update()
                .set(
                    (
                        test_duration_days::passed
                            .eq(test_duration_days::passed + excluded(test_duration_days::passed)),
                        test_duration_days::passed_ms
                            .eq(test_duration_days::passed_ms
                                + excluded(test_duration_days::passed_ms)),
                    )
                )
                .execute(c))?;
        }
        Ok(())
    }
}

/// Drops the project's days, before a rescore writes them again.
pub fn clear(conn: &mut DbConnection, project_id: i64) -> QueryResult<()> {
    diesel::delete(test_duration_days::table.filter(test_duration_days::project_id.eq(project_id)))
        .execute(conn)
        .map(drop)
}

/// Each test's passing results from `first` to `last` (days, both included), from the days.
pub fn from_days(
    conn: &mut DbConnection,
    project_id: i64,
    first: NaiveDate,
    last: NaiveDate,
) -> QueryResult<MeanDurations> {
    let rows: Vec<(i64, i32, i64)> = test_duration_days::table
        .filter(test_duration_days::project_id.eq(project_id))
        .filter(test_duration_days::day.ge(first))
        .filter(test_duration_days::day.le(last))
        .select((
            test_duration_days::test_id,
            test_duration_days::passed,
            test_duration_days::passed_ms,
        ))
        .load(conn)?;
    let mut sums = MeanDurations::new();
    for (test_id, passed, ms) in rows {
        let entry = sums.entry(test_id).or_default();
        entry.0 = entry.0.saturating_add(ms);
        entry.1 += i64::from(passed);
    }
    Ok(sums)
}

/// The same from the results of runs started in `[since, until)`, for periods that are not
/// whole days.
pub fn from_results(
    conn: &mut DbConnection,
    project_id: i64,
    since: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<MeanDurations> {
    let rows: Vec<(i64, Option<i64>)> = results::table
        .inner_join(runs::table)
        .filter(runs::project_id.eq(project_id))
        .filter(runs::started_at.ge(since))
        .filter(runs::started_at.lt(until))
        .filter(results::outcome.eq("passed"))
        .select((results::test_id, results::duration_ms))
        .load(conn)?;
    let mut sums = MeanDurations::new();
    for (test_id, ms) in rows {
        if let Some(ms) = ms {
            let entry = sums.entry(test_id).or_default();
            entry.0 = entry.0.saturating_add(ms.max(0));
            entry.1 += 1;
        }
    }
    Ok(sums)
}
