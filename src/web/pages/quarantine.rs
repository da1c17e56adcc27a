//! The test page's quarantine forms: an admin signed in with the project's admin token
//! quarantines a test (owner, reason, issue, days) or ends its quarantine. Each form
//! carries the session's CSRF token and must come from this dashboard.

use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::Deserialize;

use super::admin_form::{self, see_other};
use super::params::segment;
use super::{load, PageError};
use crate::error::ApiError;
use crate::store::projects;
use crate::store::quarantines::{self, NewQuarantine};
use crate::web::access::Viewer;
use crate::web::AppState;

/// Longest quarantine a form sets, in days.
const MAX_DAYS: i64 = 365;

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    issue_url: String,
    /// Empty: until removed.
    #[serde(default)]
    days: String,
}

#[derive(Deserialize)]
pub struct EndForm {
    #[serde(default)]
    csrf: String,
}

/// Checks the request may change quarantines of `project`.
fn allowed(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    project: &str,
    given: &str,
) -> Result<(), PageError> {
    admin_form::check(
        req,
        state,
        viewer,
        project,
        given,
        "`flakewatch quarantine add` does it from a shell",
    )
}

#[post("/projects/{name}/tests/{id}/quarantine")]
pub async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<(String, i64)>,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, PageError> {
    let (project, test_id) = path.into_inner();
    super::readable(&viewer, &project)?;
    allowed(&req, &state, &viewer, &project, &form.csrf)?;
    let back = test_path(&project, test_id);
    let now = chrono::Utc::now().naive_utc();
    let expires_at = match form.days.trim() {
        "" => None,
        days => match days.parse::<i64>() {
            Ok(n) if (1..=MAX_DAYS).contains(&n) => Some(now + Duration::days(n)),
            _ => {
                return Err(PageError::from(ApiError::bad_field(
                    "days",
                    format!("days is a whole number from 1 to {MAX_DAYS}, or empty for no end"),
                ))
                .back_to(back, "the test"))
            }
        },
    };
    let new = NewQuarantine::checked(&form.owner, &form.reason, &form.issue_url, expires_at)
        .map_err(|(field, message)| {
            PageError::from(ApiError::bad_field(field, message)).back_to(back.clone(), "the test")
        })?;
    let lookup = project.clone();
    let added = load(&state, move |conn| {
        let Some(found) = projects::find(conn, &lookup)? else {
            return Ok(None);
        };
        quarantines::add(conn, found.id, test_id, &new, now)
    })
    .await?;
    if added.is_none() {
        return Err(PageError::not_found(format!(
            "project `{project}` has no test {test_id}"
        )));
    }
    Ok(see_other(&back))
}

#[post("/projects/{name}/tests/{id}/quarantine/end")]
pub async fn end(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<(String, i64)>,
    form: web::Form<EndForm>,
) -> Result<HttpResponse, PageError> {
    let (project, test_id) = path.into_inner();
    super::readable(&viewer, &project)?;
    allowed(&req, &state, &viewer, &project, &form.csrf)?;
    let lookup = project.clone();
    let now = chrono::Utc::now().naive_utc();
    load(&state, move |conn| {
        let Some(found) = projects::find(conn, &lookup)? else {
            return Ok(false);
        };
        quarantines::remove(conn, found.id, test_id, now)
    })
    .await?;
    Ok(see_other(&test_path(&project, test_id)))
}

fn test_path(project: &str, test_id: i64) -> String {
    format!("/projects/{}/tests/{test_id}", segment(project))
}
