//! SQLite: results of a store in progress, committed batch by batch (`staged_results`).
//!
//! SQLite has one write lock. Were a report stored in one transaction, as on PostgreSQL,
//! the lock would be held for the whole store (minutes for a million cases), and every
//! other write (moving spooled uploads in, other stores, scoring, cancels) would wait that
//! long. Staged, the lock is held one batch at a time. Staged rows belong to no run, so no
//! reader and no scorer sees them; the store's last step creates the run, moves its rows
//! into `results` and marks the task stored, in one transaction, so a run appears whole or
//! not at all. Rows are keyed by task and claim: a later claim of the task (after a crash
//! or a hand-back) discards what an earlier one staged and starts over, so each result is
//! stored exactly once.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};

use crate::db::schema::staged_results;
use crate::db::DbConnection;
use crate::tasks::{ClaimedTask, TaskStatus};

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = staged_results, treat_none_as_default_value = false)]
pub struct StagedResult {
    pub task_id: i64,
    pub claim: i32,
    pub test_id: i64,
    pub outcome: &'static str,
    pub duration_ms: Option<i64>,
    pub attempts: i32,
    pub failed_attempts: i32,
    pub retry_ms: i64,
    pub failure_message_id: Option<i64>,
}

/// Stages one batch; call inside the batch's transaction.
pub fn insert(conn: &mut DbConnection, rows: &[StagedResult]) -> QueryResult<usize> {
    let mut inserted = 0;
    // 9 bound values a row; SQLite allows 32766 per statement.
    for chunk in rows.chunks(2000) {
        inserted +=
            crate::per_backend!(&mut *conn, |c| diesel::insert_into(staged_results::table)
                .values(chunk)
                .execute(c))?;
    }
    Ok(inserted)
}

/// Moves what `task` staged into `results` as run `run_id`, in staging order, and clears
/// it; returns the number of results. Call inside the transaction that marks it stored.
pub fn publish(conn: &mut DbConnection, task: &ClaimedTask, run_id: i64) -> QueryResult<usize> {
    let moved = diesel::sql_query(
        "INSERT INTO results (run_id, test_id, outcome, duration_ms, attempts, failed_attempts, \
         retry_ms, failure_message_id) \
         SELECT $1, test_id, outcome, duration_ms, attempts, failed_attempts, retry_ms, \
         failure_message_id FROM staged_results WHERE task_id = $2 AND claim = $3 ORDER BY id",
    )
    .bind::<BigInt, _>(run_id)
    .bind::<BigInt, _>(task.id)
    .bind::<Integer, _>(task.claim)
    .execute(conn)?;
    discard(conn, task.id)?;
    Ok(moved)
}

/// Forgets what was staged for tasks that are not running.
pub fn discard_of_stopped_tasks(conn: &mut DbConnection) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM staged_results WHERE task_id NOT IN \
         (SELECT id FROM store_tasks WHERE status = $1)",
    )
    .bind::<diesel::sql_types::Text, _>(TaskStatus::Running.as_str())
    .execute(conn)
}

/// Forgets everything staged for task `task_id`, by any claim.
pub fn discard(conn: &mut DbConnection, task_id: i64) -> QueryResult<usize> {
    diesel::delete(staged_results::table.filter(staged_results::task_id.eq(task_id))).execute(conn)
}
