//! The queue's SQL: claim, heartbeat, finish, cancel, hand back, and reading tasks.
//! PostgreSQL-only clauses (SKIP LOCKED, NOTIFY) are confined to this file and
//! `db::changes`.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};

use super::model::{
    millis_between, ClaimedTask, JobKind, NaiveDateTimeUtc, Progress, TaskStatus, TaskView,
    UploadSummary, Warning,
};
pub use crate::db::changes::notify;
use crate::db::schema::{projects, runs, store_tasks, upload_payloads, uploads};
use crate::db::DbConnection;

/// NOTIFY channels; every process LISTENs to both (see `signals`).
pub const CHANNEL_ENQUEUED: &str = "flakewatch_task_enqueued";
pub const CHANNEL_CHANGED: &str = "flakewatch_task_changed";

#[derive(QueryableByName)]
struct ClaimRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    upload_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    project_id: Option<i64>,
    #[diesel(sql_type = Integer)]
    claims: i32,
}

/// Claims the oldest enqueued job of `kinds` for `worker`. On PostgreSQL concurrent
/// claimers skip each other's locked rows instead of queueing behind them; SQLite's single
/// writer lock makes the same statement safe there. Leases exist only on PostgreSQL: a
/// SQLite database is served by one process, which requeues its own orphans at start.
pub fn claim(
    conn: &mut DbConnection,
    worker: &str,
    kinds: &[JobKind],
    now: NaiveDateTime,
    lease: Duration,
) -> QueryResult<Option<ClaimedTask>> {
    if kinds.is_empty() {
        return Ok(None);
    }
    // The kinds are our own constants, never input.
    let kinds: Vec<String> = kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
    let set = format!(
        "UPDATE store_tasks SET status = 'running', started_at = $1, \
         heartbeat_at = $1, lease_expires_at = $2, worker = $3, claims = claims + 1 \
         WHERE id = (SELECT id FROM store_tasks WHERE status = 'enqueued' \
         AND kind IN ({}) ORDER BY enqueued_at, id",
        kinds.join(", ")
    );
    const RETURNING: &str = "LIMIT 1) RETURNING id, kind, upload_id, project_id, claims";
    let row: Option<ClaimRow> = match conn {
        DbConnection::Postgres(pg) => {
            diesel::sql_query(format!("{set} FOR UPDATE SKIP LOCKED {RETURNING}"))
                .bind::<Timestamp, _>(now)
                .bind::<Nullable<Timestamp>, _>(Some(now + lease))
                .bind::<Text, _>(worker)
                .get_result(pg)
                .optional()?
        }
        DbConnection::Sqlite(sqlite) => diesel::sql_query(format!("{set} {RETURNING}"))
            .bind::<Timestamp, _>(now)
            .bind::<Nullable<Timestamp>, _>(None::<NaiveDateTime>)
            .bind::<Text, _>(worker)
            .get_result(sqlite)
            .optional()?,
    };
    if let Some(row) = &row {
        notify(conn, CHANNEL_CHANGED, &row.id.to_string())?;
    }
    Ok(row.map(|row| ClaimedTask {
        id: row.id,
        // An unknown kind (written by a newer version) is handled as retention: harmless.
        kind: JobKind::parse(&row.kind).unwrap_or(JobKind::Retention),
        upload_id: row.upload_id.unwrap_or(0),
        project_id: row.project_id.unwrap_or(0),
        claim: row.claims,
    }))
}

/// Enqueues a job of `kind` unless one with the same `dedupe_key` is already waiting
/// (a running one does not count: it may have looked at its work already). Returns
/// whether a job was added.
pub fn enqueue(
    conn: &mut DbConnection,
    kind: JobKind,
    project_id: Option<i64>,
    dedupe_key: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let added = diesel::sql_query(
        "INSERT INTO store_tasks (kind, project_id, dedupe_key, status, received_at, enqueued_at) \
         VALUES ($1, $2, $3, 'enqueued', $4, $4) \
         ON CONFLICT (kind, dedupe_key) WHERE status = 'enqueued' AND dedupe_key IS NOT NULL \
         DO NOTHING",
    )
    .bind::<Text, _>(kind.as_str())
    .bind::<Nullable<BigInt>, _>(project_id)
    .bind::<Text, _>(dedupe_key)
    .bind::<Timestamp, _>(now);
    let added = crate::per_backend!(conn, |c| added.execute(c))?;
    if added > 0 {
        notify(conn, CHANNEL_ENQUEUED, "")?;
    }
    Ok(added > 0)
}

/// Whether a job of `kind` waits, runs, or finished after `since`: periodic jobs use it to
/// run at most once a period.
pub fn pending_or_finished_since(
    conn: &mut DbConnection,
    kind: JobKind,
    since: NaiveDateTime,
) -> QueryResult<bool> {
    let recent = store_tasks::table
        .filter(store_tasks::kind.eq(kind.as_str()))
        .filter(
            store_tasks::status
                .eq_any([TaskStatus::Enqueued.as_str(), TaskStatus::Running.as_str()])
                .or(store_tasks::finished_at.gt(since)),
        );
    diesel::select(diesel::dsl::exists(recent)).get_result(conn)
}

/// Ends the store stage of a task we still own: its run is stored and waits for the
/// scorer, which completes it. Call inside the store transaction; `false` when the claim
/// is no longer ours.
pub fn mark_stored(
    conn: &mut DbConnection,
    task: &ClaimedTask,
    now: NaiveDateTime,
    progress: Progress,
    warnings: &[Warning],
) -> QueryResult<bool> {
    let warnings = serde_json::to_string(warnings).unwrap_or_else(|_| "[]".into());
    let changed = diesel::update(owned(task))
        .set((
            store_tasks::status.eq(TaskStatus::Scoring.as_str()),
            store_tasks::stored_at.eq(now),
            store_tasks::heartbeat_at.eq(now),
            store_tasks::lease_expires_at.eq(None::<NaiveDateTime>),
            store_tasks::records_seen.eq(progress.records_seen),
            store_tasks::records_stored.eq(progress.records_stored),
            store_tasks::warnings.eq(warnings),
        ))
        .execute(conn)?;
    if changed == 1 {
        notify(conn, CHANNEL_CHANGED, &task.id.to_string())?;
    }
    Ok(changed == 1)
}

/// A store task just completed by scoring, with its stage times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub id: i64,
    pub project_id: Option<i64>,
    pub received_at: NaiveDateTime,
    pub enqueued_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub stored_at: Option<NaiveDateTime>,
    pub scored_at: NaiveDateTime,
}

/// Completes the store tasks of runs just scored; returns them with their stage times.
/// Call inside the scoring transaction, so a run's score and its task's completion commit
/// together.
pub fn complete_scored(
    conn: &mut DbConnection,
    run_ids: &[i64],
    now: NaiveDateTime,
) -> QueryResult<Vec<Completed>> {
    let uploads_of_runs = runs::table
        .filter(runs::id.eq_any(run_ids.to_vec()))
        .select(runs::upload_id.nullable());
    type Row = (
        i64,
        Option<i64>,
        NaiveDateTime,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<Row> = crate::per_backend!(conn, |c| diesel::update(
        store_tasks::table
            .filter(store_tasks::status.eq(TaskStatus::Scoring.as_str()))
            .filter(store_tasks::upload_id.eq_any(uploads_of_runs))
    )
    .set((
        store_tasks::status.eq(TaskStatus::Completed.as_str()),
        store_tasks::scored_at.eq(now),
        store_tasks::finished_at.eq(now),
    ))
    .returning((
        store_tasks::id,
        store_tasks::project_id,
        store_tasks::received_at,
        store_tasks::enqueued_at,
        store_tasks::started_at,
        store_tasks::stored_at,
    ))
    .get_results(c))?;
    for (id, ..) in &rows {
        notify(conn, CHANNEL_CHANGED, &id.to_string())?;
    }
    Ok(rows
        .into_iter()
        .map(
            |(id, project_id, received_at, enqueued_at, started_at, stored_at)| Completed {
                id,
                project_id,
                received_at,
                enqueued_at,
                started_at,
                stored_at,
                scored_at: now,
            },
        )
        .collect())
}

/// Runs stored and waiting to be scored, and since when the oldest has waited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScoringBacklog {
    pub waiting: i64,
    pub oldest_stored_at: Option<NaiveDateTime>,
}

/// Store tasks waiting for a worker (all projects), for the upload queue's bound.
pub fn store_tasks_waiting(conn: &mut DbConnection) -> QueryResult<i64> {
    store_tasks::table
        .filter(store_tasks::kind.eq(JobKind::Store.as_str()))
        .filter(store_tasks::status.eq(TaskStatus::Enqueued.as_str()))
        .count()
        .get_result(conn)
}

/// The scoring backlog of the projects in `scope`.
pub fn scoring_backlog(
    conn: &mut DbConnection,
    scope: &ProjectScope,
) -> QueryResult<ScoringBacklog> {
    let mut query = store_tasks::table
        .filter(store_tasks::status.eq(TaskStatus::Scoring.as_str()))
        .into_boxed();
    if let ProjectScope::Only(ids) = scope {
        query = query.filter(store_tasks::project_id.eq_any(ids.clone()));
    }
    let (waiting, oldest_stored_at) = query
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(store_tasks::stored_at),
        ))
        .first::<(i64, Option<NaiveDateTime>)>(conn)?;
    Ok(ScoringBacklog {
        waiting,
        oldest_stored_at,
    })
}

/// Projects with stored runs waiting for a scorer that is neither waiting nor running:
/// the store's own enqueue was lost (its process died between the two). The lease keeper
/// enqueues a scoring job for each.
pub fn projects_missing_a_scorer(conn: &mut DbConnection) -> QueryResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct Project {
        #[diesel(sql_type = BigInt)]
        project_id: i64,
    }
    let waiting: Vec<Project> = diesel::sql_query(
        "SELECT DISTINCT w.project_id FROM store_tasks w \
         WHERE w.status = 'scoring' AND w.project_id IS NOT NULL AND NOT EXISTS ( \
           SELECT 1 FROM store_tasks s WHERE s.kind = 'score' \
           AND s.status IN ('enqueued', 'running') AND s.project_id = w.project_id)",
    )
    .load(conn)?;
    Ok(waiting.into_iter().map(|p| p.project_id).collect())
}

/// Puts running tasks whose lease ran out (their worker died) back in the queue.
pub fn requeue_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
    crate::db::write_transaction(conn, |conn| {
        drop_duplicate_orphans(conn, Some(now))?;
        diesel::update(
            store_tasks::table
                .filter(store_tasks::status.eq(TaskStatus::Running.as_str()))
                .filter(store_tasks::lease_expires_at.lt(now)),
        )
        .set(requeue_changes())
        .execute(conn)
    })
}

/// At the start of a SQLite-backed process: whatever was running belonged to a previous
/// process of ours that died, since only one process serves a SQLite file.
pub fn requeue_orphans(conn: &mut DbConnection) -> QueryResult<usize> {
    crate::db::write_transaction(conn, |conn| {
        drop_duplicate_orphans(conn, None)?;
        diesel::update(
            store_tasks::table.filter(store_tasks::status.eq(TaskStatus::Running.as_str())),
        )
        .set(requeue_changes())
        .execute(conn)
    })
}

/// Deletes the orphans about to be requeued (running jobs, with a lease ended before
/// `lease_ended_before` when given) that must not go back: a job of the same kind and
/// dedupe key already waits and will do the same work, or an older orphan of that key goes
/// back instead. Requeued, they would make two of one key wait, which the unique index
/// refuses: the whole requeue failed, and every orphan stayed running for ever (a scoring
/// job cut off by `kill -9` while the next one waited).
fn drop_duplicate_orphans(
    conn: &mut DbConnection,
    lease_ended_before: Option<NaiveDateTime>,
) -> QueryResult<usize> {
    let orphan = |alias: &str| match lease_ended_before {
        Some(_) => format!("{alias}.status = 'running' AND {alias}.lease_expires_at < $1"),
        None => format!("{alias}.status = 'running'"),
    };
    let sql = format!(
        "DELETE FROM store_tasks WHERE id IN (\
           SELECT o.id FROM store_tasks o WHERE {} AND o.dedupe_key IS NOT NULL AND EXISTS (\
             SELECT 1 FROM store_tasks w WHERE w.kind = o.kind AND w.dedupe_key = o.dedupe_key \
             AND w.id <> o.id AND (w.status = 'enqueued' OR ({} AND w.id < o.id))))",
        orphan("o"),
        orphan("w")
    );
    let dropped = match lease_ended_before {
        Some(before) => {
            let query = diesel::sql_query(sql).bind::<Timestamp, _>(before);
            crate::per_backend!(conn, |c| query.execute(c))?
        }
        None => {
            let query = diesel::sql_query(sql);
            crate::per_backend!(conn, |c| query.execute(c))?
        }
    };
    if dropped > 0 {
        tracing::info!(
            jobs = dropped,
            "dropped orphaned jobs whose same job already waits"
        );
    }
    Ok(dropped)
}

#[allow(clippy::type_complexity)]
fn requeue_changes() -> (
    diesel::dsl::Eq<store_tasks::status, &'static str>,
    diesel::dsl::Eq<store_tasks::worker, Option<String>>,
    diesel::dsl::Eq<store_tasks::lease_expires_at, Option<NaiveDateTime>>,
) {
    (
        store_tasks::status.eq(TaskStatus::Enqueued.as_str()),
        store_tasks::worker.eq(None::<String>),
        store_tasks::lease_expires_at.eq(None::<NaiveDateTime>),
    )
}

/// What a worker learns when it checks in between batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckIn {
    Alive {
        cancel_requested: bool,
    },
    /// Another worker owns the task now (our lease expired); stop and roll back.
    LeaseLost,
}

#[derive(QueryableByName)]
struct CancelRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    cancel_requested: bool,
}

/// Renews the lease and publishes progress (PostgreSQL; a heartbeat does not wait for a
/// WAL flush), or just reads the cancel flag (SQLite, where each store step renews the
/// claim and records progress itself: see `record_step`).
pub fn check_in(
    conn: &mut DbConnection,
    task: &ClaimedTask,
    now: NaiveDateTime,
    lease: Duration,
    progress: Progress,
) -> QueryResult<CheckIn> {
    let row: Option<CancelRow> = match conn {
        DbConnection::Postgres(pg) => crate::db::without_flush_wait_pg(pg, |pg| {
            diesel::sql_query(
                "UPDATE store_tasks SET heartbeat_at = $1, lease_expires_at = $2, \
                 records_seen = $3, records_stored = $4 \
                 WHERE id = $5 AND claims = $6 AND status = 'running' RETURNING cancel_requested",
            )
            .bind::<Timestamp, _>(now)
            .bind::<Timestamp, _>(now + lease)
            .bind::<BigInt, _>(progress.records_seen)
            .bind::<BigInt, _>(progress.records_stored)
            .bind::<BigInt, _>(task.id)
            .bind::<Integer, _>(task.claim)
            .get_result(pg)
            .optional()
        })?,
        DbConnection::Sqlite(sqlite) => diesel::sql_query(
            "SELECT cancel_requested FROM store_tasks \
             WHERE id = $1 AND claims = $2 AND status = 'running'",
        )
        .bind::<BigInt, _>(task.id)
        .bind::<Integer, _>(task.claim)
        .get_result(sqlite)
        .optional()?,
    };
    Ok(match row {
        Some(row) => CheckIn::Alive {
            cancel_requested: row.cancel_requested,
        },
        None => CheckIn::LeaseLost,
    })
}

/// Opens one step of a store that commits batch by batch (SQLite, see `store::staging`):
/// renews the claim and records the progress the step will have made. As the step's first
/// statement it takes SQLite's write lock before any read. `false` when the claim is no
/// longer ours.
pub fn record_step(
    conn: &mut DbConnection,
    task: &ClaimedTask,
    now: NaiveDateTime,
    progress: Progress,
) -> QueryResult<bool> {
    let changed = diesel::update(owned(task))
        .set((
            store_tasks::heartbeat_at.eq(now),
            store_tasks::records_seen.eq(progress.records_seen),
            store_tasks::records_stored.eq(progress.records_stored),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Renews a job's lease from inside the transaction doing its work: as that
/// transaction's first statement it also takes SQLite's write lock before any read.
/// `false` when the claim is no longer ours.
pub fn heartbeat(
    conn: &mut DbConnection,
    task: &ClaimedTask,
    now: NaiveDateTime,
    lease: Duration,
) -> QueryResult<bool> {
    let expires = match conn {
        DbConnection::Postgres(_) => Some(now + lease),
        DbConnection::Sqlite(_) => None,
    };
    let changed = diesel::update(owned(task))
        .set((
            store_tasks::heartbeat_at.eq(now),
            store_tasks::lease_expires_at.eq(expires),
        ))
        .execute(conn)?;
    Ok(changed == 1)
}

/// How a claimed task ends.
pub enum Ending<'a> {
    Completed,
    Failed { error: &'a str },
    Cancelled,
}

/// Records the end of a task we still own; `false` when the claim is no longer ours.
/// `Completed` must be called inside the transaction that stored the results, so the
/// results and the status commit together or not at all.
pub fn finish(
    conn: &mut DbConnection,
    task: &ClaimedTask,
    ending: Ending<'_>,
    now: NaiveDateTime,
    progress: Progress,
    warnings: &[Warning],
) -> QueryResult<bool> {
    let (status, error) = match ending {
        Ending::Completed => (TaskStatus::Completed, None),
        Ending::Failed { error } => (TaskStatus::Failed, Some(error)),
        Ending::Cancelled => (TaskStatus::Cancelled, None),
    };
    let warnings = serde_json::to_string(warnings).unwrap_or_else(|_| "[]".into());
    let changed = diesel::update(owned(task))
        .set((
            store_tasks::status.eq(status.as_str()),
            store_tasks::finished_at.eq(now),
            store_tasks::heartbeat_at.eq(now),
            store_tasks::lease_expires_at.eq(None::<NaiveDateTime>),
            store_tasks::records_seen.eq(progress.records_seen),
            store_tasks::records_stored.eq(progress.records_stored),
            store_tasks::warnings.eq(warnings),
            store_tasks::error.eq(error),
        ))
        .execute(conn)?;
    if changed == 1 {
        notify(conn, CHANNEL_CHANGED, &task.id.to_string())?;
    }
    Ok(changed == 1)
}

/// Gives a task back to the queue at shutdown, for another worker to start afresh at once.
pub fn hand_back(conn: &mut DbConnection, task: &ClaimedTask) -> QueryResult<bool> {
    let changed = diesel::update(owned(task))
        .set((
            requeue_changes(),
            store_tasks::records_seen.eq(0),
            store_tasks::records_stored.eq(0),
        ))
        .execute(conn)?;
    notify(conn, CHANNEL_ENQUEUED, "")?;
    Ok(changed == 1)
}

type OwnedTask = diesel::dsl::Filter<
    diesel::dsl::Filter<
        diesel::dsl::Filter<store_tasks::table, diesel::dsl::Eq<store_tasks::id, i64>>,
        diesel::dsl::Eq<store_tasks::claims, i32>,
    >,
    diesel::dsl::Eq<store_tasks::status, &'static str>,
>;

/// The task row, but only while this claim still holds it.
fn owned(task: &ClaimedTask) -> OwnedTask {
    store_tasks::table
        .filter(store_tasks::id.eq(task.id))
        .filter(store_tasks::claims.eq(task.claim))
        .filter(store_tasks::status.eq(TaskStatus::Running.as_str()))
}

/// Cancels an enqueued task at once, or asks its worker to stop a running one at its next
/// batch. A task that ended meanwhile stays as it ended.
pub fn cancel(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> QueryResult<()> {
    let waiting = diesel::update(
        store_tasks::table
            .filter(store_tasks::id.eq(id))
            .filter(store_tasks::status.eq(TaskStatus::Enqueued.as_str())),
    )
    .set((
        store_tasks::status.eq(TaskStatus::Cancelled.as_str()),
        store_tasks::finished_at.eq(now),
        store_tasks::cancel_requested.eq(true),
    ))
    .execute(conn)?;
    if waiting == 0 {
        // Claimed meanwhile, or running already: its worker sees the flag at check-in.
        diesel::update(
            store_tasks::table
                .filter(store_tasks::id.eq(id))
                .filter(store_tasks::status.eq(TaskStatus::Running.as_str())),
        )
        .set(store_tasks::cancel_requested.eq(true))
        .execute(conn)?;
    }
    notify(conn, CHANNEL_CHANGED, &id.to_string())?;
    Ok(())
}

/// Deletes stored raw reports of tasks that ended more than `keep` ago.
pub fn purge_reports(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    keep: Duration,
) -> QueryResult<usize> {
    let ended = store_tasks::table
        .filter(
            store_tasks::status
                .ne_all([TaskStatus::Enqueued.as_str(), TaskStatus::Running.as_str()]),
        )
        .filter(store_tasks::finished_at.lt(now - keep))
        .select(store_tasks::upload_id);
    diesel::delete(
        upload_payloads::table.filter(upload_payloads::upload_id.nullable().eq_any(ended)),
    )
    .execute(conn)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = store_tasks)]
struct TaskRow {
    id: i64,
    status: String,
    received_at: NaiveDateTime,
    enqueued_at: NaiveDateTime,
    started_at: Option<NaiveDateTime>,
    finished_at: Option<NaiveDateTime>,
    heartbeat_at: Option<NaiveDateTime>,
    stored_at: Option<NaiveDateTime>,
    scored_at: Option<NaiveDateTime>,
    worker: Option<String>,
    cancel_requested: bool,
    records_seen: i64,
    records_stored: i64,
    warnings: String,
    error: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = uploads)]
struct UploadRow {
    project_id: i64,
    idempotency_key: String,
    branch: String,
    commit_sha: String,
    job: String,
    attempt: i32,
    pipeline: String,
    build_url: String,
    runner: String,
}

/// Which projects' tasks a read covers: every project, or these (none: no task), so a
/// page showing several projects reads them in one statement rather than one each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum ProjectScope {
    #[default]
    All,
    Only(Vec<i64>),
}

impl ProjectScope {
    pub fn one(project_id: i64) -> ProjectScope {
        ProjectScope::Only(vec![project_id])
    }
}

/// Filters of the operators' task list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub projects: ProjectScope,
    pub status: Option<TaskStatus>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    /// Seek paging: only tasks after this one in the list's order (newest first).
    pub after: Option<ListPosition>,
    pub limit: i64,
}

/// A place in the task list, which is ordered by `received_at` then `id`, both descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListPosition {
    pub received_at: NaiveDateTime,
    pub id: i64,
}

/// Store tasks with their upload, project and run (other job kinds have none).
macro_rules! task_view_query {
    () => {
        store_tasks::table
            .inner_join(uploads::table.on(store_tasks::upload_id.eq(uploads::id.nullable())))
            .inner_join(projects::table.on(store_tasks::project_id.eq(projects::id.nullable())))
            .left_join(runs::table.on(runs::upload_id.nullable().eq(store_tasks::upload_id)))
            .filter(store_tasks::kind.eq(JobKind::Store.as_str()))
            .select((
                TaskRow::as_select(),
                UploadRow::as_select(),
                projects::name,
                runs::id.nullable(),
            ))
    };
}

type ViewRow = (TaskRow, UploadRow, String, Option<i64>);

pub fn find_by_token(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<TaskView>> {
    let row = task_view_query!()
        .filter(store_tasks::token_hash.eq(token_hash))
        .first::<ViewRow>(conn)
        .optional()?;
    Ok(row.map(|row| to_view(row, now)))
}

pub fn find_by_id(
    conn: &mut DbConnection,
    id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<TaskView>> {
    let row = task_view_query!()
        .filter(store_tasks::id.eq(id))
        .first::<ViewRow>(conn)
        .optional()?;
    Ok(row.map(|row| to_view(row, now)))
}

/// Tasks by newest arrival first.
pub fn list(
    conn: &mut DbConnection,
    filter: &TaskFilter,
    now: NaiveDateTime,
) -> QueryResult<Vec<TaskView>> {
    let mut query = task_view_query!()
        .order(store_tasks::received_at.desc())
        .then_order_by(store_tasks::id.desc())
        .limit(filter.limit)
        .into_boxed();
    if let ProjectScope::Only(ids) = &filter.projects {
        query = query.filter(store_tasks::project_id.eq_any(ids.clone()));
    }
    if let Some(status) = filter.status {
        // `running` as the API shows it includes the tasks being scored.
        let statuses = match status {
            TaskStatus::Running => vec![status.as_str(), TaskStatus::Scoring.as_str()],
            _ => vec![status.as_str()],
        };
        query = query.filter(store_tasks::status.eq_any(statuses));
    }
    if let Some(since) = filter.since {
        query = query.filter(store_tasks::received_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(store_tasks::received_at.lt(until));
    }
    if let Some(after) = filter.after {
        query = query.filter(
            store_tasks::received_at
                .lt(after.received_at)
                .or(store_tasks::received_at
                    .eq(after.received_at)
                    .and(store_tasks::id.lt(after.id))),
        );
    }
    Ok(query
        .load::<ViewRow>(conn)?
        .into_iter()
        .map(|row| to_view(row, now))
        .collect())
}

fn to_view((task, upload, project, run_id): ViewRow, now: NaiveDateTime) -> TaskView {
    let status = TaskStatus::parse(&task.status).unwrap_or(TaskStatus::Failed);
    let queue_end = task.started_at.or(match status {
        TaskStatus::Enqueued => Some(now),
        _ => task.finished_at,
    });
    TaskView {
        id: task.id,
        token: None,
        project,
        project_id: upload.project_id,
        upload_key: upload.idempotency_key,
        status,
        stage: status.stage(),
        received_at: NaiveDateTimeUtc(task.received_at),
        enqueued_at: NaiveDateTimeUtc(task.enqueued_at),
        started_at: task.started_at.map(NaiveDateTimeUtc),
        finished_at: task.finished_at.map(NaiveDateTimeUtc),
        heartbeat_at: task.heartbeat_at.map(NaiveDateTimeUtc),
        stored_at: task.stored_at.map(NaiveDateTimeUtc),
        scored_at: task.scored_at.map(NaiveDateTimeUtc),
        queue_ms: queue_end.map(|end| millis_between(task.enqueued_at, end)),
        store_ms: match (task.started_at, task.stored_at) {
            (Some(start), Some(stored)) => Some(millis_between(start, stored)),
            _ => None,
        },
        scoring_ms: task
            .stored_at
            .map(|stored| millis_between(stored, task.scored_at.unwrap_or(now))),
        run_ms: match (task.started_at, task.finished_at) {
            (Some(start), Some(end)) => Some(millis_between(start, end)),
            _ => None,
        },
        worker: task.worker,
        cancel_requested: task.cancel_requested,
        progress: Progress {
            records_seen: task.records_seen,
            records_stored: task.records_stored,
        },
        warnings: serde_json::from_str(&task.warnings).unwrap_or_default(),
        error: task.error,
        run_id,
        upload: UploadSummary {
            branch: upload.branch,
            commit: upload.commit_sha,
            job: upload.job,
            attempt: upload.attempt,
            pipeline: upload.pipeline,
            build_url: upload.build_url,
            runner: upload.runner,
        },
        spooled: false,
    }
}

/// Number of store tasks in each status, for /metrics.
pub fn count_by_status(conn: &mut DbConnection) -> QueryResult<Vec<(String, i64)>> {
    store_tasks::table
        .filter(store_tasks::kind.eq(JobKind::Store.as_str()))
        .group_by(store_tasks::status)
        .select((store_tasks::status, diesel::dsl::count_star()))
        .load(conn)
}
