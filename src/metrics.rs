//! The process's own counters and histograms, rendered in Prometheus text format.
//! Queue depth is read from the database at scrape time instead (it is shared by replicas).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds, in seconds, of the latency histogram buckets.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    total_count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            total_count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
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

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let total = self.total_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
    }
}

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
    /// Renders everything, with `queue_depth` (status, count) read by the caller.
    pub fn render(&self, queue_depth: &[(String, i64)]) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP flakewatch_store_tasks Store tasks in the database, by status.\n# TYPE flakewatch_store_tasks gauge"
        );
        for status in crate::tasks::TaskStatus::ALL {
            let count = queue_depth
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(
                out,
                "flakewatch_store_tasks{{status=\"{}\"}} {count}",
                status.as_str()
            );
        }
        counter(
            &mut out,
            "flakewatch_uploads_received_total",
            "Uploads accepted by this process.",
            &self.uploads_received,
        );
        counter(
            &mut out,
            "flakewatch_uploads_duplicate_total",
            "Uploads that repeated an earlier one (client retries).",
            &self.uploads_duplicate,
        );
        counter(
            &mut out,
            "flakewatch_results_stored_total",
            "Test results stored by this process's workers.",
            &self.results_stored,
        );
        let _ = writeln!(
            out,
            "# HELP flakewatch_tasks_finished_total Store tasks this process's workers finished.\n# TYPE flakewatch_tasks_finished_total counter"
        );
        for (label, index) in [
            ("completed", COMPLETED),
            ("failed", FAILED),
            ("cancelled", CANCELLED),
        ] {
            let n = self.tasks_finished[index].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "flakewatch_tasks_finished_total{{status=\"{label}\"}} {n}"
            );
        }
        self.queue_time.render(
            &mut out,
            "flakewatch_task_queue_seconds",
            "Time store tasks waited from enqueue to start.",
        );
        self.store_latency.render(
            &mut out,
            "flakewatch_task_store_seconds",
            "Time store tasks took from start until their run was stored.",
        );
        counter(
            &mut out,
            "flakewatch_runs_scored_total",
            "Runs this process's scorers scored.",
            &self.runs_scored,
        );
        self.scoring_lag.render(
            &mut out,
            "flakewatch_scoring_lag_seconds",
            "Time runs waited from stored to scored.",
        );
        out
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: &AtomicU64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
        value.load(Ordering::Relaxed)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::default();
        metrics.queue_time.observe_ms(3);
        metrics.queue_time.observe_ms(700);
        metrics.queue_time.observe_ms(1_000_000);
        let text = metrics.render(&[("enqueued".into(), 4)]);
        assert!(
            text.contains("flakewatch_task_queue_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("flakewatch_task_queue_seconds_bucket{le=\"1\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("flakewatch_task_queue_seconds_bucket{le=\"+Inf\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("flakewatch_task_queue_seconds_count 3"),
            "{text}"
        );
        assert!(
            text.contains("flakewatch_store_tasks{status=\"enqueued\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("flakewatch_store_tasks{status=\"failed\"} 0"),
            "{text}"
        );
    }
}
