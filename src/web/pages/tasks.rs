//! `/tasks`: the store queue for operators. How many tasks are in each status, queue and
//! store time per day, the newest tasks with their tokens, problems and warnings, filtered
//! by project and status; a signed-in admin of a task's project may cancel it. Counts and
//! the list are kept for a second at most (`queue_cache`); the 30-day chart for a few
//! seconds.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use super::admin_form::{self, see_other};
use super::params::{self, PageQuery};
use super::window::Days;
use super::{load, render, trends, PageError};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::store::task_rollups::TaskHistograms;
use crate::store::{projects, task_views};
use crate::tasks::queue::{self, ListPosition, ProjectScope, TaskFilter};
use crate::tasks::{TaskStatus, TaskView};
use crate::web::access::Viewer;
use crate::web::api::cursor::Cursor;
use crate::web::api::tasks::{request_cancel, token_of};
use crate::web::charts::{self, Daily, Line};
use crate::web::recent_cache::{self, Recent};
use crate::web::AppState;

/// Tasks listed per page, newest first. Each row costs the page more than everything
/// else on it together (its upload, project and run, its token, seven timestamps): 200
/// rows made the page the dashboard's slowest, so older tasks are a page away instead.
const SHOWN: i64 = 50;
/// Days the queue chart covers, up to today.
const CHART_DAYS: i64 = 30;

/// `?project=&status=&cursor=`, validated and written back into links.
#[derive(Debug, Clone, Default)]
struct TasksQuery {
    project: Option<String>,
    status: Option<TaskStatus>,
    /// The last task of the page before: this page lists older ones.
    cursor: Option<Cursor>,
}

impl TasksQuery {
    fn parse(query: &params::Query) -> Result<TasksQuery, PageError> {
        let statuses: Vec<(&str, TaskStatus)> =
            TaskStatus::ALL.iter().map(|s| (s.as_str(), *s)).collect();
        Ok(TasksQuery {
            project: params::text(query, "project"),
            status: params::choice(query, "status", &statuses)?,
            cursor: Cursor::from_query(query)?,
        })
    }

    /// This list's filters with another page (`None`: the newest).
    fn href(&self, cursor: Option<Cursor>) -> String {
        params::link(
            "/tasks",
            &[
                ("project", self.project.clone().unwrap_or_default()),
                (
                    "status",
                    self.status
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                ),
                ("cursor", cursor.map(|c| c.encode()).unwrap_or_default()),
            ],
        )
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
    /// The next page, of older tasks, when there are any.
    next: Option<String>,
    chart: String,
    /// When the chart's data was read (UTC, `%H:%M:%S`), and how long it is kept at most.
    chart_at: String,
    chart_period_s: u64,
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

    /// The newest tasks under the same filters.
    fn first_href(&self) -> String {
        self.query.href(None)
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
    // Kept for a second (two at most, see `recent_cache`), and never past a change to the
    // queue this server heard of (an upload, a cancel, a task's end): what a cancel or an
    // upload did shows at once.
    let key = format!(
        "{} {only:?} {}",
        state.signals.queue_changes(),
        query.href(query.cursor)
    );
    let wanted = query.clone();
    let spool = state.spool.clone().filter(|_| only.is_none());
    let task_key = state.task_key.clone();
    let live = state
        .caches
        .queue
        .get_or_compute("tasks_live", 0, key, || {
            load(&state, move |conn| {
                let spooled = spool.map(|spool| spool.waiting()).transpose()?;
                let found = gather(conn, only, &wanted)?;
                Ok(found.map(|live| (live.with_tokens(&task_key), spooled)))
            })
        })
        .await?;
    let Some((live, spooled)) = &live.value else {
        let name = query.project.unwrap_or_default();
        return Err(PageError::not_found(format!(
            "there is no project `{name}`"
        )));
    };
    let chart = queue_chart(&state, live.scope.clone(), days).await?;
    let next = live.tasks.last().filter(|_| live.more).map(|(last, _)| {
        query.href(Some(Cursor {
            at: last.received_at.0,
            id: last.id,
        }))
    });
    let rows = live
        .tasks
        .iter()
        .map(|(task, token)| Row {
            token: token.clone(),
            cancel_csrf: (!task.status.is_final())
                .then(|| admin_form::form_token(&viewer, &task.project))
                .flatten(),
            task: task.clone(),
        })
        .collect();
    let oldest_wait_s = live
        .backlog
        .oldest_stored_at
        .map(|at| crate::tasks::millis_between(at, chrono::Utc::now().naive_utc()) / 1000);
    render(&TasksPage {
        rows,
        depth: live.depth.clone(),
        runs_waiting: live.backlog.waiting,
        oldest_wait_s,
        spooled: *spooled,
        projects: live.projects.clone(),
        query,
        days,
        next,
        chart_at: chart.computed_at.format("%H:%M:%S").to_string(),
        chart_period_s: recent_cache::PERIOD.as_secs(),
        chart: chart.value.clone(),
    })
}

/// What the page shows as it is now (kept a second at most): the operator who cancels a
/// task or watches the queue drain sees it at once.
struct Live<Task = TaskView> {
    depth: Vec<(TaskStatus, i64)>,
    tasks: Vec<Task>,
    /// Whether older tasks match too.
    more: bool,
    /// Names of the projects the viewer may pick.
    projects: Vec<String>,
    backlog: queue::ScoringBacklog,
    /// The projects shown.
    scope: ProjectScope,
}

impl Live {
    /// Each task with its token (derived from the installation's secret, so worth keeping).
    fn with_tokens(self, task_key: &str) -> Live<(TaskView, String)> {
        let tasks = self
            .tasks
            .into_iter()
            .map(|task| {
                let token = token_of(task_key, &task);
                (task, token)
            })
            .collect();
        Live {
            depth: self.depth,
            tasks,
            more: self.more,
            projects: self.projects,
            backlog: self.backlog,
            scope: self.scope,
        }
    }
}

/// The live part of the page, for the projects the viewer may see (`only`: these, else
/// all) under the filter, each read once for all of them; `None` when the filter names
/// no such project.
fn gather(
    conn: &mut DbConnection,
    only: Option<Vec<String>>,
    query: &TasksQuery,
) -> diesel::QueryResult<Option<Live>> {
    let mut visible = projects::list(conn)?;
    if let Some(only) = &only {
        visible.retain(|project| only.contains(&project.name));
    }
    let scope = match &query.project {
        Some(name) => match visible.iter().find(|project| &project.name == name) {
            Some(project) => ProjectScope::one(project.id),
            None => return Ok(None),
        },
        None if only.is_none() => ProjectScope::All,
        None => ProjectScope::Only(visible.iter().map(|project| project.id).collect()),
    };
    let mut depth: Vec<(TaskStatus, i64)> = TaskStatus::ALL.iter().map(|s| (*s, 0)).collect();
    for (status, n) in task_views::count_by_status(conn, &scope)? {
        if let Some(entry) = depth.iter_mut().find(|(s, _)| *s == status) {
            entry.1 += n;
        }
    }
    let filter = TaskFilter {
        projects: scope.clone(),
        status: query.status,
        after: query.cursor.map(|c| ListPosition {
            received_at: c.at,
            id: c.id,
        }),
        // One more than shown tells whether there is an older page.
        limit: SHOWN + 1,
        ..TaskFilter::default()
    };
    let mut tasks = queue::list(conn, &filter, chrono::Utc::now().naive_utc())?;
    let more = tasks.len() as i64 > SHOWN;
    tasks.truncate(SHOWN as usize);
    let backlog = queue::scoring_backlog(conn, &scope)?;
    Ok(Some(Live {
        depth,
        tasks,
        more,
        projects: visible.into_iter().map(|project| project.name).collect(),
        backlog,
        scope,
    }))
}

/// The queue chart of the projects in `scope`. It is drawn from every task of 30 days,
/// the costliest part of the page, and daily medians move slowly: so it is kept for a
/// few seconds (`recent_cache`) and the page says when it was drawn.
async fn queue_chart(
    state: &AppState,
    scope: ProjectScope,
    days: Days,
) -> Result<Arc<Recent<String>>, PageError> {
    let key = format!("{scope:?} from {}", days.first);
    let since = days.first.and_hms_opt(0, 0, 0);
    state
        .caches
        .recent
        .get_or_compute("tasks_chart", 0, key, || async move {
            let timings = load(state, move |conn| {
                task_views::timings_by_day(conn, &scope, since)
            })
            .await?;
            Ok::<_, PageError>(draw(&timings, days))
        })
        .await
}

fn draw(timings: &BTreeMap<NaiveDate, TaskHistograms>, days: Days) -> String {
    let (queue, store) = trends::task_daily(timings, days);
    let scoring = trends::scoring_daily(timings, days);
    charts::daily_lines(&Daily {
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
    })
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
