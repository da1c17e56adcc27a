//! The retention job: purges results past `--result-retention-days` (counted back from
//! each project's newest run) and raw reports past `--report-retention-hours`, in bounded
//! steps. It is a deduplicated job, enqueued by the lease keeper of any process at most
//! once an hour, so replicas never purge twice over.

use chrono::{Duration, NaiveDateTime};

use super::JobOutcome;
use crate::db::{DbConnection, DbError};
use crate::store::retention;
use crate::tasks::queue::{self, Ending};
use crate::tasks::{ClaimedTask, JobKind, Progress, WorkerContext};

/// How often retention runs.
const PERIOD_MINUTES: i64 = 60;
const DEDUPE_KEY: &str = "retention";

/// Enqueues the retention job unless one waits, runs, or ran within the period.
pub fn enqueue_when_due(conn: &mut DbConnection, now: NaiveDateTime) -> diesel::QueryResult<bool> {
    let period_start = now - Duration::minutes(PERIOD_MINUTES);
    if queue::pending_or_finished_since(conn, JobKind::Retention, period_start)? {
        return Ok(false);
    }
    queue::enqueue(conn, JobKind::Retention, None, DEDUPE_KEY, now)
}

pub fn run(ctx: &WorkerContext, task: &ClaimedTask) -> JobOutcome {
    let mut progress = Progress::default();
    let projects = match ctx.result_retention {
        None => Ok(Vec::new()),
        Some(_) => ctx
            .db
            .connection()
            .map_err(DbError::from)
            .and_then(|mut conn| retention::newest_scored_runs(&mut conn).map_err(DbError::from)),
    };
    let projects = match projects {
        Ok(projects) => projects,
        Err(err) => return failed(ctx, task, &err, progress),
    };
    for (project_id, newest) in projects {
        let keep = ctx.result_retention.unwrap_or_default();
        loop {
            if *ctx.hand_back_now.borrow() {
                return super::hand_back(ctx, task);
            }
            match purge_step(ctx, task, project_id, newest - keep) {
                Ok(Some(0)) => {
                    if let Err(err) = purge_spans(ctx, project_id, newest - keep) {
                        return failed(ctx, task, &err, progress);
                    }
                    break;
                }
                Ok(Some(purged)) => progress.records_stored += purged as i64,
                Ok(None) => return JobOutcome::LeaseLost,
                Err(err) => return failed(ctx, task, &err, progress),
            }
        }
    }
    let reports = ctx
        .db
        .connection()
        .map_err(DbError::from)
        .and_then(|mut conn| {
            // Staged results of stores that stopped for good (their worker died and the
            // task was not claimed again); a store that ends discards its own.
            crate::store::staging::discard_of_stopped_tasks(&mut conn)?;
            Ok(queue::purge_reports(
                &mut conn,
                now(),
                ctx.report_retention,
            )?)
        });
    match reports {
        Ok(reports) => tracing::info!(results = progress.records_stored, reports, "retention done"),
        Err(err) => tracing::warn!(error = %err, "could not purge old raw reports"),
    }
    super::end(ctx, task, Ending::Completed, progress)
}

fn failed(
    ctx: &WorkerContext,
    task: &ClaimedTask,
    err: &DbError,
    progress: Progress,
) -> JobOutcome {
    tracing::warn!(error = %err, "retention failed; it runs again within the hour");
    super::end(
        ctx,
        task,
        Ending::Failed {
            error: &err.to_string(),
        },
        progress,
    )
}

/// One bounded purge in its own transaction: results purged, `None` when the lease is
/// lost.
fn purge_step(
    ctx: &WorkerContext,
    task: &ClaimedTask,
    project_id: i64,
    cutoff: NaiveDateTime,
) -> Result<Option<usize>, DbError> {
    let mut conn = ctx.db.connection()?;
    let purged = crate::db::write_transaction(&mut conn, |tx| {
        if !queue::heartbeat(tx, task, now(), ctx.lease)? {
            return Ok(None);
        }
        retention::purge_results_step(tx, project_id, cutoff).map(Some)
    })?;
    Ok(purged)
}

/// The project's pipeline spans past the cutoff, in one statement (at most the spans of
/// an hour's pipelines, the job's period, once the first run has caught up).
fn purge_spans(ctx: &WorkerContext, project_id: i64, cutoff: NaiveDateTime) -> Result<(), DbError> {
    let mut conn = ctx.db.connection()?;
    retention::purge_pipeline_spans(&mut conn, project_id, cutoff)?;
    Ok(())
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
