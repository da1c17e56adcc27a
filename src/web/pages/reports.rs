//! The project's weekly reports: the last ISO weeks of its data, each to download in every
//! format (the same files `flakewatch report weekly` writes), and for admins how each
//! week's report was delivered.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::params::segment;
use super::{load, render, PageError};
use crate::db::schema::runs;
use crate::db::DbConnection;
use crate::report::{self, Format, Period};
use crate::store::deliveries::{self, DeliveryView, WeekDelivery};
use crate::store::projects::{self, Project};
use crate::store::window_rollups;
use crate::web::access::Viewer;
use crate::web::AppState;

/// Weeks listed at most.
const WEEKS: usize = 12;

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    title: String,
    path: String,
    /// Newest first.
    weeks: Vec<WeekRow>,
    /// Whether the viewer administers the project: then deliveries are shown.
    admin: bool,
    /// Whether any listed week's report was produced for delivery.
    any_sent: bool,
}

struct WeekRow {
    period: Period,
    /// False for the week in progress: its figures are so far, its report not yet sent.
    ended: bool,
    runs: i64,
    /// How the week's report was delivered, a line each: produced, then each webhook.
    sent: Vec<SentLine>,
}

struct SentLine {
    /// The status class: completed (delivered), running (pending), failed, or cancelled
    /// (nothing sent).
    class: &'static str,
    text: String,
}

/// A project's weeks as its data has them, kept by data version (`project_data`).
struct KeptWeeks {
    title: String,
    /// When the first run started (`None`: no run yet).
    first_run: Option<NaiveDateTime>,
    /// The newest run's week and the ones before it, newest first, with their runs.
    weeks: Vec<(Period, i64)>,
    /// How those weeks' reports were delivered (for admins); deliveries bump the version.
    delivered: HashMap<String, WeekDelivery>,
}

#[get("/projects/{name}/reports")]
pub async fn reports_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    name: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    super::readable(&viewer, &name)?;
    let admin = viewer.administers(&name);
    let kept = super::project_data(&state, "reports", &name, String::new(), |conn, project| {
        weeks_of(conn, &project)
    })
    .await?;
    let kept = super::project_or_404(kept, &name)?;
    let no_deliveries = HashMap::new();
    let delivered = if admin {
        &kept.delivered
    } else {
        &no_deliveries
    };
    let now = chrono::Utc::now().naive_utc();
    let weeks: Vec<WeekRow> = kept
        .weeks
        .iter()
        // Back to the week of the first run, and any earlier week whose report was sent.
        .filter(|(week, _)| {
            kept.first_run.is_some_and(|first| week.until.0 > first)
                || delivered.contains_key(&week.label)
        })
        .map(|(period, runs)| {
            let ended = period.until.0 <= now;
            WeekRow {
                sent: sent_lines(delivered.get(&period.label), ended),
                ended,
                period: period.clone(),
                runs: *runs,
            }
        })
        .collect();
    let any_sent = weeks
        .iter()
        .any(|w| w.sent.iter().any(|l| l.class != "cancelled"));
    render(&ReportsPage {
        title: kept.title.clone(),
        path: format!("/projects/{}", segment(&name)),
        weeks,
        admin,
        any_sent,
    })
}

/// The newest run's week and the `WEEKS - 1` before it, in data time (a quiet project still
/// lists its last active weeks), each with its runs added up from the per-day rollups.
fn weeks_of(conn: &mut DbConnection, project: &Project) -> QueryResult<KeptWeeks> {
    let (first_run, newest): (Option<NaiveDateTime>, Option<NaiveDateTime>) = runs::table
        .filter(runs::project_id.eq(project.id))
        .select((
            diesel::dsl::min(runs::started_at),
            diesel::dsl::max(runs::started_at),
        ))
        .first(conn)?;
    let mut weeks = Vec::new();
    if let Some(newest) = newest {
        let mut week = Period::last_complete_week(newest + Duration::days(7));
        for _ in 0..WEEKS {
            let previous = week.previous();
            weeks.push(week);
            week = previous;
        }
    }
    let runs_by_day = match (weeks.last(), weeks.first()) {
        (Some(oldest), Some(newest)) => window_rollups::runs_by_day(
            conn,
            project.id,
            oldest.since.0.date(),
            newest.until.0.date(),
        )?,
        _ => Default::default(),
    };
    let labels: Vec<String> = weeks.iter().map(|week| week.label.clone()).collect();
    let delivered = deliveries::weekly_reports(conn, project.id, &labels)?;
    let weeks = weeks
        .into_iter()
        .map(|week| {
            let (since, until) = (week.since.0.date(), week.until.0.date());
            let runs = runs_by_day.range(since..until).map(|(_, n)| n).sum();
            (week, runs)
        })
        .collect();
    Ok(KeptWeeks {
        title: project.title().to_owned(),
        first_run,
        weeks,
        delivered,
    })
}

/// What an admin reads of a week's delivery.
fn sent_lines(week: Option<&WeekDelivery>, ended: bool) -> Vec<SentLine> {
    let Some(week) = week else {
        let text = if ended {
            "not sent"
        } else {
            "the week has not ended yet"
        };
        return vec![SentLine {
            class: "cancelled",
            text: text.into(),
        }];
    };
    let mut lines = vec![SentLine {
        class: "completed",
        text: format!("produced {}", minute(&week.produced_at.0)),
    }];
    lines.extend(week.deliveries.iter().map(delivery_line));
    lines
}

fn delivery_line(d: &DeliveryView) -> SentLine {
    let attempts = crate::wording::agree(d.attempts as usize, "attempt", "attempts");
    let (class, what) = match d.status.as_str() {
        "delivered" => (
            "completed",
            format!(
                "delivered {} ({} {attempts})",
                d.delivered_at
                    .as_ref()
                    .map_or(String::new(), |at| minute(&at.0)),
                d.attempts
            ),
        ),
        "pending" => (
            "running",
            format!(
                "pending after {} {attempts}{}",
                d.attempts,
                d.next_attempt_at
                    .as_ref()
                    .map_or(String::new(), |at| format!(", next try {}", minute(&at.0)))
            ),
        ),
        _ => ("failed", format!("gave up after {} {attempts}", d.attempts)),
    };
    let error = d
        .last_error
        .as_deref()
        .map_or(String::new(), |e| format!("; last error: {e}"));
    SentLine {
        class,
        text: format!("{}: {what}{error}", d.webhook),
    }
}

fn minute(at: &NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// One week's report as a file to download (HTML included: its inline style is for mail
/// clients and files, and the dashboard's policy allows no inline style on its pages).
#[get("/projects/{name}/reports/{week}/{format}")]
pub async fn report_file(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, PageError> {
    let (name, week, format) = path.into_inner();
    super::readable(&viewer, &name)?;
    let back = format!("/projects/{}/reports", segment(&name));
    let period = Period::iso_week(&week).map_err(|m| {
        PageError::from(crate::error::ApiError::bad_field("week", m))
            .back_to(back.clone(), "the reports")
    })?;
    let format = Format::parse(&format).ok_or_else(|| {
        PageError::not_found(format!(
            "there is no `{format}` report: html, md, csv or json"
        ))
        .back_to(back, "the reports")
    })?;
    let lookup = name.clone();
    let now = chrono::Utc::now().naive_utc();
    let found = load(&state, move |conn| {
        let Some(project) = projects::find(conn, &lookup)? else {
            return Ok(None);
        };
        report::load(conn, &project, &period, "", now).map(Some)
    })
    .await?;
    let Some(data) = found else {
        return Err(PageError::not_found(format!(
            "there is no project `{name}`"
        )));
    };
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{name}-{}.{}\"",
                data.period.label,
                format.extension()
            ),
        ))
        .body(report::render(&data, format)))
}
