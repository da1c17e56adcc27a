//! The scoring job: one per project at a time, it scores the project's stored runs in
//! order, batch after batch, until none waits, and completes their store tasks in the same
//! transaction as their scores.

use std::sync::atomic::Ordering;

use chrono::NaiveDateTime;

use super::JobOutcome;
use crate::db::DbConnection;
use crate::metrics;
use crate::store::{deliveries, scores, task_rollups};
use crate::tasks::queue::{self, Ending};
use crate::tasks::{ClaimedTask, JobKind, Progress, WorkerContext};

/// Results scored per transaction: large enough that a burst of small runs shares one
/// read and one write of each state, small enough that SQLite's writers wait briefly.
pub const BATCH_RESULTS: u64 = 20_000;
/// Tries a scoring job gets before a storage error is taken as permanent.
const MAX_CLAIMS: i32 = 5;

/// Asks for the project's runs to be scored; a no-op when a scorer is already waiting.
pub fn enqueue(
    conn: &mut DbConnection,
    project_id: i64,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    queue::enqueue(
        conn,
        JobKind::Score,
        Some(project_id),
        &format!("project:{project_id}"),
        now,
    )
}

/// Asks for a scoring job for each project whose rescore was requested (a job rescores
/// before it scores); returns how many were asked for.
pub fn enqueue_requested_rescores(conn: &mut DbConnection) -> diesel::QueryResult<usize> {
    use crate::db::schema::projects;
    use diesel::prelude::*;
    let waiting: Vec<i64> = projects::table
        .filter(projects::rescore_requested.eq(true))
        .select(projects::id)
        .load(conn)?;
    let now = now();
    let mut asked = 0;
    for project_id in waiting {
        asked += usize::from(enqueue(conn, project_id, now)?);
    }
    Ok(asked)
}

#[derive(Debug, thiserror::Error)]
enum ScoreError {
    #[error("lease lost")]
    LeaseLost,
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database: {0}")]
    Pool(#[from] r2d2::Error),
}

pub fn run(ctx: &WorkerContext, task: &ClaimedTask) -> JobOutcome {
    let mut progress = Progress::default();
    loop {
        if *ctx.hand_back_now.borrow() {
            return super::hand_back(ctx, task);
        }
        match score_batch(ctx, task) {
            Ok(Some(batch)) => {
                progress.records_seen += batch.results as i64;
                progress.records_stored += batch.runs as i64;
                note(ctx, &batch);
                for id in &batch.completed {
                    ctx.signals.task_changed(*id);
                }
                if batch.events > 0 {
                    ctx.signals.task_enqueued();
                }
            }
            Ok(None) => return super::end(ctx, task, Ending::Completed, progress),
            Err(ScoreError::LeaseLost) => return JobOutcome::LeaseLost,
            Err(err) if task.claim < MAX_CLAIMS => {
                tracing::warn!(error = %err, "scoring failed; requeueing the job");
                return super::hand_back(ctx, task);
            }
            Err(err) => {
                let error = format!("scoring failed {MAX_CLAIMS} times; the last error was: {err}");
                return super::end(ctx, task, Ending::Failed { error: &error }, progress);
            }
        }
    }
}

/// What one batch did.
struct Batch {
    runs: usize,
    results: u64,
    /// Store tasks completed, and how long each waited for scoring.
    completed: Vec<i64>,
    lags_ms: Vec<i64>,
    /// Test events recorded for the webhooks.
    events: usize,
}

/// Records the batch's test events for the webhooks (none when there are none), in the
/// scoring transaction so each is recorded exactly once, and asks for their delivery.
fn record_events(
    ctx: &WorkerContext,
    tx: &mut DbConnection,
    project_id: i64,
    scored: &scores::ScoredBatch,
    now: NaiveDateTime,
) -> diesel::QueryResult<usize> {
    if ctx.delivery.webhooks.is_empty() {
        return Ok(0);
    }
    let events = deliveries::record_status_changes(tx, project_id, &scored.status_changes)?;
    if events > 0 {
        super::deliver::enqueue(tx, now)?;
    }
    Ok(events)
}

/// Scores one batch in one transaction: the job's heartbeat (fenced by its claim), the
/// project's scoring lock, a requested rescore if any, then the oldest waiting runs.
/// `None` when nothing waits.
fn score_batch(ctx: &WorkerContext, task: &ClaimedTask) -> Result<Option<Batch>, ScoreError> {
    let mut conn = ctx.db.connection()?;
    let mut rescored = None;
    let batch = crate::db::write_transaction(&mut conn, |tx| {
        let now = now();
        if !queue::heartbeat(tx, task, now, ctx.lease)? {
            return Err(ScoreError::LeaseLost);
        }
        scores::lock_project(tx, task.project_id)?;
        if scores::rescore_requested(tx, task.project_id)? {
            rescored = Some(scores::rescore_project(
                tx,
                task.project_id,
                &ctx.analysis,
                now,
                |_, _| {},
            )?);
        }
        let scored = scores::score_pending(tx, task.project_id, &ctx.analysis, now, BATCH_RESULTS)?;
        if scored.run_ids.is_empty() {
            return Ok(None);
        }
        // Scored when the work is done, so the lag includes the scoring itself.
        let scored_at = self::now();
        let completed = queue::complete_scored(tx, &scored.run_ids, scored_at)?;
        task_rollups::add_completed(tx, &completed)?;
        let events = record_events(ctx, tx, task.project_id, &scored, now)?;
        Ok(Some(Batch {
            events,
            runs: scored.run_ids.len(),
            results: scored.results,
            completed: completed.iter().map(|task| task.id).collect(),
            lags_ms: completed
                .iter()
                .filter_map(|task| task.stored_at)
                .map(|stored_at| crate::tasks::millis_between(stored_at, scored_at))
                .collect(),
        }))
    })?;
    // Logged once committed: what it says is then there for every reader.
    if let Some(summary) = rescored {
        tracing::info!(
            project = task.project_id,
            runs = summary.runs,
            "rescored the project's history, as requested (a new default branch, or rollups to fill)"
        );
    }
    Ok(batch)
}

fn note(ctx: &WorkerContext, batch: &Batch) {
    let m = &ctx.metrics;
    m.tasks_finished[metrics::COMPLETED].fetch_add(batch.completed.len() as u64, Ordering::Relaxed);
    m.runs_scored
        .fetch_add(batch.runs as u64, Ordering::Relaxed);
    for lag in &batch.lags_ms {
        m.scoring_lag.observe_ms(*lag);
    }
    tracing::info!(runs = batch.runs, results = batch.results, "scored");
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
