//! The project's weekly reports: the last ISO weeks of its data, each to download in every
//! format (the same files `flakewatch report weekly` writes).

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::params::segment;
use super::{load, render, PageError};
use crate::db::schema::runs;
use crate::report::{self, Format, Period};
use crate::store::projects;
use crate::web::access::Viewer;
use crate::web::AppState;

/// Weeks listed.
const WEEKS: i64 = 12;

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    title: String,
    path: String,
    /// Newest first: the week and its runs.
    weeks: Vec<(Period, i64)>,
}

#[get("/projects/{name}/reports")]
pub async fn reports_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    name: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    super::readable(&viewer, &name)?;
    let lookup = name.clone();
    let found = load(&state, move |conn| {
        let Some(project) = projects::find(conn, &lookup)? else {
            return Ok(None);
        };
        let newest: Option<NaiveDateTime> = runs::table
            .filter(runs::project_id.eq(project.id))
            .select(diesel::dsl::max(runs::started_at))
            .first(conn)?;
        // The newest run's week and the ones before it, in data time (a quiet project
        // still lists its last active weeks).
        let mut weeks = Vec::new();
        if let Some(newest) = newest {
            let mut week = Period::last_complete_week(newest + Duration::days(7));
            for _ in 0..WEEKS {
                let count: i64 = runs::table
                    .filter(runs::project_id.eq(project.id))
                    .filter(runs::started_at.ge(week.since.0))
                    .filter(runs::started_at.lt(week.until.0))
                    .count()
                    .get_result(conn)?;
                let previous = week.previous();
                weeks.push((week, count));
                week = previous;
            }
        }
        Ok(Some((project.title().to_owned(), weeks)))
    })
    .await?;
    let Some((title, weeks)) = found else {
        return Err(PageError::not_found(format!(
            "there is no project `{name}`"
        )));
    };
    render(&ReportsPage {
        title,
        path: format!("/projects/{}", segment(&name)),
        weeks,
    })
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
