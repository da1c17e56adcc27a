//! The rows CI-quality metrics are computed from: runs in a window, the store tasks'
//! timings, and the project's runner prices. The arithmetic is in `analysis::metrics`.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::window_rollups::{self, DayRange};
use crate::analysis::metrics::{RateTable, RunRecord};
use crate::analysis::summary::Summary;
use crate::db::schema::{runner_rates, runs, store_tasks};
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

/// How long the project's store tasks received in a window took, stage by stage (ms).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskTimings {
    /// Enqueued until a worker started storing.
    pub queue: Vec<f64>,
    /// Started until the run was stored (or the task failed).
    pub store: Vec<f64>,
    /// Stored until scored: the scoring lag.
    pub scoring: Vec<f64>,
}

/// Stage times of the project's store tasks received in the window.
pub fn task_timings(
    conn: &mut DbConnection,
    project_id: i64,
    window: &Window,
) -> QueryResult<TaskTimings> {
    let mut query = store_tasks::table
        .filter(store_tasks::project_id.eq(project_id))
        .filter(store_tasks::kind.eq(crate::tasks::JobKind::Store.as_str()))
        .select((
            store_tasks::enqueued_at,
            store_tasks::started_at,
            store_tasks::stored_at,
            store_tasks::scored_at,
            store_tasks::finished_at,
        ))
        .into_boxed();
    if let Some(since) = window.since {
        query = query.filter(store_tasks::received_at.ge(since));
    }
    if let Some(until) = window.until {
        query = query.filter(store_tasks::received_at.lt(until));
    }
    type Row = (
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<Row> = query.load(conn)?;
    let ms = |from: NaiveDateTime, to: NaiveDateTime| (to - from).num_milliseconds().max(0) as f64;
    let mut timings = TaskTimings::default();
    for (enqueued, started, stored, scored, finished) in rows {
        let Some(started) = started else { continue };
        timings.queue.push(ms(enqueued, started));
        if let Some(end) = stored.or(finished) {
            timings.store.push(ms(started, end));
        }
        if let (Some(stored), Some(scored)) = (stored, scored) {
            timings.scoring.push(ms(stored, scored));
        }
    }
    Ok(timings)
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
