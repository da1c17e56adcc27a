//! HTML pages, rendered with askama: one file per page, its template struct beside its
//! handler. Database work goes through `Database::run`; failures render `error.html`.

mod admin_form;
mod change;
mod commit;
mod error;
mod home;
mod params;
mod project;
mod quarantine;
mod reports;
mod run;
mod runs;
mod session_pages;
mod tasks;
mod test;
mod tests;
mod trends;
mod window;

pub use commit::commit_page;
pub use home::home_page;
pub use project::project_page;
pub use quarantine::{add as quarantine_add, end as quarantine_end};
pub use reports::{report_file, reports_page};
pub use run::run_page;
pub use runs::runs_page;
pub use session_pages::{login_page, sign_in, sign_out};
pub use tasks::{cancel_task, tasks_page};
pub use test::test_page;
pub use tests::tests_page;

use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::{get, HttpResponse};
use askama::Template;
use diesel::QueryResult;

use super::access::Viewer;
use super::page_cache::PageKey;
use super::AppState;
use crate::db::{DbConnection, DbError};
use crate::error::ApiError;
use crate::store::projects::Project;
use error::PageError;

/// The one stylesheet, compiled in so the binary serves the dashboard with no files around.
const STYLESHEET: &str = include_str!("../../../static/flakewatch.css");
/// The copy buttons' script, the only one (pages work without it).
const COPY_SCRIPT: &str = include_str!("../../../static/copy.js");
/// The tab icon, declared by the layout so browsers do not ask for a missing favicon.ico.
const FAVICON: &str = include_str!("../../../static/favicon.svg");

#[get("/static/flakewatch.css")]
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

#[get("/static/copy.js")]
pub async fn copy_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(COPY_SCRIPT)
}

#[get("/static/favicon.svg")]
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(FAVICON)
}

/// Runs `work` on a pooled connection; a database failure is a 503 page.
async fn load<T, F>(state: &AppState, work: F) -> Result<T, PageError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
{
    state
        .db
        .run(move |conn| work(conn).map_err(DbError::from))
        .await
        .map_err(|err| ApiError::storage(err).into())
}

/// The data of a project's page: kept from an earlier request when the project's data has
/// not changed since (same data version, same normalised query), else computed by `work`
/// (once for all the requests that miss it together) and kept. `None` when there is no
/// such project. The version is read before the data, so data is never older than the
/// version it is kept under.
async fn project_data<T, F>(
    state: &AppState,
    page: &'static str,
    project: &str,
    query: String,
    work: F,
) -> Result<Option<Arc<T>>, PageError>
where
    T: Send + Sync + 'static,
    F: FnOnce(&mut DbConnection, Project) -> QueryResult<T> + Send + 'static,
{
    let found = state
        .caches
        .known_projects
        .named(&state.db, project)
        .await
        .map_err(ApiError::storage)?;
    let Some((project, data_version)) = found else {
        return Ok(None);
    };
    let key = PageKey {
        page,
        project_id: project.id,
        data_version,
        query,
    };
    // Waiting for another request's computation holds no database connection.
    let compute = || load(state, move |conn| work(conn, project).map(Arc::new));
    state
        .caches
        .pages
        .get_or_compute(key, compute)
        .await
        .map(Some)
}

/// Nothing, or the 404 page when the viewer may not read the project: a project they may not
/// read does not exist for them (its name does not leak).
fn readable(viewer: &Viewer, name: &str) -> Result<(), PageError> {
    if viewer.can_read(name) {
        Ok(())
    } else {
        Err(PageError::not_found(format!(
            "there is no project `{name}`"
        )))
    }
}

/// What was found for the project named in the path, or the 404 page that names it.
fn project_or_404<T>(found: Option<T>, name: &str) -> Result<T, PageError> {
    found.ok_or_else(|| PageError::not_found(format!("there is no project `{name}`")))
}

fn render(page: &impl Template) -> Result<HttpResponse, PageError> {
    let html = page.render().map_err(|err| {
        tracing::error!(error = %err, "template failed to render");
        ApiError::new(
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
            "render_failed",
            "the page could not be rendered; the server log has the details",
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(html))
}
