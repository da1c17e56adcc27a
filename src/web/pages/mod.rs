//! HTML pages, rendered with askama. Database work goes through `Database::run`.

mod project_pages;
mod session_pages;

pub use project_pages::{project_page, test_page};
pub use session_pages::{login_page, sign_in, sign_out};

use actix_web::http::header::ContentType;
use actix_web::{get, web, HttpResponse};
use askama::Template;

use super::access::Viewer;
use super::AppState;
use crate::db::{Backend, DbError};
use crate::error::ApiError;
use crate::store::projects::{self, ProjectOverview};
use crate::tasks::queue::{self, TaskFilter};
use crate::tasks::TaskView;

/// The one stylesheet, compiled in so the binary serves the dashboard with no files around.
const STYLESHEET: &str = include_str!("../../../static/flakewatch.css");

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    backend: Backend,
    projects: Vec<ProjectOverview>,
}

#[get("/")]
pub async fn home(state: web::Data<AppState>, viewer: Viewer) -> Result<HttpResponse, ApiError> {
    let mut projects = state
        .db
        .run(|conn| projects::list_overviews(conn).map_err(DbError::from))
        .await
        .map_err(ApiError::storage)?;
    projects.retain(|overview| viewer.can_read(&overview.project.name));
    let page = HomePage {
        backend: state.db.backend,
        projects,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct TasksPage {
    tasks: Vec<TaskView>,
}

/// Recent store tasks of every project: what operators check when uploads seem slow.
#[get("/tasks")]
pub async fn tasks(state: web::Data<AppState>, viewer: Viewer) -> Result<HttpResponse, ApiError> {
    let only: Option<Vec<String>> = viewer.admin_of()?.map(<[String]>::to_vec);
    let tasks = state
        .db
        .run(move |conn| {
            let now = chrono::Utc::now().naive_utc();
            let filter = TaskFilter {
                limit: 200,
                ..TaskFilter::default()
            };
            let Some(names) = only else {
                return queue::list(conn, &filter, now).map_err(DbError::from);
            };
            // An admin of some projects sees theirs only, newest first as for everyone.
            let mut tasks = Vec::new();
            for name in names {
                if let Some(project) = projects::find(conn, &name)? {
                    let filter = TaskFilter {
                        project_id: Some(project.id),
                        ..filter.clone()
                    };
                    tasks.extend(queue::list(conn, &filter, now)?);
                }
            }
            tasks.sort_by_key(|task| std::cmp::Reverse((task.received_at, task.id)));
            tasks.truncate(200);
            Ok(tasks)
        })
        .await
        .map_err(ApiError::storage)?;
    render(&TasksPage { tasks })
}

#[get("/static/flakewatch.css")]
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

fn render(page: &impl Template) -> Result<HttpResponse, ApiError> {
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
