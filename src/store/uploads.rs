//! Uploads: the metadata and raw report a CI job sent, and the store task made for it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{projects, store_tasks, upload_payloads, uploads};
use crate::db::DbConnection;
use crate::tasks::queue;
use crate::tasks::TaskStatus;

/// Upload metadata, as validated by the API.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadMeta {
    pub branch: String,
    pub commit: String,
    pub job: String,
    pub attempt: i32,
    pub pipeline: String,
    pub build_url: String,
    pub runner: String,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    /// The default branch the client's CI system named (empty: not said).
    pub default_branch: String,
}

/// A new upload, ready to be stored with its task.
pub struct NewUpload<'a> {
    pub project_id: i64,
    pub meta: &'a UploadMeta,
    /// Same key, same upload: see `web::api::uploads` for what goes into it.
    pub idempotency_key: &'a str,
    pub received_at: NaiveDateTime,
    pub content_type: &'a str,
    pub report_name: &'a str,
    pub body_bytes: i64,
    pub compressed: &'a [u8],
    pub task_token_hash: &'a str,
    /// The API token it came with: it may read its run's verdict.
    pub token_id: i64,
}

/// The task an upload got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// None while the upload waits in the SQLite spool (see `store::spool`).
    pub task_id: Option<i64>,
    pub status: TaskStatus,
    /// True when this upload had been received before (a client retry).
    pub duplicate: bool,
}

/// Stores the upload, its compressed report and its enqueued task in one transaction, or
/// finds the task of an identical earlier upload.
pub fn enqueue(
    conn: &mut DbConnection,
    upload: &NewUpload<'_>,
    now: NaiveDateTime,
) -> QueryResult<Enqueued> {
    if let Some(found) = find_duplicate(conn, upload)? {
        return Ok(found);
    }
    let inserted = crate::db::write_transaction(conn, |conn| {
        let meta = upload.meta;
        let upload_id: Option<i64> =
            crate::per_backend!(conn, |c| diesel::insert_into(uploads::table)
                .values((
                    uploads::project_id.eq(upload.project_id),
                    uploads::idempotency_key.eq(upload.idempotency_key),
                    uploads::received_at.eq(upload.received_at),
                    uploads::branch.eq(&meta.branch),
                    uploads::commit_sha.eq(&meta.commit),
                    uploads::job.eq(&meta.job),
                    uploads::attempt.eq(meta.attempt),
                    uploads::pipeline.eq(&meta.pipeline),
                    uploads::build_url.eq(&meta.build_url),
                    uploads::runner.eq(&meta.runner),
                    uploads::started_at.eq(meta.started_at),
                    uploads::finished_at.eq(meta.finished_at),
                    uploads::content_type.eq(upload.content_type),
                    uploads::report_name.eq(upload.report_name),
                    uploads::body_bytes.eq(upload.body_bytes),
                    uploads::default_branch.eq(&meta.default_branch),
                    uploads::token_id.eq(Some(upload.token_id)),
                ))
                .on_conflict((uploads::project_id, uploads::idempotency_key))
                .do_nothing()
                .returning(uploads::id)
                .get_result(c)
                .optional())?;
        // A concurrent identical upload won the race: use its task.
        let Some(upload_id) = upload_id else {
            return Ok(None);
        };
        diesel::insert_into(upload_payloads::table)
            .values((
                upload_payloads::upload_id.eq(upload_id),
                upload_payloads::compressed.eq(upload.compressed),
                upload_payloads::compressed_bytes.eq(upload.compressed.len() as i64),
            ))
            .execute(conn)?;
        let task_id: i64 = crate::per_backend!(conn, |c| diesel::insert_into(store_tasks::table)
            .values((
                store_tasks::token_hash.eq(upload.task_token_hash),
                store_tasks::upload_id.eq(upload_id),
                store_tasks::project_id.eq(upload.project_id),
                store_tasks::status.eq(TaskStatus::Enqueued.as_str()),
                store_tasks::received_at.eq(upload.received_at),
                store_tasks::enqueued_at.eq(now),
            ))
            .returning(store_tasks::id)
            .get_result(c))?;
        queue::notify(conn, queue::CHANNEL_ENQUEUED, "")?;
        Ok::<_, diesel::result::Error>(Some(task_id))
    })?;
    match inserted {
        Some(task_id) => Ok(Enqueued {
            task_id: Some(task_id),
            status: TaskStatus::Enqueued,
            duplicate: false,
        }),
        None => find_duplicate(conn, upload)?.ok_or(diesel::result::Error::NotFound),
    }
}

/// The task of an identical earlier upload, if there is one.
pub fn find_duplicate(
    conn: &mut DbConnection,
    upload: &NewUpload<'_>,
) -> QueryResult<Option<Enqueued>> {
    let found = uploads::table
        .inner_join(store_tasks::table)
        .filter(uploads::project_id.eq(upload.project_id))
        .filter(uploads::idempotency_key.eq(upload.idempotency_key))
        .select((store_tasks::id, store_tasks::status))
        .first::<(i64, String)>(conn)
        .optional()?;
    Ok(found.map(|(task_id, status)| Enqueued {
        task_id: Some(task_id),
        status: TaskStatus::parse(&status).unwrap_or(TaskStatus::Failed),
        duplicate: true,
    }))
}

/// What a worker needs to store an upload.
pub struct UploadForIngest {
    pub project_id: i64,
    /// The project's default branch when the task was claimed.
    pub default_branch: String,
    pub meta: UploadMeta,
    pub received_at: NaiveDateTime,
    pub enqueued_at: NaiveDateTime,
    pub report_name: String,
    /// `None` when the raw report has been purged.
    pub compressed: Option<Vec<u8>>,
}

pub fn load_for_ingest(conn: &mut DbConnection, upload_id: i64) -> QueryResult<UploadForIngest> {
    #[allow(clippy::type_complexity)]
    let (project_id, default_branch, received_at, enqueued_at, report_name, meta_row): (
        i64,
        String,
        NaiveDateTime,
        NaiveDateTime,
        String,
        (
            String,
            String,
            String,
            i32,
            String,
            String,
            String,
            Option<NaiveDateTime>,
            Option<NaiveDateTime>,
            String,
        ),
    ) = uploads::table
        .inner_join(projects::table)
        .inner_join(store_tasks::table)
        .filter(uploads::id.eq(upload_id))
        .select((
            uploads::project_id,
            projects::default_branch,
            uploads::received_at,
            store_tasks::enqueued_at,
            uploads::report_name,
            (
                uploads::branch,
                uploads::commit_sha,
                uploads::job,
                uploads::attempt,
                uploads::pipeline,
                uploads::build_url,
                uploads::runner,
                uploads::started_at,
                uploads::finished_at,
                uploads::default_branch,
            ),
        ))
        .first(conn)?;
    let (
        branch,
        commit,
        job,
        attempt,
        pipeline,
        build_url,
        runner,
        started_at,
        finished_at,
        reported_default_branch,
    ) = meta_row;
    let compressed = upload_payloads::table
        .filter(upload_payloads::upload_id.eq(upload_id))
        .select(upload_payloads::compressed)
        .first::<Vec<u8>>(conn)
        .optional()?;
    Ok(UploadForIngest {
        project_id,
        default_branch,
        meta: UploadMeta {
            branch,
            commit,
            job,
            attempt,
            pipeline,
            build_url,
            runner,
            started_at,
            finished_at,
            default_branch: reported_default_branch,
        },
        received_at,
        enqueued_at,
        report_name,
        compressed,
    })
}
