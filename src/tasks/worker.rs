//! The worker loop: claim, store, repeat. An idle worker waits for a wake-up, never on a
//! timer; the only timers are the back-off after a database error and lease expiry.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument;

use super::queue;
use super::signals::Signals;
use super::Progress;
use crate::db::{Backend, Database, DbError};
use crate::ingest::{self, IngestOutcome};
use crate::metrics::{self, Metrics};

/// Everything a worker needs, shared by the workers of one process.
pub struct WorkerContext {
    pub db: Database,
    pub signals: Arc<Signals>,
    pub metrics: Arc<Metrics>,
    pub lease: chrono::Duration,
    pub report_retention: chrono::Duration,
    pub max_report_bytes: u64,
    /// Longest name stored (see `ingest::stored_text`).
    pub max_name_bytes: usize,
    /// Turns true when the shutdown grace period is over: in-flight tasks stop at their
    /// next batch, roll back and go back to the queue.
    pub hand_back_now: watch::Sender<bool>,
    /// Called after each stored batch, before the check-in. Tests use it to pause a worker
    /// at a known point; production leaves it unset.
    pub batch_observer: Option<BatchObserver>,
    /// The analyzer's tuning, applied when each stored run is scored.
    pub analysis: crate::analysis::Params,
}

pub type BatchObserver = Box<dyn Fn(i64, Progress) + Send + Sync>;

impl WorkerContext {
    pub fn new(
        db: Database,
        signals: Arc<Signals>,
        metrics: Arc<Metrics>,
        settings: &crate::config::WorkerSettings,
    ) -> Arc<WorkerContext> {
        Arc::new(WorkerContext {
            db,
            signals,
            metrics,
            lease: chrono::Duration::seconds(settings.lease_seconds as i64),
            report_retention: chrono::Duration::hours(settings.report_retention_hours as i64),
            max_report_bytes: settings.max_report_bytes,
            max_name_bytes: settings.max_name_bytes as usize,
            hand_back_now: watch::Sender::new(false),
            batch_observer: None,
            analysis: crate::analysis::Params::default(),
        })
    }
}

/// Runs `count` workers and the lease keeper until `shutdown` turns true and every
/// in-flight task is finished or handed back.
pub async fn run(ctx: Arc<WorkerContext>, count: usize, shutdown: watch::Receiver<bool>) {
    if ctx.db.backend == Backend::Sqlite {
        match ctx
            .db
            .run(|conn| queue::requeue_orphans(conn).map_err(DbError::from))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(tasks = n, "requeued tasks a previous process left running"),
            Err(err) => tracing::error!(error = %err, "could not requeue orphaned tasks"),
        }
    }
    let host = hostname();
    let mut workers = tokio::task::JoinSet::new();
    for index in 0..count {
        let name = format!("{host}:{}:{index}", std::process::id());
        workers.spawn(work(ctx.clone(), name, shutdown.clone()));
    }
    let keeper = tokio::spawn(keep_leases(ctx.clone(), shutdown.clone()));
    while workers.join_next().await.is_some() {}
    keeper.abort();
}

async fn work(ctx: Arc<WorkerContext>, name: String, mut shutdown: watch::Receiver<bool>) {
    tracing::debug!(worker = %name, "worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let woken = ctx.signals.task_available().notified();
        tokio::pin!(woken);
        woken.as_mut().enable();

        let lease = ctx.lease;
        let claimer = name.clone();
        let claimed = ctx
            .db
            .run(move |conn| {
                queue::claim(conn, &claimer, chrono::Utc::now().naive_utc(), lease)
                    .map_err(DbError::from)
            })
            .await;
        match claimed {
            Ok(Some(task)) => {
                ctx.signals.task_changed(task.id);
                let span = tracing::info_span!("store_task", task = task.id, worker = %name);
                run_task(&ctx, task).instrument(span).await;
                continue;
            }
            Ok(None) => {}
            Err(err) => {
                tracing::error!(worker = %name, error = %err, "could not claim a task; retrying");
                // Back off so a database outage is not hammered; a wake-up still ends it early.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
                continue;
            }
        }
        tokio::select! {
            _ = &mut woken => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
    tracing::debug!(worker = %name, "worker stopped");
}

async fn run_task(ctx: &Arc<WorkerContext>, task: super::ClaimedTask) {
    tracing::info!("storing");
    let task_id = task.id;
    let ctx_for_task = ctx.clone();
    let span = tracing::Span::current();
    let outcome =
        tokio::task::spawn_blocking(move || span.in_scope(|| ingest::store(&ctx_for_task, &task)))
            .await
            .unwrap_or_else(|err| IngestOutcome::Crashed(err.to_string()));
    let finished = match &outcome {
        IngestOutcome::Completed { results, timing } => {
            ctx.metrics
                .results_stored
                .fetch_add(*results, Ordering::Relaxed);
            ctx.metrics.tasks_finished[metrics::COMPLETED].fetch_add(1, Ordering::Relaxed);
            ctx.metrics.queue_time.observe_ms(timing.queue_ms);
            ctx.metrics.store_latency.observe_ms(timing.run_ms);
            tracing::info!(results, run_ms = timing.run_ms, "stored");
            true
        }
        IngestOutcome::Failed(error) => {
            ctx.metrics.tasks_finished[metrics::FAILED].fetch_add(1, Ordering::Relaxed);
            tracing::info!(%error, "report rejected");
            true
        }
        IngestOutcome::Cancelled => {
            ctx.metrics.tasks_finished[metrics::CANCELLED].fetch_add(1, Ordering::Relaxed);
            tracing::info!("cancelled");
            true
        }
        IngestOutcome::HandedBack => {
            tracing::info!("handed back to the queue at shutdown");
            ctx.signals.task_enqueued();
            false
        }
        IngestOutcome::LeaseLost => {
            tracing::warn!("lease lost to another worker; our work was rolled back");
            false
        }
        IngestOutcome::Crashed(error) => {
            tracing::error!(%error, "store task crashed; its lease will expire and it will run again");
            false
        }
    };
    // A cancel request that arrived too late has nothing left to stop.
    ctx.signals.task_stopped(task_id);
    if finished {
        ctx.signals.task_changed(task_id);
    }
}

/// Requeues tasks whose worker died (their lease expired) and purges old raw reports.
/// The one timer in the queue: leases can only expire with the passing of time.
async fn keep_leases(ctx: Arc<WorkerContext>, mut shutdown: watch::Receiver<bool>) {
    let period = (ctx.lease / 2).to_std().unwrap_or(Duration::from_secs(15));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let retention = ctx.report_retention;
        let result = ctx
            .db
            .run(move |conn| {
                let now = chrono::Utc::now().naive_utc();
                let requeued = queue::requeue_expired(conn, now)?;
                if requeued > 0 {
                    queue::notify(conn, queue::CHANNEL_ENQUEUED, "")?;
                }
                queue::purge_reports(conn, now, retention)?;
                Ok::<_, DbError>(requeued)
            })
            .await;
        match result {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(tasks = n, "requeued tasks whose worker stopped answering");
                ctx.signals.task_enqueued();
            }
            Err(err) => tracing::error!(error = %err, "lease check failed"),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
