//! The store stage of a store task: raw report -> JUnit parser -> run, tests and results,
//! in one transaction that also marks the task stored (`scoring`) on PostgreSQL; on
//! SQLite in committed steps, a batch at a time, then one that publishes the run and marks
//! the task stored (see `store::staging`). Scoring is the next stage, a job of its own
//! (see `jobs::score`).

mod payload;
pub mod stored_text;
mod timing;
mod writer;

pub use payload::{check_entries, is_tar, PayloadError, MAX_ENTRIES, MAX_ENTRY_NAME_BYTES};

use chrono::NaiveDateTime;
use diesel::Connection;

use crate::db::{Backend, DbError};
use crate::junit::ParseError;
use crate::store::{staging, uploads};
use crate::tasks::queue::{self, Ending};
use crate::tasks::{ClaimedTask, Warning, WorkerContext};
use writer::RunWriter;

/// Tries a task gets before a storage error is taken as permanent.
const MAX_CLAIMS: i32 = 3;

/// How storing a task ended, for the worker to log and count.
#[derive(Debug)]
pub enum IngestOutcome {
    /// The run is stored; the task waits for its project's scorer.
    Stored {
        results: u64,
        timing: Timing,
    },
    /// The report was rejected; the task is `failed` with this message.
    Failed(String),
    Cancelled,
    /// Rolled back and requeued: at shutdown, or after a storage error.
    HandedBack,
    /// Another worker holds the task now; everything was rolled back.
    LeaseLost,
    /// The store thread itself died; the lease (or a restart) brings the task back.
    Crashed(String),
}

#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub queue_ms: i64,
    pub run_ms: i64,
}

/// Why a store attempt stopped short.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("{0}")]
    Rejected(String),
    #[error("cancelled")]
    Cancelled,
    #[error("handed back at shutdown")]
    HandBack,
    #[error("lease lost")]
    LeaseLost,
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database: {0}")]
    Pool(#[from] r2d2::Error),
}

/// Stores one claimed task. Blocking: run it on the blocking pool.
pub fn store(ctx: &WorkerContext, task: &ClaimedTask) -> IngestOutcome {
    let started = now();
    let (err, report) = match attempt_store(ctx, task, started) {
        Ok(summary) => {
            let timing = Timing {
                queue_ms: crate::tasks::millis_between(summary.enqueued_at, started),
                run_ms: crate::tasks::millis_between(started, now()),
            };
            return IngestOutcome::Stored {
                results: summary.results,
                timing,
            };
        }
        Err(failure) => *failure,
    };
    match err {
        IngestError::LeaseLost => IngestOutcome::LeaseLost,
        IngestError::HandBack => hand_back(ctx, task),
        IngestError::Cancelled => end(ctx, task, None, &report),
        IngestError::Parse(_) | IngestError::Payload(_) | IngestError::Rejected(_) => {
            end(ctx, task, Some(err.to_string()), &report)
        }
        IngestError::Db(_) | IngestError::Pool(_) if task.claim < MAX_CLAIMS => {
            tracing::warn!(error = %err, "storing failed; requeueing the task");
            hand_back(ctx, task)
        }
        IngestError::Db(_) | IngestError::Pool(_) => {
            let error = format!("storing failed {MAX_CLAIMS} times; the last error was: {err}");
            end(ctx, task, Some(error), &report)
        }
    }
}

/// What a failed attempt still reports: the warnings and progress so far.
#[derive(Default)]
pub struct PartialReport {
    pub warnings: Vec<Warning>,
    pub progress: crate::tasks::Progress,
}

pub struct StoreSummary {
    pub results: u64,
    pub enqueued_at: NaiveDateTime,
}

fn attempt_store(
    ctx: &WorkerContext,
    task: &ClaimedTask,
    started: NaiveDateTime,
) -> Result<StoreSummary, Box<(IngestError, PartialReport)>> {
    let no_report = |err: IngestError| Box::new((err, PartialReport::default()));
    let mut conn = ctx.db.connection().map_err(|e| no_report(e.into()))?;
    let mut upload =
        uploads::load_for_ingest(&mut conn, task.upload_id).map_err(|e| no_report(e.into()))?;
    let payload = upload.compressed.take().ok_or_else(|| {
        no_report(IngestError::Rejected(
            "the raw report was deleted before it could be stored; upload it again".into(),
        ))
    })?;
    // Check-ins (and, on PostgreSQL, shared identities) use a second connection, outside
    // the store transaction.
    let mut side = ctx.db.connection().map_err(|e| no_report(e.into()))?;
    let mut writer = RunWriter::new(ctx, task, &upload, started);
    let stored = match ctx.db.backend {
        Backend::Postgres => (*conn).transaction(|tx| writer.write(tx, &mut side, &payload)),
        // SQLite's one write lock is held a step at a time, not for the whole store.
        Backend::Sqlite => writer.write_in_steps(&mut conn, &mut side, &payload),
    };
    match stored {
        Ok(results) => Ok(StoreSummary {
            results,
            enqueued_at: upload.enqueued_at,
        }),
        Err(err) => Err(Box::new((err, writer.partial_report()))),
    }
}

/// Records that the task failed with `error`, or was cancelled when there is none. The
/// store transaction was rolled back (on SQLite, what was staged is discarded in the same
/// transaction as the ending), so this is a write of its own.
fn end(
    ctx: &WorkerContext,
    task: &ClaimedTask,
    error: Option<String>,
    report: &PartialReport,
) -> IngestOutcome {
    let ending = match &error {
        Some(error) => Ending::Failed { error },
        None => Ending::Cancelled,
    };
    let recorded = ctx
        .db
        .connection()
        .map_err(DbError::from)
        .and_then(|mut conn| {
            crate::db::write_transaction(&mut conn, |tx| {
                let ended =
                    queue::finish(tx, task, ending, now(), report.progress, &report.warnings)?;
                if ended {
                    staging::discard(tx, task.id)?;
                }
                Ok::<_, diesel::result::Error>(ended)
            })
            .map_err(DbError::from)
        });
    match recorded {
        Ok(true) => error.map_or(IngestOutcome::Cancelled, IngestOutcome::Failed),
        Ok(false) => IngestOutcome::LeaseLost,
        Err(err) => IngestOutcome::Crashed(err.to_string()),
    }
}

fn hand_back(ctx: &WorkerContext, task: &ClaimedTask) -> IngestOutcome {
    let handed = ctx
        .db
        .connection()
        .map_err(DbError::from)
        .and_then(|mut conn| {
            crate::db::write_transaction(&mut conn, |tx| {
                let handed = queue::hand_back(tx, task)?;
                if handed {
                    staging::discard(tx, task.id)?;
                }
                Ok::<_, diesel::result::Error>(handed)
            })
            .map_err(DbError::from)
        });
    match handed {
        Ok(true) => IngestOutcome::HandedBack,
        Ok(false) => IngestOutcome::LeaseLost,
        Err(err) => IngestOutcome::Crashed(err.to_string()),
    }
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
