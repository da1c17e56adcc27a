//! The process's own counters and histograms, encoded for `/metrics` through
//! prometheus-client when scraped. Queue depth and project figures are read from the
//! database then instead (they are shared by replicas; see `web::metrics`).

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

/// Upper bounds, in seconds, of the latency histogram buckets.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Debug)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    total_count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            total_count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.total_count.load(Ordering::Relaxed)
    }

    pub fn observe_ms(&self, millis: i64) {
        let seconds = millis.max(0) as f64 / 1000.0;
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.total_count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(millis.max(0) as u64 * 1000, Ordering::Relaxed);
    }

    pub fn encode(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
    ) -> std::fmt::Result {
        let total = self.total_count.load(Ordering::Relaxed);
        let mut in_buckets = 0;
        let mut buckets: Vec<(f64, u64)> = BUCKETS
            .iter()
            .zip(&self.counts)
            .map(|(bound, count)| {
                let count = count.load(Ordering::Relaxed);
                in_buckets += count;
                (*bound, count)
            })
            .collect();
        // Observations past the last bound are only in the total.
        buckets.push((f64::INFINITY, total.saturating_sub(in_buckets)));
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        encoder
            .encode_descriptor(name, help, None, MetricType::Histogram)?
            .encode_histogram::<NoLabelSet>(sum, total, &buckets, None)
    }
}

#[derive(Debug)]
pub struct Metrics {
    pub uploads_received: AtomicU64,
    pub uploads_duplicate: AtomicU64,
    pub results_stored: AtomicU64,
    pub tasks_finished: [AtomicU64; 3],
    pub queue_time: Histogram,
    pub store_latency: Histogram,
    pub runs_scored: AtomicU64,
    /// From a run stored to its scoring.
    pub scoring_lag: Histogram,
}

/// Index into `tasks_finished`.
pub const COMPLETED: usize = 0;
pub const FAILED: usize = 1;
pub const CANCELLED: usize = 2;

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            uploads_received: AtomicU64::new(0),
            uploads_duplicate: AtomicU64::new(0),
            results_stored: AtomicU64::new(0),
            tasks_finished: std::array::from_fn(|_| AtomicU64::new(0)),
            queue_time: Histogram::new(),
            store_latency: Histogram::new(),
            runs_scored: AtomicU64::new(0),
            scoring_lag: Histogram::new(),
        }
    }
}

impl Metrics {
    /// Encodes every counter and histogram of the process.
    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        // prometheus-client adds `_total` to counter names.
        counter(
            encoder,
            "flakewatch_uploads_received",
            "Uploads accepted by this process.",
            &self.uploads_received,
        )?;
        counter(
            encoder,
            "flakewatch_uploads_duplicate",
            "Uploads that repeated an earlier one (client retries).",
            &self.uploads_duplicate,
        )?;
        counter(
            encoder,
            "flakewatch_results_stored",
            "Test results stored by this process's workers.",
            &self.results_stored,
        )?;
        let mut finished = encoder.encode_descriptor(
            "flakewatch_tasks_finished",
            "Store tasks this process's workers finished.",
            None,
            MetricType::Counter,
        )?;
        for (status, index) in [
            ("completed", COMPLETED),
            ("failed", FAILED),
            ("cancelled", CANCELLED),
        ] {
            let n = self.tasks_finished[index].load(Ordering::Relaxed);
            ConstCounter::new(n).encode(finished.encode_family(&[("status", status)])?)?;
        }
        self.queue_time.encode(
            encoder,
            "flakewatch_task_queue_seconds",
            "Time store tasks waited from enqueue to start.",
        )?;
        self.store_latency.encode(
            encoder,
            "flakewatch_task_store_seconds",
            "Time store tasks took from start until their run was stored.",
        )?;
        counter(
            encoder,
            "flakewatch_runs_scored",
            "Runs this process's scorers scored.",
            &self.runs_scored,
        )?;
        self.scoring_lag.encode(
            encoder,
            "flakewatch_scoring_lag_seconds",
            "Time runs waited from stored to scored.",
        )
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: &AtomicU64,
) -> std::fmt::Result {
    ConstCounter::new(value.load(Ordering::Relaxed)).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}
