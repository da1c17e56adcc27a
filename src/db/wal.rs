//! Keeps SQLite's write-ahead log from outgrowing the database.
//!
//! SQLite's automatic checkpoints copy the log back into the database, but the log file only
//! starts over when no reader still uses it. Under steady reads and writes (dashboard
//! readers, the spool mover, a stepped store) that moment may never come, and the log grew to
//! 59 GB beside a 590 MB database in a 20-minute soak. A checkpoint in TRUNCATE mode waits
//! for such a moment and empties the file; it is tried with a short busy timeout, so it never
//! holds writers back for long, and simply tried again at the next tick when readers were in
//! the way.

use diesel::connection::SimpleConnection;
use diesel::sql_types::Integer;
use diesel::{QueryableByName, RunQueryDsl};

use super::connection::SQLITE_BUSY_TIMEOUT_MS;
use super::DbConnection;

/// How long a checkpoint waits for readers and the writer, in milliseconds.
const CHECKPOINT_WAIT_MS: u32 = 200;

/// What one checkpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Readers or the writer were in the way: the log was not emptied this time.
    pub busy: bool,
    /// Pages in the log before the checkpoint.
    pub log_pages: i32,
}

#[derive(QueryableByName)]
struct CheckpointRow {
    #[diesel(sql_type = Integer)]
    busy: i32,
    #[diesel(sql_type = Integer)]
    log: i32,
}

/// Empties SQLite's write-ahead log when it can (`None` on PostgreSQL, which has no such
/// file to keep small).
pub fn truncate_log(conn: &mut DbConnection) -> diesel::QueryResult<Option<Checkpoint>> {
    let DbConnection::Sqlite(sqlite) = conn else {
        return Ok(None);
    };
    sqlite.batch_execute(&format!("PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}"))?;
    let row =
        diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result::<CheckpointRow>(sqlite);
    // The pooled connection goes back with its usual patience, whatever the checkpoint did.
    sqlite.batch_execute(&format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"))?;
    let row = row?;
    Ok(Some(Checkpoint {
        busy: row.busy != 0,
        log_pages: row.log,
    }))
}
