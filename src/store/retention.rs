//! Purging test results past their retention. Runs, scores and rollups stay: a test's
//! state already holds what its history taught, so purging changes no verdict. The spans
//! of pipelines that started before the cutoff go too: they are kept only so that a
//! pipeline's later jobs move its figures in the day rollups, and no job comes that late.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::schema::{pipeline_spans, results, runs};
use crate::db::DbConnection;

/// Runs whose results go per statement: bounded, so no transaction grows large.
const RUNS_PER_STEP: i64 = 50;

/// Each project with scored runs, and the start of its newest scored run: retention
/// counts back from there, so a project that pauses keeps its history.
pub fn newest_scored_runs(conn: &mut DbConnection) -> QueryResult<Vec<(i64, NaiveDateTime)>> {
    let rows: Vec<(i64, Option<NaiveDateTime>)> = runs::table
        .filter(runs::scored_at.is_not_null())
        .group_by(runs::project_id)
        .select((runs::project_id, diesel::dsl::max(runs::started_at)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(project, newest)| Some((project, newest?)))
        .collect())
}

/// Deletes the results of up to `RUNS_PER_STEP` scored runs of the project that started
/// before `cutoff`; returns how many results went (0: nothing is left to purge).
pub fn purge_results_step(
    conn: &mut DbConnection,
    project_id: i64,
    cutoff: NaiveDateTime,
) -> QueryResult<usize> {
    let with_results = diesel::dsl::exists(results::table.filter(results::run_id.eq(runs::id)));
    let old_runs: Vec<i64> = runs::table
        .filter(runs::project_id.eq(project_id))
        .filter(runs::started_at.lt(cutoff))
        .filter(runs::scored_at.is_not_null())
        .filter(with_results)
        .order(runs::started_at)
        .limit(RUNS_PER_STEP)
        .select(runs::id)
        .load(conn)?;
    if old_runs.is_empty() {
        return Ok(0);
    }
    let purged =
        diesel::delete(results::table.filter(results::run_id.eq_any(old_runs))).execute(conn)?;
    // Old runs' pages lose their results.
    super::data_versions::bump(conn, project_id)?;
    Ok(purged)
}

/// Deletes the project's pipeline spans that started before `cutoff`; returns how many.
pub fn purge_pipeline_spans(
    conn: &mut DbConnection,
    project_id: i64,
    cutoff: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::delete(
        pipeline_spans::table
            .filter(pipeline_spans::project_id.eq(project_id))
            .filter(pipeline_spans::started_at.lt(cutoff)),
    )
    .execute(conn)
}

/// The day of the project's newest scored run whose results were purged (a run that had
/// tests and has no results left), if any: what a rescore cannot replay.
pub fn newest_purged_day(
    conn: &mut DbConnection,
    project_id: i64,
) -> QueryResult<Option<NaiveDate>> {
    let with_results = diesel::dsl::exists(results::table.filter(results::run_id.eq(runs::id)));
    let newest: Option<NaiveDateTime> = runs::table
        .filter(runs::project_id.eq(project_id))
        .filter(runs::scored_at.is_not_null())
        .filter(runs::tests.gt(0))
        .filter(diesel::dsl::not(with_results))
        .select(diesel::dsl::max(runs::started_at))
        .first(conn)?;
    Ok(newest.map(|at| at.date()))
}
