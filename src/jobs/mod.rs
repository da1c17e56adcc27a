//! The queue's job kinds, one handler each, and the worker loop that runs them.
//!
//! - `store`: one upload's reports become a run (see `ingest`); its task then waits in
//!   `scoring` and a scoring job for the project is enqueued.
//! - `score`: advances the project's test states by its stored runs, in order, in batches,
//!   one scorer per project at a time; completes the store tasks of the runs it scored.
//! - `retention`: purges results and raw reports past their retention.

pub mod retention;
pub mod score;
mod store;
pub mod worker;

use crate::db::DbError;
use crate::tasks::queue::{self, Ending};
use crate::tasks::{ClaimedTask, JobKind, Progress, WorkerContext};

/// How a job's run ended, for the worker loop.
#[derive(Debug)]
pub enum JobOutcome {
    /// The job ended (completed, failed or cancelled) and its ending is recorded.
    Done,
    /// Rolled back and requeued: at shutdown, or after a storage error.
    HandedBack,
    /// Another worker holds the job now; everything was rolled back.
    LeaseLost,
    /// The job's thread itself died; the lease (or a restart) brings it back.
    Crashed(String),
}

/// Runs one claimed job with its kind's handler. Blocking: run it on the blocking pool.
pub fn run(ctx: &WorkerContext, task: &ClaimedTask) -> JobOutcome {
    match task.kind {
        JobKind::Store => store::run(ctx, task),
        JobKind::Score => score::run(ctx, task),
        JobKind::Retention => retention::run(ctx, task),
    }
}

/// Records how a job we still own ended.
fn end(
    ctx: &WorkerContext,
    task: &ClaimedTask,
    ending: Ending<'_>,
    progress: Progress,
) -> JobOutcome {
    let now = chrono::Utc::now().naive_utc();
    let recorded = ctx
        .db
        .pool
        .get()
        .map_err(DbError::from)
        .and_then(|mut conn| {
            queue::finish(&mut conn, task, ending, now, progress, &[]).map_err(DbError::from)
        });
    match recorded {
        Ok(true) => JobOutcome::Done,
        Ok(false) => JobOutcome::LeaseLost,
        Err(err) => JobOutcome::Crashed(err.to_string()),
    }
}

/// Gives a job back to the queue (shutdown, or a storage error worth another try).
fn hand_back(ctx: &WorkerContext, task: &ClaimedTask) -> JobOutcome {
    let handed = ctx
        .db
        .pool
        .get()
        .map_err(DbError::from)
        .and_then(|mut conn| queue::hand_back(&mut conn, task).map_err(DbError::from));
    match handed {
        Ok(true) => JobOutcome::HandedBack,
        Ok(false) => JobOutcome::LeaseLost,
        Err(err) => JobOutcome::Crashed(err.to_string()),
    }
}
