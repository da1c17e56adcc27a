//! `POST /api/v1/uploads`: accept a report, answer 202 with a task token in milliseconds.
//! Only cheap checks happen here (token, metadata, size); parsing is the worker's job.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use actix_multipart::Multipart;
use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::Serialize;

use super::body_file::{self, BodyFile, Part, Received};
use super::query;
use super::slow_body::BodyDeadline;
use super::upload_body;
use crate::db::DbError;
use crate::error::ApiError;
use crate::ingest::MAX_ENTRIES;
use crate::secrets;
use crate::store::tokens::Scope;
use crate::store::uploads::{self, NewUpload, UploadMeta};
use crate::tasks::TaskStatus;
use crate::web::{auth, urls, AppState, UploadLimits};

/// Longest accepted metadata value; longer ones are mistakes (a log pasted into a field).
const MAX_FIELD_CHARS: usize = 1024;

#[derive(Serialize)]
struct Accepted {
    task: String,
    status_url: String,
    status: TaskStatus,
    duplicate: bool,
}

#[post("/uploads")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let received_at = now();
    let token = auth::require(&req, &state, Scope::Upload).await?;
    query::check_encoding(req.query_string())?;
    // Held until the answer: the token's uploads in flight are bounded.
    let _slot = state.upload_slots.take(token.id)?;
    check_queue_room(&state).await?;
    let project = match query.get("project").map(|p| p.trim()) {
        Some(project) if !project.is_empty() => project.to_owned(),
        _ => token.project.clone(),
    };
    auth::check_project(&token, &project)?;
    let meta = parse_meta(&query)?;

    let limit = state.limits.max_upload_bytes;
    if let Some(length) = content_length(&req) {
        if length > limit {
            return Err(too_large_body(limit));
        }
    }
    let max_report = state.limits.max_report_bytes;
    // The body arrives into a temporary file; checking and compressing it are blocking
    // work, off the async workers.
    let (content_hash, body_bytes, stored, report_name) = if is_multipart(&req) {
        let (received, files) =
            read_multipart(Multipart::new(req.headers(), payload), &state.limits).await?;
        let hash = multipart_hash(&files);
        let size: u64 = files.iter().map(|(_, part)| part.len).sum();
        let stored = web::block(move || upload_body::from_files(received, files, max_report))
            .await
            .map_err(ApiError::storage)??;
        (hash, size, stored, "report.xml".to_owned())
    } else {
        let received = read_body(payload, &state.limits).await?;
        let gzip_encoded = req
            .headers()
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let (hash, size) = (secrets::to_hex(&received.body.sha256), received.body.len);
        let stored = web::block(move || upload_body::from_raw(received, gzip_encoded, max_report))
            .await
            .map_err(ApiError::storage)??;
        (hash, size, stored, report_name(&req))
    };
    // Held until the payload is in the database.
    let _memory = state.body_memory.reserve_for_write(stored.len).await;
    let kind = stored.kind;
    let compressed = web::block(move || stored.into_bytes())
        .await
        .map_err(ApiError::storage)?
        .map_err(body_file::disk_error)?;

    let idempotency_key = idempotency_key(token.project_id, &meta, &content_hash);
    let task_token = secrets::task_token(&state.task_key, token.project_id, &idempotency_key);
    let token_hash = secrets::token_hash(&task_token);
    let (project_id, token_id) = (token.project_id, token.id);
    let body_bytes = body_bytes as i64;
    let spool = state.spool.clone();
    let enqueued = state
        .db
        .run(move |conn| {
            let upload = NewUpload {
                project_id,
                meta: &meta,
                idempotency_key: &idempotency_key,
                received_at,
                content_type: kind,
                report_name: &report_name,
                body_bytes,
                compressed: &compressed,
                task_token_hash: &token_hash,
                token_id,
            };
            // On SQLite into the spool, so that no upload waits for a store's write lock.
            match &spool {
                Some(spool) => spool.accept(conn, &upload, now()),
                None => uploads::enqueue(conn, &upload, now()),
            }
            .map_err(DbError::from)
        })
        .await
        .map_err(ApiError::storage)?;

    if enqueued.duplicate {
        state
            .metrics
            .uploads_duplicate
            .fetch_add(1, Ordering::Relaxed);
    } else {
        state
            .metrics
            .uploads_received
            .fetch_add(1, Ordering::Relaxed);
        // A spooled upload wakes the workers when it is moved into the database.
        if enqueued.task_id.is_some() {
            state.signals.task_enqueued();
        } else {
            state.signals.queue_changed();
        }
    }
    tracing::info!(task = enqueued.task_id, spooled = enqueued.task_id.is_none(), project = %project, kind, duplicate = enqueued.duplicate, "upload accepted");
    let status_url = urls::public(
        state.access.public_url.as_deref(),
        &format!("/api/v1/tasks/{task_token}"),
    );
    Ok(HttpResponse::Accepted().json(Accepted {
        task: task_token,
        status_url,
        status: enqueued.status.public(),
        duplicate: enqueued.duplicate,
    }))
}

/// Reads and validates the metadata query parameters; errors name the parameter.
fn parse_meta(query: &HashMap<String, String>) -> Result<UploadMeta, ApiError> {
    let text = |name: &str| -> Result<String, ApiError> {
        let value = query.get(name).map(|v| v.trim()).unwrap_or("");
        if value.chars().count() > MAX_FIELD_CHARS {
            return Err(ApiError::bad_field(
                name,
                format!("`{name}` is longer than {MAX_FIELD_CHARS} characters"),
            ));
        }
        Ok(value.to_owned())
    };
    let required = |name: &str, what: &str| -> Result<String, ApiError> {
        let value = text(name)?;
        if value.is_empty() {
            return Err(ApiError::bad_field(
                name,
                format!("`{name}` is missing: pass the {what} as ?{name}=..."),
            ));
        }
        Ok(value)
    };
    let attempt = match query.get("attempt").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => 1,
        Some(raw) => raw
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_field("attempt", format!("`attempt` must be a whole number from 1 (the first run of the job), not `{raw}`"))
            })?,
    };
    let started_at = query::time(query, "started_at")?;
    let finished_at = query::time(query, "finished_at")?;
    if let (Some(start), Some(end)) = (started_at, finished_at) {
        if end < start {
            return Err(ApiError::bad_field(
                "finished_at",
                "`finished_at` is before `started_at`",
            ));
        }
    }
    Ok(UploadMeta {
        branch: required("branch", "branch the tests ran on")?,
        commit: required("commit", "commit SHA the tests ran on")?,
        job: text("job")?,
        attempt,
        pipeline: text("pipeline")?,
        build_url: build_url(text("build_url")?)?,
        runner: text("runner")?,
        started_at,
        finished_at,
        default_branch: text("default_branch")?,
    })
}

/// A build URL becomes a link on the dashboard: only http(s) ones are taken.
fn build_url(url: String) -> Result<String, ApiError> {
    if url.is_empty() || urls::is_http_url(&url) {
        Ok(url)
    } else {
        Err(ApiError::bad_field(
            "build_url",
            "`build_url` must be an http:// or https:// URL (it becomes a link on the dashboard)",
        ))
    }
}

/// Same project, metadata and bytes (by their hash): same upload. A client retry therefore
/// finds the first attempt's task instead of storing the report twice.
fn idempotency_key(project_id: i64, meta: &UploadMeta, content_hash: &str) -> String {
    let times = format!("{:?}|{:?}", meta.started_at, meta.finished_at);
    secrets::sha256_hex(&[
        &project_id.to_le_bytes(),
        meta.branch.as_bytes(),
        meta.commit.as_bytes(),
        meta.job.as_bytes(),
        &meta.attempt.to_le_bytes(),
        meta.pipeline.as_bytes(),
        meta.build_url.as_bytes(),
        meta.runner.as_bytes(),
        times.as_bytes(),
        content_hash.as_bytes(),
    ])
}

async fn read_body(mut payload: web::Payload, limits: &UploadLimits) -> Result<Received, ApiError> {
    let limit = limits.max_upload_bytes;
    let deadline = BodyDeadline::start(limits);
    let mut body = BodyFile::create().await?;
    while let Some(chunk) = deadline.next(&mut payload).await? {
        let chunk = chunk.map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                format!("the upload body could not be read: {err}"),
            )
        })?;
        if body.len() + chunk.len() as u64 > limit {
            return Err(too_large_body(limit));
        }
        body.push(&chunk).await?;
    }
    body.finish_body().await
}

/// The files of a multipart form, in the order they came (plain form values are skipped),
/// received one after the other into one temporary file.
pub async fn read_multipart(
    mut form: Multipart,
    limits: &UploadLimits,
) -> Result<(std::fs::File, Vec<(String, Part)>), ApiError> {
    let limit = limits.max_upload_bytes;
    let deadline = BodyDeadline::start(limits);
    let bad = |err: actix_multipart::MultipartError| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_multipart",
            format!("the multipart form could not be read: {err}"),
        )
    };
    let mut received = BodyFile::create().await?;
    let mut files = Vec::new();
    while let Some(field) = deadline.next(&mut form).await? {
        let mut field = field.map_err(bad)?;
        let Some(name) = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(upload_body::sanitize_name)
        else {
            // A plain form value, not a file: nothing to store.
            while let Some(chunk) = deadline.next(&mut field).await? {
                chunk.map_err(bad)?;
            }
            continue;
        };
        if files.len() >= MAX_ENTRIES {
            return Err(upload_body::too_many_files());
        }
        while let Some(chunk) = deadline.next(&mut field).await? {
            let chunk = chunk.map_err(bad)?;
            if received.len() + chunk.len() as u64 > limit {
                return Err(too_large_body(limit));
            }
            received.push(&chunk).await?;
        }
        files.push((name, received.end_part()));
    }
    Ok((received.finish().await?, files))
}

/// Same files (names and contents), same hash: a retried form finds its first attempt.
fn multipart_hash(files: &[(String, Part)]) -> String {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(files.len() * 2);
    for (name, part) in files {
        parts.push(name.as_bytes());
        parts.push(&part.sha256);
    }
    secrets::sha256_hex(&parts)
}

/// Refuses an upload, before its body is read, while the uploads waiting to be stored have
/// reached `--max-queued-uploads`: a client faster than the workers then backs off (503 with
/// Retry-After, which `flakewatch upload` honours) instead of growing the queue without end.
async fn check_queue_room(state: &AppState) -> Result<(), ApiError> {
    let max = state.limits.max_queued_uploads;
    let spool = state.spool.clone();
    let waiting = state
        .db
        .run(move |conn| {
            let spooled = match &spool {
                Some(spool) => spool.waiting()?,
                None => 0,
            };
            Ok::<_, DbError>(crate::tasks::queue::store_tasks_waiting(conn)? + spooled)
        })
        .await
        .map_err(ApiError::storage)?;
    if (waiting.max(0) as u64) < max {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "queue_full",
        format!(
            "{waiting} uploads are waiting to be stored, the most this server queues \
             (--max-queued-uploads); send this one again after the Retry-After seconds"
        ),
    )
    .retry_after(QUEUE_FULL_RETRY_SECONDS))
}

/// How long a client is asked to wait when the queue is full.
const QUEUE_FULL_RETRY_SECONDS: u32 = 30;

fn is_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"))
}

fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The file name from `Content-Disposition: ...; filename="TEST-x.xml"`, if sent.
fn report_name(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(';')
                .filter_map(|part| part.trim().strip_prefix("filename="))
                .next()
                .map(|name| upload_body::sanitize_name(name.trim_matches('"')))
        })
        .unwrap_or_else(|| "report.xml".into())
}

fn too_large_body(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the upload is larger than {limit} bytes; split it into several uploads or raise FLAKEWATCH_MAX_UPLOAD_BYTES"),
    )
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::task_token;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn missing_and_malformed_fields_are_named() {
        let err = parse_meta(&query(&[("commit", "abc")])).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("branch"));
        let err = parse_meta(&query(&[
            ("branch", "main"),
            ("commit", "abc"),
            ("started_at", "yesterday"),
        ]))
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("started_at"));
        let err = parse_meta(&query(&[
            ("branch", "main"),
            ("commit", "abc"),
            ("attempt", "0"),
        ]))
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("attempt"));
        let err = parse_meta(&query(&[
            ("branch", "main"),
            ("commit", "abc"),
            ("build_url", "javascript:alert(8)//"),
        ]))
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("build_url"));
        let meta = parse_meta(&query(&[
            ("branch", "main"),
            ("commit", "abc"),
            ("started_at", "2026-11-26T10:00:00+01:00"),
        ]))
        .unwrap();
        assert_eq!(meta.attempt, 1);
        assert_eq!(meta.started_at.unwrap().to_string(), "2026-11-26 09:00:00");
    }

    #[test]
    fn retries_get_the_same_token_and_other_uploads_another() {
        let meta = parse_meta(&query(&[("branch", "main"), ("commit", "abc")])).unwrap();
        let a = idempotency_key(1, &meta, "hash-a");
        assert_eq!(a, idempotency_key(1, &meta, "hash-a"));
        assert_ne!(a, idempotency_key(1, &meta, "hash-b"));
        assert_ne!(a, idempotency_key(2, &meta, "hash-a"));
        assert_eq!(task_token("k", 1, &a), task_token("k", 1, &a));
        assert_ne!(task_token("k", 1, &a), task_token("other", 1, &a));
        assert_eq!(task_token("k", 1, &a).len(), 4 + 32);
    }
}
