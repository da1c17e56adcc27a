//! SQLite only: the upload spool, a second SQLite file beside the database where accepted
//! uploads wait until the database takes them.
//!
//! SQLite has one write lock per file, and a report's store holds the database's for as
//! long as it writes. Were uploads written straight into the database, each would wait for
//! that lock (up to the busy timeout, then 503), and the waiting requests would hold pool
//! connections until reads and `/readyz` found none either. The spool has its own file, so
//! its own lock, which only accepts hold, for one small commit each. `tasks::spool_mover`
//! copies spooled uploads into the database when it gets the lock there.
//!
//! Exactly once, without a transaction across the two files: an upload is copied by its
//! unique `(project_id, idempotency_key)` (the same insert a direct upload does, which does
//! nothing when the upload is there already), committed, and only then deleted from the
//! spool. A crash between the two leaves a copy that the next move finds already stored.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::SqliteConnection;
use tokio::sync::Notify;

use super::uploads::{self, Enqueued, NewUpload, UploadMeta};
use crate::db::schema::projects;
use crate::db::{DatabaseTarget, DbConnection};
use crate::error::StartupError;
use crate::tasks::model::{NaiveDateTimeUtc, UploadSummary};
use crate::tasks::{Progress, TaskStatus, TaskView};

diesel::table! {
    spooled_uploads (id) {
        id -> BigInt,
        project_id -> BigInt,
        idempotency_key -> Text,
        task_token_hash -> Text,
        token_id -> BigInt,
        received_at -> Timestamp,
        accepted_at -> Timestamp,
        meta -> Text,
        content_type -> Text,
        report_name -> Text,
        body_bytes -> BigInt,
        compressed -> Binary,
    }
}

/// The spool's own schema: it holds uploads for moments, so it has no migrations; a
/// future change would move what it holds before changing it.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS spooled_uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL,
    task_token_hash TEXT NOT NULL,
    token_id BIGINT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP NOT NULL,
    meta TEXT NOT NULL,
    content_type TEXT NOT NULL,
    report_name TEXT NOT NULL,
    body_bytes BIGINT NOT NULL,
    compressed BLOB NOT NULL,
    UNIQUE (project_id, idempotency_key)
);
CREATE INDEX IF NOT EXISTS spooled_uploads_token ON spooled_uploads (task_token_hash);";

/// As the database's own connections (see `db::connection`): the busy timeout covers
/// the mover's short deletes meeting an accept.
const SETUP: &str = "PRAGMA busy_timeout = 30000;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;";

/// The spool file of a SQLite database `PATH`: `PATH.spool` (with its own `-wal` and
/// `-shm` while open).
pub fn path_beside(database: &Path) -> PathBuf {
    PathBuf::from(format!("{}.spool", database.display()))
}

pub struct Spool {
    path: PathBuf,
    /// The accepts' connection; each holds it for one lookup and one insert.
    conn: Mutex<SqliteConnection>,
    /// Wakes the mover when an upload is spooled.
    arrived: Notify,
}

/// An upload in the spool, as the mover copies it.
pub struct Spooled {
    pub id: i64,
    pub project_id: i64,
    pub idempotency_key: String,
    pub task_token_hash: String,
    pub token_id: i64,
    pub received_at: NaiveDateTime,
    pub accepted_at: NaiveDateTime,
    pub meta: UploadMeta,
    pub content_type: String,
    pub report_name: String,
    pub body_bytes: i64,
    pub compressed: Vec<u8>,
}

type Row = (
    i64,
    i64,
    String,
    String,
    i64,
    NaiveDateTime,
    NaiveDateTime,
    String,
    String,
    String,
    i64,
    Vec<u8>,
);

impl Spool {
    /// The spool of a SQLite database file, created if missing; none for PostgreSQL (no
    /// such lock) or an in-memory database (nothing outlives the process anyway).
    pub fn open_beside(target: &DatabaseTarget) -> Result<Option<Spool>, StartupError> {
        let DatabaseTarget::Sqlite(database) = target else {
            return Ok(None);
        };
        if database.as_os_str() == ":memory:" {
            return Ok(None);
        }
        let path = path_beside(database);
        let conn = connect(&path)?;
        Ok(Some(Spool {
            path,
            conn: Mutex::new(conn),
            arrived: Notify::new(),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A connection of its own, for the mover.
    pub fn connect(&self) -> Result<SqliteConnection, StartupError> {
        connect(&self.path)
    }

    /// The mover waits here; register before draining, so an arrival meanwhile counts.
    pub fn arrived(&self) -> &Notify {
        &self.arrived
    }

    /// Takes an upload: the task of an identical upload when there is one (spooled, or in
    /// the database already), else it is spooled. `main` is only read.
    pub fn accept(
        &self,
        main: &mut DbConnection,
        upload: &NewUpload<'_>,
        now: NaiveDateTime,
    ) -> QueryResult<Enqueued> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        // The spool first, then the database: an upload moves only that way, so one that
        // exists is found in one of the two.
        if self.holds(&mut conn, upload.project_id, upload.idempotency_key)? {
            return Ok(spooled(true));
        }
        if let Some(found) = uploads::find_duplicate(main, upload)? {
            return Ok(found);
        }
        let meta = serde_json::to_string(upload.meta)
            .map_err(|err| diesel::result::Error::SerializationError(Box::new(err)))?;
        let inserted = diesel::insert_into(spooled_uploads::table)
            .values((
                spooled_uploads::project_id.eq(upload.project_id),
                spooled_uploads::idempotency_key.eq(upload.idempotency_key),
                spooled_uploads::task_token_hash.eq(upload.task_token_hash),
                spooled_uploads::token_id.eq(upload.token_id),
                spooled_uploads::received_at.eq(upload.received_at),
                spooled_uploads::accepted_at.eq(now),
                spooled_uploads::meta.eq(meta),
                spooled_uploads::content_type.eq(upload.content_type),
                spooled_uploads::report_name.eq(upload.report_name),
                spooled_uploads::body_bytes.eq(upload.body_bytes),
                spooled_uploads::compressed.eq(upload.compressed),
            ))
            .on_conflict((
                spooled_uploads::project_id,
                spooled_uploads::idempotency_key,
            ))
            .do_nothing()
            .execute(&mut *conn)?;
        drop(conn);
        self.arrived.notify_one();
        Ok(spooled(inserted == 0))
    }

    /// Uploads waiting in the spool, for `/metrics`.
    pub fn waiting(&self) -> QueryResult<i64> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        spooled_uploads::table.count().get_result(&mut *conn)
    }

    fn holds(&self, conn: &mut SqliteConnection, project_id: i64, key: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            spooled_uploads::table
                .filter(spooled_uploads::project_id.eq(project_id))
                .filter(spooled_uploads::idempotency_key.eq(key)),
        ))
        .get_result(conn)
    }

    /// A spooled upload's task as the API shows it: `enqueued`, with id 0 (it gets its id
    /// when the database takes it). `main` is only read, for the project's name.
    pub fn find_by_token(
        &self,
        main: &mut DbConnection,
        token_hash: &str,
        now: NaiveDateTime,
    ) -> QueryResult<Option<TaskView>> {
        let found = {
            let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
            spooled_uploads::table
                .filter(spooled_uploads::task_token_hash.eq(token_hash))
                .select((
                    spooled_uploads::project_id,
                    spooled_uploads::idempotency_key,
                    spooled_uploads::received_at,
                    spooled_uploads::accepted_at,
                    spooled_uploads::meta,
                ))
                .first::<(i64, String, NaiveDateTime, NaiveDateTime, String)>(&mut *conn)
                .optional()?
        };
        let Some((project_id, upload_key, received_at, accepted_at, meta)) = found else {
            return Ok(None);
        };
        let project = projects::table
            .find(project_id)
            .select(projects::name)
            .first::<String>(main)?;
        let meta: UploadMeta = serde_json::from_str(&meta).unwrap_or_default();
        let status = TaskStatus::Enqueued;
        Ok(Some(TaskView {
            id: 0,
            token: None,
            project,
            project_id,
            upload_key,
            status,
            stage: status.stage(),
            received_at: NaiveDateTimeUtc(received_at),
            enqueued_at: NaiveDateTimeUtc(accepted_at),
            started_at: None,
            finished_at: None,
            heartbeat_at: None,
            stored_at: None,
            scored_at: None,
            queue_ms: Some(crate::tasks::millis_between(accepted_at, now)),
            store_ms: None,
            scoring_ms: None,
            run_ms: None,
            worker: None,
            cancel_requested: false,
            progress: Progress::default(),
            warnings: Vec::new(),
            error: None,
            run_id: None,
            upload: UploadSummary {
                branch: meta.branch,
                commit: meta.commit,
                job: meta.job,
                attempt: meta.attempt,
                pipeline: meta.pipeline,
                build_url: meta.build_url,
                runner: meta.runner,
            },
            spooled: true,
        }))
    }
}

fn spooled(duplicate: bool) -> Enqueued {
    Enqueued {
        task_id: None,
        status: TaskStatus::Enqueued,
        duplicate,
    }
}

fn connect(path: &Path) -> Result<SqliteConnection, StartupError> {
    let unusable = |reason: String| StartupError::SqliteUnusable {
        path: path.display().to_string(),
        reason,
    };
    let text = path
        .to_str()
        .ok_or_else(|| unusable("the path is not valid UTF-8".into()))?;
    let mut conn = SqliteConnection::establish(text).map_err(|err| unusable(err.to_string()))?;
    conn.batch_execute(SETUP)
        .and_then(|()| conn.batch_execute(SCHEMA))
        .map_err(|err| unusable(err.to_string()))?;
    Ok(conn)
}

/// The ids of the oldest spooled uploads after id `after`, at most `limit`.
pub fn oldest_after(conn: &mut SqliteConnection, after: i64, limit: i64) -> QueryResult<Vec<i64>> {
    spooled_uploads::table
        .select(spooled_uploads::id)
        .filter(spooled_uploads::id.gt(after))
        .order(spooled_uploads::id)
        .limit(limit)
        .load(conn)
}

/// One spooled upload, whole (none once it is gone).
/// The size of a spooled upload's stored payload, read without loading it (`None` once
/// it is gone).
pub fn payload_size(conn: &mut SqliteConnection, id: i64) -> QueryResult<Option<u64>> {
    diesel::define_sql_function!(fn length(x: diesel::sql_types::Binary) -> BigInt);
    let size: Option<i64> = spooled_uploads::table
        .find(id)
        .select(length(spooled_uploads::compressed))
        .first(conn)
        .optional()?;
    Ok(size.map(|bytes| bytes.max(0) as u64))
}

pub fn load(conn: &mut SqliteConnection, id: i64) -> QueryResult<Option<Spooled>> {
    let row = spooled_uploads::table
        .find(id)
        .first::<Row>(conn)
        .optional()?;
    Ok(row.map(
        |(
            id,
            project_id,
            idempotency_key,
            task_token_hash,
            token_id,
            received_at,
            accepted_at,
            meta,
            content_type,
            report_name,
            body_bytes,
            compressed,
        )| Spooled {
            id,
            project_id,
            idempotency_key,
            task_token_hash,
            token_id,
            received_at,
            accepted_at,
            meta: serde_json::from_str(&meta).unwrap_or_default(),
            content_type,
            report_name,
            body_bytes,
            compressed,
        },
    ))
}

/// Copies a spooled upload into the database (nothing when it is there already) and
/// commits there; the caller then removes it from the spool.
pub fn copy_into(main: &mut DbConnection, upload: &Spooled) -> QueryResult<Enqueued> {
    let new = NewUpload {
        project_id: upload.project_id,
        meta: &upload.meta,
        idempotency_key: &upload.idempotency_key,
        received_at: upload.received_at,
        content_type: &upload.content_type,
        report_name: &upload.report_name,
        body_bytes: upload.body_bytes,
        compressed: &upload.compressed,
        task_token_hash: &upload.task_token_hash,
        token_id: upload.token_id,
    };
    uploads::enqueue(main, &new, upload.accepted_at)
}

pub fn remove(conn: &mut SqliteConnection, id: i64) -> QueryResult<()> {
    diesel::delete(spooled_uploads::table.find(id))
        .execute(conn)
        .map(drop)
}
