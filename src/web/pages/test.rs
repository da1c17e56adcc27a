//! One test's page: why flakewatch says what it says, since when, and how it fails, with
//! each result linked to its run.

use actix_web::{get, web, HttpResponse};
use askama::Template;

use super::params::segment;
use super::{load, render, PageError};
use crate::store::projects;
use crate::store::test_views::{self, TestDetail};
use crate::web::access::Viewer;
use crate::web::AppState;

/// Newest results shown.
const HISTORY: i64 = 100;

#[derive(Template)]
#[template(path = "test.html")]
struct TestPage {
    project: String,
    path: String,
    detail: TestDetail,
    /// The CSRF token of the quarantine forms, when the viewer may use them.
    quarantine_csrf: Option<String>,
}

#[get("/projects/{name}/tests/{id}")]
pub async fn test_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (project, raw_id) = path.into_inner();
    super::readable(&viewer, &project)?;
    let project_path = format!("/projects/{}", segment(&project));
    let not_found = |what: String| {
        PageError::not_found(what)
            .back_to(format!("{project_path}/tests"), "the tests of this project")
    };
    let Ok(id) = raw_id.parse::<i64>() else {
        return Err(not_found(format!(
            "there is no test `{raw_id}`: a test is named by its number"
        )));
    };
    let lookup = project.clone();
    let found = load(&state, move |conn| {
        let Some(found) = projects::find(conn, &lookup)? else {
            return Ok(None);
        };
        Ok(Some(test_views::detail(conn, found.id, id, HISTORY)?))
    })
    .await?;
    let detail = match found {
        None => {
            return Err(PageError::not_found(format!(
                "there is no project `{project}`"
            )))
        }
        Some(None) => {
            return Err(not_found(format!(
                "project `{project}` has no scored test {id}"
            )))
        }
        Some(Some(detail)) => detail,
    };
    render(&TestPage {
        quarantine_csrf: super::quarantine::form_token(&viewer, &project),
        project,
        path: project_path,
        detail,
    })
}
