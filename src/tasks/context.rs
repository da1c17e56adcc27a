//! What every job handler is given: the database, the process's signals and metrics, and
//! the worker settings that shape a job's work.

use std::sync::Arc;

use tokio::sync::watch;

use super::signals::Signals;
use super::{JobKind, Progress};
use crate::db::Database;
use crate::metrics::Metrics;

/// Everything a worker needs, shared by the workers of one process.
pub struct WorkerContext {
    pub db: Database,
    pub signals: Arc<Signals>,
    pub metrics: Arc<Metrics>,
    pub lease: chrono::Duration,
    pub report_retention: chrono::Duration,
    /// Results older than this are purged by the retention job (none: kept for ever).
    pub result_retention: Option<chrono::Duration>,
    pub max_report_bytes: u64,
    /// Longest name stored (see `ingest::stored_text`).
    pub max_name_bytes: usize,
    /// Most test cases one upload may store (see `ingest::writer`).
    pub max_cases_per_upload: u64,
    /// The job kinds this process claims.
    pub kinds: Vec<JobKind>,
    /// Turns true when the shutdown grace period is over: in-flight tasks stop at their
    /// next batch, roll back and go back to the queue.
    pub hand_back_now: watch::Sender<bool>,
    /// Called after each stored batch, before the check-in. Tests use it to pause a worker
    /// at a known point; production leaves it unset.
    pub batch_observer: Option<BatchObserver>,
    /// The analyzer's tuning, applied when stored runs are scored.
    pub analysis: crate::analysis::Params,
    /// Where weekly reports and test events go.
    pub delivery: crate::config::DeliverySettings,
}

pub type BatchObserver = Box<dyn Fn(i64, Progress) + Send + Sync>;

impl WorkerContext {
    pub fn new(
        db: Database,
        signals: Arc<Signals>,
        metrics: Arc<Metrics>,
        settings: &crate::config::WorkerSettings,
    ) -> Arc<WorkerContext> {
        let days = settings.result_retention_days.min(100_000) as i64;
        Arc::new(WorkerContext {
            db,
            signals,
            metrics,
            lease: chrono::Duration::seconds(settings.lease_seconds as i64),
            report_retention: chrono::Duration::hours(settings.report_retention_hours as i64),
            result_retention: (days > 0).then(|| chrono::Duration::days(days)),
            max_report_bytes: settings.max_report_bytes,
            max_name_bytes: settings.max_name_bytes as usize,
            max_cases_per_upload: settings.max_cases_per_upload,
            kinds: settings.job_kinds(),
            hand_back_now: watch::Sender::new(false),
            batch_observer: None,
            analysis: crate::analysis::Params::default(),
            delivery: settings.delivery.clone(),
        })
    }
}
