//! The background half of a process: store workers and the notification listener, and
//! the order in which they stop.
//!
//! Shutdown is one-directional and never races a closed queue: the shutdown flag turns
//! true (workers stop claiming, long waits answer), in-flight tasks get a grace period to
//! finish, then are told to hand back at their next batch, and only when every worker has
//! returned does the process exit. Nothing is ever sent to a worker that may have gone.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::body_memory::BodyMemory;
use crate::config::WorkerSettings;
use crate::db::{Database, DatabaseTarget};
use crate::jobs::worker;
use crate::metrics::Metrics;
use crate::store::spool::Spool;
use crate::tasks::signals::{self, Signals};
use crate::tasks::spool_mover;
use crate::tasks::{BatchObserver, WorkerContext};

pub struct Background {
    pub signals: Arc<Signals>,
    /// SQLite: where accepted uploads wait for the database (see `store::spool`).
    pub spool: Option<Arc<Spool>>,
    pub metrics: Arc<Metrics>,
    pub shutdown: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    ctx: Arc<WorkerContext>,
    workers: JoinHandle<()>,
    listener: Option<JoinHandle<()>>,
    spool_mover: Option<JoinHandle<()>>,
    grace: Duration,
}

impl Background {
    /// Starts `worker_count` store workers and, on PostgreSQL, the listener that relays
    /// other processes' notifications; with a `spool` (SQLite), the task that moves
    /// spooled uploads into the database, within the `body_memory` it shares with the
    /// upload handlers. Call from inside a tokio runtime.
    pub fn start(
        db: &Database,
        settings: &WorkerSettings,
        worker_count: usize,
        batch_observer: Option<BatchObserver>,
        spool: Option<Spool>,
        body_memory: Arc<BodyMemory>,
    ) -> Background {
        let signals = Signals::new();
        let metrics = Arc::new(Metrics::default());
        let (stop, shutdown) = watch::channel(false);
        let listener = match &db.target {
            DatabaseTarget::Postgres(url) => Some(tokio::spawn(signals::listen_postgres(
                url.clone(),
                signals.clone(),
                db.changes.clone(),
                shutdown.clone(),
            ))),
            DatabaseTarget::Sqlite(_) => None,
        };
        let mut ctx = WorkerContext::new(db.clone(), signals.clone(), metrics.clone(), settings);
        Arc::get_mut(&mut ctx)
            .expect("the context is not shared yet")
            .batch_observer = batch_observer;
        let workers = tokio::spawn(worker::run(ctx.clone(), worker_count, shutdown.clone()));
        let spool = spool.map(Arc::new);
        let spool_mover = spool.as_ref().map(|spool| {
            tokio::spawn(spool_mover::run(
                spool.clone(),
                body_memory.clone(),
                db.clone(),
                signals.clone(),
                shutdown.clone(),
            ))
        });
        if worker_count > 0 {
            tracing::info!(workers = worker_count, "store workers started");
        }
        Background {
            signals,
            spool,
            metrics,
            shutdown,
            stop,
            ctx,
            workers,
            listener,
            spool_mover,
            grace: Duration::from_secs(settings.shutdown_grace_seconds),
        }
    }

    /// The workers' shared context (tests watch `hand_back_now` through it).
    pub fn worker_context(&self) -> Arc<WorkerContext> {
        self.ctx.clone()
    }

    /// Stops claiming and lets in-flight tasks finish within the grace period; past it,
    /// they roll back and go back to the queue. Returns when every worker has stopped.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        tracing::info!(
            grace_seconds = self.grace.as_secs(),
            "stopped claiming tasks; those in flight have the grace period to finish"
        );
        if tokio::time::timeout(self.grace, &mut self.workers)
            .await
            .is_err()
        {
            // The flag first: whoever reads the log line (a test, an operator) may rely on
            // in-flight tasks already being told to hand back.
            self.ctx.hand_back_now.send_replace(true);
            tracing::warn!("grace period over: handing in-flight tasks back to the queue");
            let _ = (&mut self.workers).await;
        }
        if let Some(listener) = self.listener.take() {
            let _ = listener.await;
        }
        // After the workers: a move waiting for their write lock gets it now.
        if let Some(mover) = self.spool_mover.take() {
            let _ = mover.await;
        }
        tracing::info!("store workers stopped");
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn termination_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the process");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => tracing::info!("SIGTERM received: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received: shutting down"),
    }
}
