//! The task API: one task by its token (optionally waiting for it to end), the operators'
//! list, and cancelling.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::query;
use crate::db::{Backend, DbError};
use crate::error::ApiError;
use crate::secrets;
use crate::store::tokens::Scope;
use crate::tasks::queue::{self, TaskFilter};
use crate::tasks::signals::RESYNC;
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

/// No authentication: the 128-bit token is the secret.
#[get("/tasks/{token}")]
pub async fn show(
    state: web::Data<AppState>,
    token: web::Path<String>,
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
    let while_status = match query.while_status.as_deref() {
        None => None,
        Some(raw) => Some(TaskStatus::parse(raw).ok_or_else(|| {
            ApiError::bad_field(
                "while",
                format!("`while` is a task status (enqueued, running, ...), not `{raw}`"),
            )
        })?),
    };
    let token_hash = secrets::token_hash(&token);

    // Subscribe before the first read, so a change landing in between still wakes us.
    let mut changes = state.signals.subscribe_changed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let mut shutdown = state.shutdown.clone();
    loop {
        let task = find(&state, &token_hash).await?;
        let settled = match while_status {
            Some(status) => task.status != status,
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
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break true,
                    Err(RecvError::Closed) => break false,
                },
                _ = tokio::time::sleep_until(deadline) => break false,
                _ = shutdown.wait_for(|stop| *stop) => break false,
            }
        };
        if !woke {
            let task = find(&state, &token_hash).await?;
            return Ok(HttpResponse::Ok().json(task));
        }
    }
}

async fn find(state: &AppState, token_hash: &str) -> Result<TaskView, ApiError> {
    let token_hash = token_hash.to_owned();
    let task = state
        .db
        .run(move |conn| queue::find_by_token(conn, &token_hash, now()).map_err(DbError::from))
        .await
        .map_err(ApiError::storage)?
        .ok_or_else(|| {
            ApiError::not_found("no task has this token; check the token the upload returned")
        })?;
    Ok(with_live_progress(state, task))
}

/// A running task's progress as its worker in this process last reported it, which is
/// newer than the row (and, on SQLite, the only source until the task commits).
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

/// Operators' list: admin token of the project.
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
            ApiError::bad_field("status", format!("`status` is one of enqueued, running, completed, failed, cancelled, not `{raw}`"))
        })?),
    };
    let limit = query::limit(&query, 100, 1000)?;
    let filter = TaskFilter {
        project_id: Some(token.project_id),
        status,
        since: query::time(&query, "since")?,
        until: query::time(&query, "until")?,
        limit,
    };
    let tasks = state
        .db
        .run(move |conn| queue::list(conn, &filter, now()).map_err(DbError::from))
        .await
        .map_err(ApiError::storage)?;
    let tasks: Vec<TaskView> = tasks
        .into_iter()
        .map(|t| with_live_progress(&state, t))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "tasks": tasks })))
}

#[post("/tasks/{token}/cancel")]
pub async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = auth::require(&req, &state, Scope::Admin).await?;
    let token_hash = secrets::token_hash(&token);
    let task = find(&state, &token_hash).await?;
    auth::check_project(&admin, &task.project)?;
    // A task that already ended stays as it ended; the answer shows how.
    if task.status.is_final() {
        return Ok(HttpResponse::Ok().json(task));
    }
    // In memory for this process's workers; in the database for other processes (on
    // SQLite a running task's transaction holds the write lock, and there are no others).
    state.signals.request_cancel(task.id);
    if !(task.status == TaskStatus::Running && state.db.backend == Backend::Sqlite) {
        let hash = token_hash.clone();
        state
            .db
            .run(move |conn| queue::cancel(conn, &hash, now()).map_err(DbError::from))
            .await
            .map_err(ApiError::storage)?;
    }
    state.signals.task_changed(task.id);
    tracing::info!(task = task.id, "cancel requested");
    let mut task = find(&state, &token_hash).await?;
    if task.status == TaskStatus::Running {
        task.cancel_requested = true;
    }
    Ok(HttpResponse::Ok().json(task))
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
