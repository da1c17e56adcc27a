//! `GET /api/v1/projects/{p}/reports/weekly`: the weekly report in any of its formats.

use std::collections::HashMap;

use actix_web::{get, web, HttpRequest, HttpResponse};

use super::query;
use crate::db::DbError;
use crate::error::ApiError;
use crate::report::{self, Format, Period};
use crate::store::projects;
use crate::store::tokens::Scope;
use crate::web::{auth, AppState};

#[get("/projects/{project}/reports/weekly")]
pub async fn weekly(
    req: HttpRequest,
    state: web::Data<AppState>,
    project: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let token = auth::for_project(&req, &state, &project, Scope::Read).await?;
    let now = chrono::Utc::now().naive_utc();
    let format = match query::text(&query, "format") {
        None => Format::Json,
        Some(text) => Format::parse(&text).ok_or_else(|| {
            ApiError::bad_field(
                "format",
                format!("`format` is one of html, md, csv or json, not `{text}`"),
            )
        })?,
    };
    let since = query::time(&query, "since")?;
    let until = query::time(&query, "until")?;
    let period = match (query::text(&query, "week"), since, until) {
        (Some(week), None, None) => {
            Period::iso_week(&week).map_err(|m| ApiError::bad_field("week", m))?
        }
        (None, Some(since), Some(until)) => {
            Period::between(since, until).map_err(|m| ApiError::bad_field("until", m))?
        }
        (None, None, None) => Period::last_complete_week(now),
        _ => {
            return Err(ApiError::bad_field(
                "week",
                "give `week` (such as 2026-W47), or both `since` and `until`, or neither",
            ))
        }
    };
    let project_id = token.project_id;
    let (data, label) = state
        .db
        .run(move |conn| {
            let project = projects::find_by_id(conn, project_id)?;
            let label = format!("{}-{}", project.name, period.label);
            // Links relative to the dashboard this report came from.
            Ok::<_, DbError>((report::load(conn, &project, &period, "", now)?, label))
        })
        .await
        .map_err(ApiError::storage)?;
    let body = report::render(&data, format);
    let mut answer = HttpResponse::Ok();
    answer.content_type(format.content_type());
    if format != Format::Json {
        answer.insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{label}.{}\"", format.extension()),
        ));
    }
    Ok(answer.body(body))
}
