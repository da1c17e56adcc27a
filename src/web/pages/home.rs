//! `/`: every project the viewer may read, with its health over its last 30 days of data:
//! flaky and broken tests, false-alarm share, time to feedback and cost, each with a
//! sparkline of its days.

use std::sync::Arc;

use actix_web::{get, web, HttpResponse};
use askama::Template;
use diesel::QueryResult;

use super::trends::{self, Trends};
use super::window::{Days, WindowQuery};
use super::{load, render, PageError};
use crate::analysis::metrics;
use crate::analysis::summary::Summary;
use crate::db::{Backend, DbConnection};
use crate::error::ApiError;
use crate::store::projects::{self, ProjectOverview};
use crate::store::window_rollups::{self, DayRange};
use crate::store::{ci_metrics, run_views, test_views};
use crate::web::access::Viewer;
use crate::web::charts::sparkline;
use crate::web::page_cache::PageKey;
use crate::web::AppState;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    backend: Backend,
    projects: Vec<Health>,
}

/// One project's row.
#[derive(Clone)]
struct Health {
    overview: ProjectOverview,
    flaky: i64,
    broken: i64,
    /// The window the figures cover (`None`: no run yet).
    days: Option<Days>,
    red_runs: usize,
    false_alarm_share: f64,
    feedback_p50: Option<f64>,
    minutes: f64,
    /// Cost in money, when the project prices its runners.
    money: Option<String>,
    sparks: Sparks,
}

/// Inline SVGs, empty when there is nothing to draw.
#[derive(Clone, Default)]
struct Sparks {
    flaky: String,
    broken: String,
    false_alarms: String,
    feedback: String,
    cost: String,
}

impl Health {
    fn path(&self) -> String {
        format!(
            "/projects/{}",
            super::params::segment(&self.overview.project.name)
        )
    }
}

#[get("/")]
pub async fn home_page(
    state: web::Data<AppState>,
    viewer: Viewer,
) -> Result<HttpResponse, PageError> {
    let known = state
        .caches
        .known_projects
        .all(&state.db)
        .await
        .map_err(ApiError::storage)?;
    // Each project's row is kept by its own data version: only missing rows are computed.
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    for (project, data_version) in known.all() {
        if !viewer.can_read(&project.name) {
            continue;
        }
        let key = PageKey {
            page: "home",
            project_id: project.id,
            data_version,
            query: String::new(),
        };
        match state.caches.pages.get::<Health>(&key) {
            Some(kept) => rows.push(Some((*kept).clone())),
            None => {
                missing.push((rows.len(), project.clone(), key));
                rows.push(None);
            }
        }
    }
    if !missing.is_empty() {
        let cache = state.caches.pages.clone();
        let computed = load(&state, move |conn| {
            let mut computed = Vec::new();
            for (at, project, key) in missing {
                let overview = projects::overview(conn, project)?;
                let row = health(conn, overview)?;
                cache.put(key, Arc::new(row.clone()));
                computed.push((at, row));
            }
            Ok(computed)
        })
        .await?;
        for (at, row) in computed {
            rows[at] = Some(row);
        }
    }
    render(&HomePage {
        backend: state.db.backend,
        projects: rows.into_iter().flatten().collect(),
    })
}

/// The project's figures over the project page's default window.
fn health(conn: &mut DbConnection, overview: ProjectOverview) -> QueryResult<Health> {
    let id = overview.project.id;
    let counts = test_views::count_by_status(conn, id)?;
    let count = |wanted: &str| {
        counts
            .iter()
            .find(|(status, _)| status == wanted)
            .map_or(0, |(_, n)| *n)
    };
    let (flaky, broken) = (count("flaky"), count("broken"));
    let newest = run_views::newest_start(conn, id)?;
    let window = WindowQuery {
        days: None,
        since: None,
        until: None,
        branch: None,
        job: None,
    };
    let days = window.days(newest);
    let range = DayRange {
        first: Some(days.first),
        last: Some(days.last),
        ..DayRange::default()
    };
    let by_day = window_rollups::by_day(conn, id, &range)?;
    let mut summary = Summary::default();
    by_day.values().for_each(|day| summary.merge(day));
    let (rates, currency) = ci_metrics::rate_table(conn, id)?;
    let accuracy = metrics::accuracy(&summary);
    let cost = metrics::cost(&summary, &rates).total;
    let trends = trends::daily(&by_day, days, &rates);
    Ok(Health {
        flaky,
        broken,
        days: newest.map(|_| days),
        red_runs: accuracy.red_runs,
        false_alarm_share: accuracy.false_alarm_share,
        feedback_p50: metrics::promptness(&summary).per_pipeline.p50,
        minutes: cost.minutes,
        money: (cost.money_micros > 0)
            .then(|| format!("{:.2} {currency}", cost.money_micros as f64 / 1e6)),
        sparks: match newest {
            Some(_) => sparks(&trends, cost.money_micros > 0),
            // A project without runs has no days to draw.
            None => Sparks::default(),
        },
        overview,
    })
}

fn sparks(trends: &Trends, priced: bool) -> Sparks {
    let every = |values: Vec<f64>| values.into_iter().map(Some).collect::<Vec<_>>();
    let red = |pick: fn(&crate::web::charts::DayRed) -> usize| {
        every(trends.red.iter().map(|d| pick(d) as f64).collect())
    };
    // A day's share of false alarms among its red runs; no red run, no point.
    let shares = trends
        .red
        .iter()
        .map(|d| (d.total() > 0).then(|| d.false_alarms as f64 / d.total() as f64 * 100.0))
        .collect::<Vec<_>>();
    let (cost, cost_label) = if priced {
        (trends.money.clone(), "cost per day")
    } else {
        (trends.minutes.clone(), "runner minutes per day")
    };
    Sparks {
        flaky: sparkline(
            "failures of flaky tests per run, per day",
            &trends.flaky_per_run,
        ),
        broken: sparkline("red runs with a broken test, per day", &red(|d| d.broken)),
        false_alarms: sparkline("share of red runs that were false alarms, per day", &shares),
        feedback: sparkline(
            "median time to feedback in minutes, per day",
            &trends.feedback_p50,
        ),
        cost: sparkline(cost_label, &every(cost)),
    }
}
