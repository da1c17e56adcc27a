//! Per-project figures for `/metrics`: what a dashboard alert would watch.

use chrono::{Duration, NaiveDateTime, NaiveTime};
use diesel::prelude::*;

use super::ci_metrics::{self, Window};
use super::projects::Project;
use super::test_views;
use crate::analysis::metrics;
use crate::db::schema::projects;
use crate::db::DbConnection;

/// Days of runs the red-run share covers (as on the project page): today and the days
/// before it, whole days (UTC), so the figure comes from the per-day rollups.
pub const WINDOW_DAYS: i64 = 30;

#[derive(Debug)]
pub struct ProjectGauges {
    pub project: String,
    pub flaky: i64,
    pub broken: i64,
    /// Red runs over all runs in the window (0 without runs).
    pub red_run_share: f64,
}

/// The gauges of every project, by name.
pub fn load(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<Vec<ProjectGauges>> {
    let all: Vec<Project> = projects::table
        .select(Project::as_select())
        .order(projects::name)
        .load(conn)?;
    let window = Window {
        since: Some((now.date() - Duration::days(WINDOW_DAYS - 1)).and_time(NaiveTime::MIN)),
        ..Window::default()
    };
    let mut gauges = Vec::with_capacity(all.len());
    for project in all {
        let counts = test_views::count_by_status(conn, project.id)?;
        let count = |status: &str| {
            counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n)
        };
        let accuracy = metrics::accuracy(&ci_metrics::summary(conn, project.id, &window)?);
        gauges.push(ProjectGauges {
            flaky: count("flaky"),
            broken: count("broken"),
            red_run_share: if accuracy.runs == 0 {
                0.0
            } else {
                accuracy.red_runs as f64 / accuracy.runs as f64
            },
            project: project.name,
        });
    }
    Ok(gauges)
}
