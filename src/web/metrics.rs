//! `GET /metrics` in Prometheus text format.

use std::fmt::Write;

use actix_web::{get, web, HttpRequest, HttpResponse};

use super::AppState;
use crate::db::DbError;
use crate::error::ApiError;
use crate::store::project_gauges::{self, ProjectGauges};
use crate::tasks::queue;

#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::access::check_metrics(&req, &state.access)?;
    let now = chrono::Utc::now().naive_utc();
    let (depth, backlog, projects) = state
        .db
        .run(move |conn| {
            let depth = queue::count_by_status(conn)?;
            let backlog = queue::scoring_backlog(conn, None)?;
            let projects = project_gauges::load(conn, now)?;
            Ok::<_, DbError>((depth, backlog, projects))
        })
        .await
        .map_err(ApiError::storage)?;
    let mut text = state.metrics.render(&depth);
    let oldest_wait = backlog.oldest_stored_at.map_or(0.0, |at| {
        crate::tasks::millis_between(at, now) as f64 / 1000.0
    });
    let _ = writeln!(
        text,
        "# HELP flakewatch_scoring_runs_waiting Runs stored and not yet scored.\n\
         # TYPE flakewatch_scoring_runs_waiting gauge\n\
         flakewatch_scoring_runs_waiting {}\n\
         # HELP flakewatch_scoring_oldest_wait_seconds How long the oldest run waiting for scoring has waited.\n\
         # TYPE flakewatch_scoring_oldest_wait_seconds gauge\n\
         flakewatch_scoring_oldest_wait_seconds {oldest_wait:.3}",
        backlog.waiting
    );
    let _ = writeln!(
        text,
        "# HELP flakewatch_uploads_in_flight Upload bodies being received now.\n\
         # TYPE flakewatch_uploads_in_flight gauge\n\
         flakewatch_uploads_in_flight {}",
        state.upload_slots.in_flight()
    );
    render_projects(&mut text, &projects);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// A gauge family: name, help text, and its sample of one project.
type Family = (&'static str, &'static str, fn(&ProjectGauges) -> String);

/// One gauge family per figure, a sample per project.
fn render_projects(out: &mut String, projects: &[ProjectGauges]) {
    let families: [Family; 3] = [
        (
            "flakewatch_project_flaky_tests",
            "Tests whose status is flaky.",
            |g| g.flaky.to_string(),
        ),
        (
            "flakewatch_project_broken_tests",
            "Tests whose status is broken.",
            |g| g.broken.to_string(),
        ),
        (
            "flakewatch_project_red_run_share",
            "Share of the project's runs of the last 30 days that were red.",
            |g| format!("{:.4}", g.red_run_share),
        ),
    ];
    for (name, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for gauge in projects {
            let _ = writeln!(
                out,
                "{name}{{project=\"{}\"}} {}",
                label(&gauge.project),
                value(gauge)
            );
        }
    }
}

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_gauges_render_one_family_each() {
        let mut out = String::new();
        render_projects(
            &mut out,
            &[ProjectGauges {
                project: "shop\"x".into(),
                flaky: 3,
                broken: 1,
                red_run_share: 0.25,
            }],
        );
        assert!(out.contains("# TYPE flakewatch_project_flaky_tests gauge\n"));
        assert!(
            out.contains("flakewatch_project_flaky_tests{project=\"shop\\\"x\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("flakewatch_project_broken_tests{project=\"shop\\\"x\"} 1\n"));
        assert!(out.contains("flakewatch_project_red_run_share{project=\"shop\\\"x\"} 0.2500\n"));
    }
}
