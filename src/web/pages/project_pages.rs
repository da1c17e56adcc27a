//! A project's page (what is flaky, what is broken, how CI has been doing) and one test's
//! page (why flakewatch says what it says, since when, and how it fails).

use actix_web::{get, web, HttpResponse};
use askama::Template;
use chrono::Duration;

use super::render;
use crate::analysis::metrics::{self, Accuracy};
use crate::db::DbError;
use crate::error::ApiError;
use crate::store::ci_metrics::{self, Window};
use crate::store::projects;
use crate::store::run_views::{self, RunRow};
use crate::store::test_views::{self, TestDetail, TestFilter, TestSort, TestSummary};
use crate::web::access::Viewer;
use crate::web::{urls, AppState};

/// The window the project page's figures cover.
const WINDOW_DAYS: i64 = 30;

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    name: String,
    title: String,
    default_branch: String,
    counts: Vec<(String, i64)>,
    flaky: Vec<TestSummary>,
    broken: Vec<TestSummary>,
    runs: Vec<RunRow>,
    accuracy: Accuracy,
    window_days: i64,
}

impl ProjectPage {
    fn count(&self, status: &str) -> i64 {
        self.counts
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    }
}

#[get("/projects/{name}")]
pub async fn project_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = name.into_inner();
    let lookup = name.clone();
    let readable = viewer.can_read(&name);
    let page = state
        .db
        .run(move |conn| {
            // A project this viewer may not read does not exist for them.
            let Some(project) = projects::find(conn, &lookup)?.filter(|_| readable) else {
                return Ok(None);
            };
            let list = |conn: &mut _, status: &str| {
                test_views::list(
                    conn,
                    &TestFilter {
                        project_id: project.id,
                        status: Some(status.to_owned()),
                        job: None,
                        branch: None,
                        search: None,
                        sort: TestSort::Impact,
                        limit: 200,
                        owner: None,
                    },
                )
            };
            let flaky = list(conn, "flaky")?;
            let broken = list(conn, "broken")?;
            let window = Window {
                since: Some(chrono::Utc::now().naive_utc() - Duration::days(WINDOW_DAYS)),
                ..Window::default()
            };
            let records = ci_metrics::run_records(conn, project.id, &window)?;
            Ok::<_, DbError>(Some(ProjectPage {
                counts: test_views::count_by_status(conn, project.id)?,
                runs: run_views::recent(conn, project.id, 30)?
                    .into_iter()
                    .map(|run| RunRow {
                        build_url: urls::link_or_empty(run.build_url),
                        ..run
                    })
                    .collect(),
                accuracy: metrics::accuracy(&records),
                title: project.title().to_owned(),
                name: project.name,
                default_branch: project.default_branch,
                flaky,
                broken,
                window_days: WINDOW_DAYS,
            }))
        })
        .await
        .map_err(ApiError::storage)?
        .ok_or_else(|| ApiError::not_found(format!("there is no project `{name}`")))?;
    render(&page)
}

#[derive(Template)]
#[template(path = "test.html")]
struct TestPage {
    project: String,
    detail: TestDetail,
}

#[get("/projects/{name}/tests/{id}")]
pub async fn test_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (project, id) = path.into_inner();
    let lookup = project.clone();
    let readable = viewer.can_read(&project);
    let detail = state
        .db
        .run(move |conn| {
            let Some(found) = projects::find(conn, &lookup)?.filter(|_| readable) else {
                return Ok(None);
            };
            Ok::<_, DbError>(test_views::detail(conn, found.id, id, 100)?)
        })
        .await
        .map_err(ApiError::storage)?
        .ok_or_else(|| {
            ApiError::not_found(format!("project `{project}` has no scored test {id}"))
        })?;
    let mut detail = detail;
    for result in &mut detail.history {
        result.build_url = urls::link_or_empty(std::mem::take(&mut result.build_url));
    }
    render(&TestPage { project, detail })
}
