//! What CI-quality metrics are computed from: a window's summary of runs and its store
//! tasks' timings (from the per-day rollups, or from the rows for windows that are not
//! whole days), and the project's runner prices. The arithmetic is in `analysis::metrics`.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::task_rollups::{self, TaskHistograms};
use super::window_rollups::{self, DayRange};
use crate::analysis::metrics::RateTable;
use crate::analysis::summary::{RunRecord, Summary};
use crate::db::schema::{runner_rates, runs};
use crate::db::DbConnection;

#[derive(Debug, Clone, Default)]
pub struct Window {
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub branch: Option<String>,
    pub job: Option<String>,
}

type RunRow = (
    String,
    String,
    String,
    String,
    NaiveDateTime,
    NaiveDateTime,
    i32,
    i32,
    i32,
    i32,
    i32,
    i64,
);

/// The window's summary: merged from the per-day rollups when the window is whole days
/// (every page's is), else from its runs.
pub fn summary(conn: &mut DbConnection, project_id: i64, window: &Window) -> QueryResult<Summary> {
    match day_range(window) {
        Some(range) => window_rollups::summary(conn, project_id, &range),
        None => Ok(Summary::of_runs(&run_records(conn, project_id, window)?)),
    }
}

/// The window as whole days, if it starts and ends at midnight (or is open).
pub fn day_range(window: &Window) -> Option<DayRange> {
    let midnight = |at: NaiveDateTime| at.time() == chrono::NaiveTime::MIN;
    if !window.since.is_none_or(midnight) || !window.until.is_none_or(midnight) {
        return None;
    }
    Some(DayRange {
        first: window.since.map(|at| at.date()),
        // `until` is exclusive: the day before it is the last.
        last: window.until.map(|at| at.date() - chrono::Duration::days(1)),
        branch: window.branch.clone(),
        job: window.job.clone(),
    })
}

/// Runs of the project in the window, as the metric functions take them. A run is red when
/// a test failed; its red tests are counted by the status they had when the run was scored
/// (a red run not scored yet is red for another reason).
pub fn run_records(
    conn: &mut DbConnection,
    project_id: i64,
    window: &Window,
) -> QueryResult<Vec<RunRecord>> {
    let mut query = runs::table
        .filter(runs::project_id.eq(project_id))
        .order((runs::started_at, runs::id))
        .select((
            runs::pipeline,
            runs::commit_sha,
            runs::job,
            runs::runner,
            runs::started_at,
            runs::finished_at,
            runs::failed,
            runs::errors,
            runs::red_flaky,
            runs::red_broken,
            runs::red_other,
            runs::flaky_retry_ms,
        ))
        .into_boxed();
    if let Some(since) = window.since {
        query = query.filter(runs::started_at.ge(since));
    }
    if let Some(until) = window.until {
        query = query.filter(runs::started_at.lt(until));
    }
    if let Some(branch) = &window.branch {
        query = query.filter(runs::branch.eq(branch.clone()));
    }
    if let Some(job) = &window.job {
        query = query.filter(runs::job.eq(job.clone()));
    }
    let rows: Vec<RunRow> = query.load(conn)?;
    Ok(rows.into_iter().map(to_record).collect())
}

fn to_record(row: RunRow) -> RunRecord {
    let (
        pipeline,
        commit,
        job,
        runner,
        started_at,
        finished_at,
        failed,
        errors,
        red_flaky,
        red_broken,
        red_other,
        flaky_retry_ms,
    ) = row;
    RunRecord {
        pipeline,
        commit,
        job,
        runner,
        started_at,
        finished_at,
        red: failed + errors > 0,
        red_flaky,
        red_broken,
        red_other,
        flaky_retry_ms,
    }
}

/// Stage times of the project's store tasks received in the window and completed: merged
/// from the per-day rollups when the window is whole days, else read from the tasks.
pub fn task_timings(
    conn: &mut DbConnection,
    project_id: i64,
    window: &Window,
) -> QueryResult<TaskHistograms> {
    let mut total = TaskHistograms::default();
    match day_range(window) {
        Some(range) => {
            for day in task_rollups::by_day(conn, project_id, &range)?.values() {
                total.merge(day);
            }
        }
        None => {
            for task in task_rollups::completed_tasks(conn, project_id, window.since, window.until)?
            {
                total.add(&task);
            }
        }
    }
    Ok(total)
}

/// The project's price per runner label, and its currency.
pub fn rate_table(conn: &mut DbConnection, project_id: i64) -> QueryResult<(RateTable, String)> {
    let rows: Vec<(String, i64, String)> = runner_rates::table
        .filter(runner_rates::project_id.eq(project_id))
        .select((
            runner_rates::runner_label,
            runner_rates::micros_per_minute,
            runner_rates::currency,
        ))
        .load(conn)?;
    let currency = rows
        .first()
        .map_or_else(|| "USD".to_owned(), |r| r.2.clone());
    let per_minute_micros: HashMap<String, i64> = rows
        .into_iter()
        .map(|(label, micros, _)| (label, micros))
        .collect();
    // An empty label prices runners that have no rate of their own.
    let default_micros = per_minute_micros.get("").copied().unwrap_or(0);
    Ok((
        RateTable {
            per_minute_micros,
            default_micros,
        },
        currency,
    ))
}

/// Sets the price of one runner label (the empty label: every runner without its own).
pub fn set_rate(
    conn: &mut DbConnection,
    project_id: i64,
    label: &str,
    micros_per_minute: i64,
    currency: &str,
) -> QueryResult<()> {
    crate::per_backend!(conn, |c| diesel::insert_into(runner_rates::table)
        .values((
            runner_rates::project_id.eq(project_id),
            runner_rates::runner_label.eq(label),
            runner_rates::micros_per_minute.eq(micros_per_minute),
            runner_rates::currency.eq(currency),
        ))
        .on_conflict((runner_rates::project_id, runner_rates::runner_label))
        .do_update()
        .set((
            runner_rates::micros_per_minute.eq(micros_per_minute),
            runner_rates::currency.eq(currency),
        ))
        .execute(c))
    .map(drop)
}
