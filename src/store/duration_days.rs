//! Each test's passing results per day (UTC) of its runs: how many, and their total
//! duration (`test_duration_days`). Kept as runs are scored and rebuilt by a rescore, so
//! the weekly report's slowest tests and duration regressions add up a test's days instead
//! of reading every result of the period.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date};

use crate::db::schema::{results, runs, test_duration_days};
use crate::db::DbConnection;

/// A test's passing results in a period: (total ms, results).
pub type MeanDurations = HashMap<i64, (i64, i64)>;

/// Adds a scored run's passing results to their tests' day (the day the run started), in
/// one statement that sums them in the database: no row travels to the process, so a run
/// of a million tests costs one aggregate, not a million upserts.
pub fn add_run(
    conn: &mut DbConnection,
    project_id: i64,
    run_id: i64,
    day: NaiveDate,
) -> QueryResult<()> {
    // The WHERE keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
    let sql = "INSERT INTO test_duration_days (test_id, project_id, day, passed, passed_ms) \
               SELECT test_id, $1, $2, count(*), sum(duration_ms) FROM results \
               WHERE run_id = $3 AND outcome = 'passed' AND duration_ms IS NOT NULL \
               GROUP BY test_id \
               ON CONFLICT (test_id, day) DO UPDATE SET \
               passed = test_duration_days.passed + excluded.passed, \
               passed_ms = test_duration_days.passed_ms + excluded.passed_ms";
    let query = diesel::sql_query(sql)
        .bind::<BigInt, _>(project_id)
        .bind::<Date, _>(day)
        .bind::<BigInt, _>(run_id);
    crate::per_backend!(conn, |c| query.execute(c)).map(drop)
}

/// Drops the project's days after `kept_until` (all of them for `None`), before a rescore
/// writes them again. The days kept are those whose results were purged: a replay could
/// only lose them.
pub fn clear_after(
    conn: &mut DbConnection,
    project_id: i64,
    kept_until: Option<NaiveDate>,
) -> QueryResult<()> {
    let days = test_duration_days::table.filter(test_duration_days::project_id.eq(project_id));
    match kept_until {
        Some(last_kept) => diesel::delete(days.filter(test_duration_days::day.gt(last_kept)))
            .execute(conn)
            .map(drop),
        None => diesel::delete(days).execute(conn).map(drop),
    }
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
