//! `/tasks`: the store queue for operators. How many tasks are in each status, queue and
//! store time per day, the newest tasks with their tokens, problems and warnings, filtered
//! by project and status; a signed-in admin of a task's project may cancel it.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Duration;
use serde::Deserialize;

use super::admin_form::{self, see_other};
use super::params::{self, PageQuery};
use super::window::Days;
use super::{load, render, trends, PageError};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::store::{projects, task_views};
use crate::tasks::queue::{self, TaskFilter};
use crate::tasks::{TaskStatus, TaskView};
use crate::web::access::Viewer;
use crate::web::api::tasks::{request_cancel, token_of};
use crate::web::charts::{self, Daily, Line};
use crate::web::AppState;

/// Tasks listed, newest first.
const SHOWN: i64 = 200;
/// Days the queue chart covers, up to today.
const CHART_DAYS: i64 = 30;

/// `?project=&status=`, validated and written back into links.
#[derive(Debug, Clone, Default)]
struct TasksQuery {
    project: Option<String>,
    status: Option<TaskStatus>,
}

impl TasksQuery {
    fn parse(query: &params::Query) -> Result<TasksQuery, PageError> {
        let statuses: Vec<(&str, TaskStatus)> =
            TaskStatus::ALL.iter().map(|s| (s.as_str(), *s)).collect();
        Ok(TasksQuery {
            project: params::text(query, "project"),
            status: params::choice(query, "status", &statuses)?,
        })
    }
}

struct Row {
    task: TaskView,
    token: String,
    /// The cancel form's CSRF token, when the viewer may cancel this task.
    cancel_csrf: Option<String>,
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct TasksPage {
    rows: Vec<Row>,
    /// Tasks per status (every status, zeros included) under the project filter.
    depth: Vec<(TaskStatus, i64)>,
    /// Runs stored and waiting for their project's scorer, and the oldest one's wait.
    runs_waiting: i64,
    oldest_wait_s: Option<i64>,
    /// SQLite: uploads accepted into the spool and not yet in the queue, all projects
    /// (shown to viewers who see every project's tasks; the spool is one for the server).
    spooled: Option<i64>,
    /// Projects the viewer may pick.
    projects: Vec<String>,
    query: TasksQuery,
    days: Days,
    chart: String,
}

impl TasksPage {
    fn statuses(&self) -> Vec<&'static str> {
        TaskStatus::ALL.iter().map(|s| s.as_str()).collect()
    }

    fn status_is(&self, status: &str) -> bool {
        self.query.status.map(TaskStatus::as_str) == Some(status)
    }

    /// The list filtered by one status, keeping the project.
    fn status_href(&self, status: &TaskStatus) -> String {
        params::link(
            "/tasks",
            &[
                ("project", self.query.project.clone().unwrap_or_default()),
                ("status", status.as_str().to_owned()),
            ],
        )
    }

    fn is_filtered(&self) -> bool {
        self.query.project.is_some() || self.query.status.is_some()
    }
}

#[get("/tasks")]
pub async fn tasks_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    PageQuery(query): PageQuery,
) -> Result<HttpResponse, PageError> {
    let only: Option<Vec<String>> = viewer.admin_of()?.map(<[String]>::to_vec);
    let query = TasksQuery::parse(&query).map_err(|err| err.back_to("/tasks", "every task"))?;
    if let Some(project) = &query.project {
        super::readable(&viewer, project)?;
    }
    let today = chrono::Utc::now().date_naive();
    let days = Days {
        first: today - Duration::days(CHART_DAYS - 1),
        last: today,
    };
    let wanted = query.clone();
    let spool = state.spool.clone().filter(|_| only.is_none());
    let (found, spooled) = load(&state, move |conn| {
        let spooled = spool.map(|spool| spool.waiting()).transpose()?;
        Ok((gather(conn, only, &wanted, days)?, spooled))
    })
    .await?;
    let Some((depth, tasks, timings, projects, backlog)) = found else {
        let name = query.project.unwrap_or_default();
        return Err(PageError::not_found(format!(
            "there is no project `{name}`"
        )));
    };
    let (queue, store) = trends::task_daily(&timings, days);
    let scoring = trends::scoring_daily(&timings, days);
    let chart = charts::daily_lines(&Daily {
        id: "queue-times",
        title: "Store queue time, store time and scoring lag per day (median seconds)",
        unit: "seconds",
        first: days.first,
        lines: vec![
            Line {
                name: "queue time",
                colour: charts::LINE,
                values: queue,
            },
            Line {
                name: "store time",
                colour: charts::SECOND,
                values: store,
            },
            Line {
                name: "scoring lag",
                colour: charts::OTHER,
                values: scoring,
            },
        ],
    });
    let rows = tasks
        .into_iter()
        .map(|task| Row {
            token: token_of(&state.task_key, &task),
            cancel_csrf: (!task.status.is_final())
                .then(|| admin_form::form_token(&viewer, &task.project))
                .flatten(),
            task,
        })
        .collect();
    let oldest_wait_s = backlog
        .oldest_stored_at
        .map(|at| crate::tasks::millis_between(at, chrono::Utc::now().naive_utc()) / 1000);
    render(&TasksPage {
        rows,
        depth,
        runs_waiting: backlog.waiting,
        oldest_wait_s,
        spooled,
        projects,
        query,
        days,
        chart,
    })
}

type Gathered = (
    Vec<(TaskStatus, i64)>,
    Vec<TaskView>,
    Vec<task_views::TaskTiming>,
    Vec<String>,
    queue::ScoringBacklog,
);

/// Everything the page shows, for the projects the viewer may see (`only`: these, else
/// all) under the filter; `None` when the filter names no such project.
fn gather(
    conn: &mut DbConnection,
    only: Option<Vec<String>>,
    query: &TasksQuery,
    days: Days,
) -> diesel::QueryResult<Option<Gathered>> {
    let every_project = only.is_none();
    let mut names: Vec<String> = match only {
        Some(names) => names,
        None => projects::list_overviews(conn)?
            .into_iter()
            .map(|o| o.project.name)
            .collect(),
    };
    names.sort();
    let picked: Vec<String> = match &query.project {
        Some(name) if !names.contains(name) => return Ok(None),
        Some(name) => vec![name.clone()],
        None => names.clone(),
    };
    let mut ids = Vec::new();
    for name in &picked {
        match projects::find(conn, name)? {
            Some(project) => ids.push(project.id),
            None if query.project.is_some() => return Ok(None),
            None => {}
        }
    }
    // Every project when the viewer sees all and picked none: one query for all of them.
    let scopes: Vec<Option<i64>> = if every_project && query.project.is_none() {
        vec![None]
    } else {
        ids.iter().copied().map(Some).collect()
    };
    let now = chrono::Utc::now().naive_utc();
    let since = days.first.and_hms_opt(0, 0, 0);
    let mut depth: Vec<(TaskStatus, i64)> = TaskStatus::ALL.iter().map(|s| (*s, 0)).collect();
    let (mut tasks, mut timings) = (Vec::new(), Vec::new());
    let mut backlog = queue::ScoringBacklog::default();
    for scope in scopes {
        let waiting = queue::scoring_backlog(conn, scope)?;
        backlog.waiting += waiting.waiting;
        backlog.oldest_stored_at = match (backlog.oldest_stored_at, waiting.oldest_stored_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for (status, n) in task_views::count_by_status(conn, scope)? {
            if let Some(entry) = depth.iter_mut().find(|(s, _)| *s == status) {
                entry.1 += n;
            }
        }
        let filter = TaskFilter {
            project_id: scope,
            status: query.status,
            limit: SHOWN,
            ..TaskFilter::default()
        };
        tasks.extend(queue::list(conn, &filter, now)?);
        timings.extend(task_views::timings(conn, scope, since, None)?);
    }
    tasks.sort_by_key(|task| std::cmp::Reverse((task.received_at, task.id)));
    tasks.truncate(SHOWN as usize);
    Ok(Some((depth, tasks, timings, names, backlog)))
}

#[derive(Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf: String,
}

/// Cancels a task that has not ended, for an admin of its project signed in here.
#[post("/tasks/{id}/cancel")]
pub async fn cancel_task(
    req: HttpRequest,
    state: web::Data<AppState>,
    viewer: Viewer,
    id: web::Path<i64>,
    form: web::Form<CancelForm>,
) -> Result<HttpResponse, PageError> {
    let id = id.into_inner();
    let now = chrono::Utc::now().naive_utc();
    let task = load(&state, move |conn| queue::find_by_id(conn, id, now)).await?;
    let missing = || PageError::not_found(format!("there is no store task {id}"));
    let task = task.ok_or_else(missing)?;
    if !viewer.can_read(&task.project) {
        return Err(missing());
    }
    admin_form::check(
        &req,
        &state,
        &viewer,
        &task.project,
        &form.csrf,
        "`flakewatch tasks cancel` does it from a shell",
    )?;
    if task.status.is_final() {
        return Err(PageError::from(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "task_ended",
            format!(
                "task {id} already ended ({}); there is nothing to cancel",
                task.status.as_str()
            ),
        ))
        .back_to("/tasks".to_owned(), "the store tasks"));
    }
    request_cancel(&state, &task).await?;
    Ok(see_other(&params::link(
        "/tasks",
        &[("project", task.project.clone())],
    )))
}
