//! The store job: the upload becomes a run (see `ingest`), then its project's scorer is
//! called for.

use std::sync::atomic::Ordering;

use super::JobOutcome;
use crate::db::DbError;
use crate::ingest::{self, IngestOutcome};
use crate::metrics;
use crate::tasks::{ClaimedTask, WorkerContext};

pub fn run(ctx: &WorkerContext, task: &ClaimedTask) -> JobOutcome {
    tracing::info!("storing");
    let m = &ctx.metrics;
    match ingest::store(ctx, task) {
        IngestOutcome::Stored { results, timing } => {
            m.results_stored.fetch_add(results, Ordering::Relaxed);
            m.queue_time.observe_ms(timing.queue_ms);
            m.store_latency.observe_ms(timing.run_ms);
            tracing::info!(
                results,
                run_ms = timing.run_ms,
                "stored; waiting for scoring"
            );
            // Outside the store transaction, so concurrent stores of one project never wait
            // on each other for this row; if the process dies first, the lease keeper
            // enqueues the scorer instead.
            let enqueued = ctx
                .db
                .pool
                .get()
                .map_err(DbError::from)
                .and_then(|mut conn| {
                    let now = chrono::Utc::now().naive_utc();
                    super::score::enqueue(&mut conn, task.project_id, now).map_err(DbError::from)
                });
            match enqueued {
                Ok(_) => ctx.signals.task_enqueued(),
                Err(err) => {
                    tracing::warn!(error = %err, "could not enqueue scoring; the lease keeper will")
                }
            }
            JobOutcome::Done
        }
        IngestOutcome::Failed(error) => {
            m.tasks_finished[metrics::FAILED].fetch_add(1, Ordering::Relaxed);
            tracing::info!(%error, "report rejected");
            JobOutcome::Done
        }
        IngestOutcome::Cancelled => {
            m.tasks_finished[metrics::CANCELLED].fetch_add(1, Ordering::Relaxed);
            tracing::info!("cancelled");
            JobOutcome::Done
        }
        IngestOutcome::HandedBack => JobOutcome::HandedBack,
        IngestOutcome::LeaseLost => JobOutcome::LeaseLost,
        IngestOutcome::Crashed(error) => JobOutcome::Crashed(error),
    }
}
