//! The task API: one task by its token or id (optionally waiting for it to end), the
//! operators' list, and cancelling.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::Deserialize;
use tokio::sync::broadcast::{self, error::RecvError};

use super::cursor::Cursor;
use super::query;
use crate::db::{Backend, DbError};
use crate::error::ApiError;
use crate::secrets;
use crate::store::tokens::{ApiToken, Scope};
use crate::tasks::queue::{self, ListPosition, ProjectScope, TaskFilter};
use crate::tasks::signals::{RESYNC, SPOOL_MOVED};
use crate::tasks::{TaskStatus, TaskView};
use crate::web::{auth, AppState};

/// The longest `wait` honoured; clients loop for longer waits.
const MAX_WAIT_SECONDS: u64 = 300;

#[derive(Deserialize)]
pub struct ShowQuery {
    /// Seconds to hold the answer until the task ends.
    wait: Option<String>,
    /// With `wait`: answer as soon as the status is no longer this one (e.g. `enqueued`),
    /// instead of waiting for the end.
    #[serde(rename = "while")]
    while_status: Option<String>,
}

/// How a request names a task: by its token, which is the secret itself, or by its id,
/// which needs an admin token of the task's project.
enum TaskRef {
    Token { hash: String },
    Id { id: i64, project: String },
}

impl TaskRef {
    /// Reads the path's `{task}`. `admin` is the caller's admin token when the handler
    /// already required one; an id without it requires it here.
    async fn from_path(
        req: &HttpRequest,
        state: &AppState,
        raw: &str,
        admin: Option<&ApiToken>,
    ) -> Result<Self, ApiError> {
        // Tokens are `fwt_...`; a plain number is an id.
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(TaskRef::Token {
                hash: secrets::token_hash(raw),
            });
        }
        let id = raw.parse::<i64>().map_err(|_| not_found())?;
        let project = match admin {
            Some(admin) => admin.project.clone(),
            None => auth::require(req, state, Scope::Admin).await?.project,
        };
        Ok(TaskRef::Id { id, project })
    }
}

fn not_found() -> ApiError {
    ApiError::not_found(
        "no task has this token or id; use the task token `flakewatch upload` printed, \
         or a task id of your admin token's project",
    )
}

/// No authentication with a token: its 128 bits are the secret. An id needs an admin token.
#[get("/tasks/{task}")]
pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    task: web::Path<String>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, ApiError> {
    let wait = match query.wait.as_deref() {
        None => 0,
        Some(raw) => raw.parse::<u64>().map_err(|_| {
            ApiError::bad_field(
                "wait",
                format!("`wait` is a number of seconds (at most {MAX_WAIT_SECONDS}), not `{raw}`"),
            )
        })?,
    }
    .min(MAX_WAIT_SECONDS);
    let while_state = match query.while_status.as_deref() {
        None => None,
        Some(raw) => Some(WaitWhile::parse(raw).ok_or_else(|| {
            ApiError::bad_field(
                "while",
                format!(
                    "`while` is a task status (enqueued, running, ...) or stage (queued, \
                     storing, scoring), not `{raw}`"
                ),
            )
        })?),
    };
    let task_ref = TaskRef::from_path(&req, &state, &task, None).await?;

    // Subscribe before the first read, so a change landing in between still wakes us.
    let mut changes = state.signals.subscribe_changed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let mut shutdown = state.shutdown.clone();
    loop {
        let task = find(&state, &task_ref).await?;
        let settled = match while_state {
            Some(state) => !state.holds(task.status),
            None => task.status.is_final(),
        };
        if settled || wait == 0 {
            return Ok(HttpResponse::Ok().json(task));
        }
        // Wait for a change of this task (or a resync), the deadline, or shutdown; then
        // read again. At deadline or shutdown the client gets the task as it is now.
        let woke = loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(id) if id == task.id || id == RESYNC => break true,
                    Ok(SPOOL_MOVED) if task.spooled => break true,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break true,
                    Err(RecvError::Closed) => break false,
                },
                _ = tokio::time::sleep_until(deadline) => break false,
                _ = shutdown.wait_for(|stop| *stop) => break false,
            }
        };
        if !woke {
            let task = find(&state, &task_ref).await?;
            return Ok(HttpResponse::Ok().json(task));
        }
    }
}

async fn find(state: &AppState, task_ref: &TaskRef) -> Result<TaskView, ApiError> {
    let task = match task_ref {
        TaskRef::Token { hash } => {
            let (hash, spool) = (hash.clone(), state.spool.clone());
            state
                .db
                .run(move |conn| {
                    // The spool first: an upload moves only from there into the database
                    // (committed there before it leaves the spool), so one that exists is
                    // found in one of the two.
                    let spooled = match &spool {
                        Some(spool) => spool.find_by_token(conn, &hash, now())?,
                        None => None,
                    };
                    match spooled {
                        Some(task) => Ok(Some(task)),
                        None => queue::find_by_token(conn, &hash, now()),
                    }
                    .map_err(DbError::from)
                })
                .await
        }
        TaskRef::Id { id, .. } => {
            let id = *id;
            state
                .db
                .run(move |conn| queue::find_by_id(conn, id, now()).map_err(DbError::from))
                .await
        }
    }
    .map_err(ApiError::storage)?
    .ok_or_else(not_found)?;
    // Another project's task is not found, rather than forbidden: its existence is not
    // this admin's business.
    if let TaskRef::Id { project, .. } = task_ref {
        if task.project != *project {
            return Err(not_found());
        }
    }
    if task.status.is_final() {
        // Another replica may have ended it, and its notification of the changed page data
        // may still be on its way: pages read after this answer must not be older than it.
        state.db.changes.heard();
    }
    Ok(with_token(state, with_live_progress(state, task)))
}

/// The task's token, derived again from its upload: only its hash is stored.
fn with_token(state: &AppState, mut task: TaskView) -> TaskView {
    task.token = Some(token_of(&state.task_key, &task));
    task
}

/// A running task's progress as its worker in this process last reported it, which is
/// newer than the row (on SQLite the row learns it a store step later).
fn with_live_progress(state: &AppState, mut task: TaskView) -> TaskView {
    if task.status == TaskStatus::Running {
        if let Some(live) = state.signals.progress(task.id) {
            if live.records_seen > task.progress.records_seen {
                task.progress = live;
            }
        }
    }
    task
}

/// Operators' list: admin token of the project. `next`, when present, is the `cursor` of
/// the following page.
#[get("/tasks")]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let token = auth::require(&req, &state, Scope::Admin).await?;
    let project = query
        .get("project")
        .map(String::as_str)
        .unwrap_or(&token.project);
    auth::check_project(&token, project)?;
    let status = match query.get("status") {
        None => None,
        Some(raw) => Some(TaskStatus::parse(raw).ok_or_else(|| {
            ApiError::bad_field("status", format!("`status` is one of enqueued, running, scoring, completed, failed, cancelled, not `{raw}`"))
        })?),
    };
    let limit = query::limit(&query, 100, MAX_LIST_LIMIT)?;
    let filter = TaskFilter {
        projects: ProjectScope::one(token.project_id),
        status,
        since: query::time(&query, "since")?,
        until: query::time(&query, "until")?,
        after: Cursor::from_query(&query)?.map(|cursor| ListPosition {
            received_at: cursor.at,
            id: cursor.id,
        }),
        // One more than asked for tells whether there is a next page.
        limit: limit + 1,
    };
    let mut tasks = state
        .db
        .run(move |conn| queue::list(conn, &filter, now()).map_err(DbError::from))
        .await
        .map_err(ApiError::storage)?;
    let next = if tasks.len() as i64 > limit {
        tasks.truncate(limit as usize);
        tasks.last().map(|last| {
            Cursor {
                at: last.received_at.0,
                id: last.id,
            }
            .encode()
        })
    } else {
        None
    };
    let tasks: Vec<TaskView> = tasks
        .into_iter()
        .map(|t| with_token(&state, with_live_progress(&state, t)))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "tasks": tasks, "next": next })))
}

/// The most tasks one page of the list holds; `next` pages on.
pub const MAX_LIST_LIMIT: i64 = 1000;

/// Cancels a task by token or id (admin token). A task that already ended stays as it
/// ended, and the answer is a `409 task_ended` that says how it ended.
#[post("/tasks/{task}/cancel")]
pub async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    task: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = auth::require(&req, &state, Scope::Admin).await?;
    let task_ref = TaskRef::from_path(&req, &state, &task, Some(&admin)).await?;
    // Subscribed before the first read, so a move out of the spool in between still wakes.
    let mut changes = state.signals.subscribe_changed();
    let task = find(&state, &task_ref).await?;
    auth::check_project(&admin, &task.project)?;
    let task = out_of_spool(&state, &task_ref, task, &mut changes).await?;
    if task.status == TaskStatus::Scoring {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "task_stored",
            format!(
                "task {}'s run is stored and being scored; it can no longer be cancelled",
                task.id
            ),
        ));
    }
    if task.spooled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "task_spooled",
            "the upload is accepted but still waits to enter the task queue (a large report \
             is being stored); cancel it again in a moment",
        ));
    }
    if task.status.is_final() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "task_ended",
            format!(
                "task {} already ended ({}); there is nothing to cancel",
                task.id,
                task.status.as_str()
            ),
        ));
    }
    request_cancel(&state, &task).await?;
    let mut task = find(&state, &task_ref).await?;
    if task.status == TaskStatus::Running {
        task.cancel_requested = true;
    }
    Ok(HttpResponse::Ok().json(task))
}

/// How long a cancel waits for an upload just accepted on SQLite to leave the spool for
/// the task queue (it waits there while a store step holds the database's write lock).
const SPOOL_WAIT: Duration = Duration::from_secs(10);

/// The task once its upload has left the spool, so that it can be cancelled; still
/// spooled after `SPOOL_WAIT` or at shutdown.
async fn out_of_spool(
    state: &AppState,
    task_ref: &TaskRef,
    mut task: TaskView,
    changes: &mut broadcast::Receiver<i64>,
) -> Result<TaskView, ApiError> {
    let deadline = tokio::time::Instant::now() + SPOOL_WAIT;
    let mut shutdown = state.shutdown.clone();
    while task.spooled {
        let moved = loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(SPOOL_MOVED | RESYNC) | Err(RecvError::Lagged(_)) => break true,
                    Ok(_) => continue,
                    Err(RecvError::Closed) => break false,
                },
                _ = tokio::time::sleep_until(deadline) => break false,
                _ = shutdown.wait_for(|stop| *stop) => break false,
            }
        };
        if !moved {
            break;
        }
        task = find(state, task_ref).await?;
    }
    Ok(task)
}

/// Asks a task that has not ended to stop; the API and the dashboard's form both cancel
/// through here.
pub(crate) async fn request_cancel(state: &AppState, task: &TaskView) -> Result<(), ApiError> {
    // In memory for this process's workers; in the database for other processes (on
    // SQLite there are no others, and a store step may hold the write lock).
    state.signals.request_cancel(task.id);
    if !(task.status == TaskStatus::Running && state.db.backend == Backend::Sqlite) {
        let id = task.id;
        state
            .db
            .run(move |conn| queue::cancel(conn, id, now()).map_err(DbError::from))
            .await
            .map_err(ApiError::storage)?;
    }
    state.signals.task_changed(task.id);
    tracing::info!(task = task.id, "cancel requested");
    Ok(())
}

/// A task's token, derived again from its upload (only its hash is stored).
pub(crate) fn token_of(task_key: &str, task: &TaskView) -> String {
    secrets::task_token(task_key, task.project_id, &task.upload_key)
}

/// What `?while=` waits through: a status as the API shows it, or a stage.
#[derive(Debug, Clone, Copy)]
enum WaitWhile {
    Status(TaskStatus),
    Stage(&'static str),
}

impl WaitWhile {
    fn parse(raw: &str) -> Option<WaitWhile> {
        const STAGES: [&str; 3] = ["queued", "storing", "scoring"];
        if let Some(stage) = STAGES.into_iter().find(|s| *s == raw) {
            return Some(WaitWhile::Stage(stage));
        }
        TaskStatus::parse(raw).map(|status| WaitWhile::Status(status.public()))
    }

    fn holds(self, status: TaskStatus) -> bool {
        match self {
            WaitWhile::Status(wanted) => status.public() == wanted,
            WaitWhile::Stage(stage) => status.stage() == stage,
        }
    }
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
