//! `GET /metrics` in the Prometheus text format, encoded by prometheus-client: the
//! process's counters plus what is read from the database at scrape time.

use std::sync::Arc;

use actix_web::{get, web, HttpRequest, HttpResponse};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::AppState;
use crate::db::DbError;
use crate::error::ApiError;
use crate::metrics::{Histogram, Metrics};
use crate::store::project_gauges::{self, ProjectGauges};
use crate::tasks::queue;

#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::access::check_metrics(&req, &state.access)?;
    let now = chrono::Utc::now().naive_utc();
    let spool = state.spool.clone();
    let (queue_depth, backlog, projects, uploads_spooled) = state
        .db
        .run(move |conn| {
            let depth = queue::count_by_status(conn)?;
            let backlog = queue::scoring_backlog(conn, &queue::ProjectScope::All)?;
            let projects = project_gauges::load(conn, now)?;
            let spooled = match &spool {
                Some(spool) => spool.waiting()?,
                None => 0,
            };
            Ok::<_, DbError>((depth, backlog, projects, spooled))
        })
        .await
        .map_err(ApiError::storage)?;
    let scrape = Scrape {
        process: state.metrics.clone(),
        pool_wait: state.db.pool_wait.clone(),
        queue_depth,
        scoring_waiting: backlog.waiting,
        scoring_oldest_wait_seconds: backlog.oldest_stored_at.map_or(0.0, |at| {
            crate::tasks::millis_between(at, now) as f64 / 1000.0
        }),
        uploads_in_flight: state.upload_slots.in_flight(),
        uploads_spooled,
        projects,
    };
    let text = scrape.encode_text().map_err(|_| {
        ApiError::new(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "metrics_failed",
            "the metrics could not be encoded",
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type(prometheus_text::CONTENT_TYPE)
        .body(text))
}

/// Everything one scrape reports.
#[derive(Debug)]
struct Scrape {
    process: Arc<Metrics>,
    pool_wait: Arc<Histogram>,
    /// Store tasks by status, from the database.
    queue_depth: Vec<(String, i64)>,
    /// Runs stored and not yet scored, and how long the oldest has waited.
    scoring_waiting: i64,
    scoring_oldest_wait_seconds: f64,
    uploads_in_flight: usize,
    /// SQLite: uploads accepted into the spool, not yet in the database.
    uploads_spooled: i64,
    projects: Vec<ProjectGauges>,
}

impl Scrape {
    fn encode_text(self) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut text = String::with_capacity(4096);
        prometheus_text::encode(&mut text, &registry)?;
        Ok(text)
    }
}

/// One gauge family with a sample per project.
fn project_family<N>(
    encoder: &mut DescriptorEncoder,
    (name, help): (&str, &str),
    projects: &[ProjectGauges],
    value: impl Fn(&ProjectGauges) -> N,
) -> std::fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for gauge in projects {
        ConstGauge::new(value(gauge))
            .encode(family.encode_family(&[("project", gauge.project.as_str())])?)?;
    }
    Ok(())
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut tasks = encoder.encode_descriptor(
            "flakewatch_store_tasks",
            "Store tasks in the database, by status.",
            None,
            MetricType::Gauge,
        )?;
        for status in crate::tasks::TaskStatus::ALL {
            let count = self
                .queue_depth
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n);
            ConstGauge::new(count).encode(tasks.encode_family(&[("status", status.as_str())])?)?;
        }
        self.process.encode(&mut encoder)?;
        self.pool_wait.encode(
            &mut encoder,
            "flakewatch_db_pool_wait_seconds",
            "Time this process's database calls waited for a pooled connection.",
        )?;
        ConstGauge::new(self.scoring_waiting).encode(encoder.encode_descriptor(
            "flakewatch_scoring_runs_waiting",
            "Runs stored and not yet scored.",
            None,
            MetricType::Gauge,
        )?)?;
        ConstGauge::new(self.scoring_oldest_wait_seconds).encode(encoder.encode_descriptor(
            "flakewatch_scoring_oldest_wait_seconds",
            "How long the oldest run waiting for scoring has waited.",
            None,
            MetricType::Gauge,
        )?)?;
        ConstGauge::new(self.uploads_in_flight as i64).encode(encoder.encode_descriptor(
            "flakewatch_uploads_in_flight",
            "Upload bodies being received now.",
            None,
            MetricType::Gauge,
        )?)?;
        ConstGauge::new(self.uploads_spooled).encode(encoder.encode_descriptor(
            "flakewatch_uploads_spooled",
            "Uploads accepted into the SQLite spool and not yet moved into the database.",
            None,
            MetricType::Gauge,
        )?)?;
        let projects = &self.projects;
        project_family(
            &mut encoder,
            (
                "flakewatch_project_flaky_tests",
                "Tests whose status is flaky.",
            ),
            projects,
            |g| g.flaky,
        )?;
        project_family(
            &mut encoder,
            (
                "flakewatch_project_broken_tests",
                "Tests whose status is broken.",
            ),
            projects,
            |g| g.broken,
        )?;
        project_family(
            &mut encoder,
            (
                "flakewatch_project_red_run_share",
                "Share of the project's runs of the last 30 days that were red.",
            ),
            projects,
            |g| g.red_run_share,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape() -> String {
        let process = Metrics::default();
        process.queue_time.observe_ms(3);
        process.queue_time.observe_ms(700);
        process.queue_time.observe_ms(1_000_000);
        let pool_wait = Histogram::new();
        pool_wait.observe_ms(1_500);
        Scrape {
            process: Arc::new(process),
            pool_wait: Arc::new(pool_wait),
            queue_depth: vec![("enqueued".into(), 4)],
            scoring_waiting: 3,
            scoring_oldest_wait_seconds: 1.5,
            uploads_in_flight: 2,
            uploads_spooled: 5,
            projects: vec![ProjectGauges {
                project: "shop\"x".into(),
                flaky: 3,
                broken: 1,
                red_run_share: 0.25,
            }],
        }
        .encode_text()
        .unwrap()
    }

    #[test]
    fn every_family_is_encoded_with_its_samples() {
        let text = scrape();
        for sample in [
            "flakewatch_store_tasks{status=\"enqueued\"} 4\n",
            "flakewatch_store_tasks{status=\"failed\"} 0\n",
            "flakewatch_store_tasks{status=\"scoring\"} 0\n",
            "flakewatch_scoring_runs_waiting 3\n",
            "flakewatch_scoring_oldest_wait_seconds 1.5\n",
            "flakewatch_runs_scored_total 0\n",
            "flakewatch_uploads_received_total 0\n",
            "flakewatch_tasks_finished_total{status=\"completed\"} 0\n",
            "flakewatch_task_queue_seconds_bucket{le=\"0.005\"} 1\n",
            "flakewatch_task_queue_seconds_bucket{le=\"1\"} 2\n",
            "flakewatch_task_queue_seconds_bucket{le=\"+Inf\"} 3\n",
            "flakewatch_task_queue_seconds_count 3\n",
            "flakewatch_db_pool_wait_seconds_bucket{le=\"1\"} 0\n",
            "flakewatch_db_pool_wait_seconds_bucket{le=\"2.5\"} 1\n",
            "flakewatch_uploads_in_flight 2\n",
            "flakewatch_uploads_spooled 5\n",
            "flakewatch_project_flaky_tests{project=\"shop\\\"x\"} 3\n",
            "flakewatch_project_broken_tests{project=\"shop\\\"x\"} 1\n",
            "flakewatch_project_red_run_share{project=\"shop\\\"x\"} 0.25\n",
            "# TYPE flakewatch_project_flaky_tests gauge\n",
        ] {
            assert!(text.contains(sample), "{sample:?} missing from:\n{text}");
        }
    }
}
