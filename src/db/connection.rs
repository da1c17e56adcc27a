//! One connection type over both backends, established with errors an operator can act on.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};

use super::target::DatabaseTarget;
use crate::error::StartupError;

/// A connection to either backend. Common queries go through this enum directly; code that
/// needs one backend's own SQL (COPY, SKIP LOCKED) matches on the variant.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// SQLite settings that every connection needs: a busy timeout so concurrent writers queue
/// instead of failing (first: setting WAL needs a lock another process may hold for a
/// moment, and without the timeout that fails at once with "database is locked"), WAL so
/// readers never block the writer, and enforced foreign keys.
const SQLITE_SETUP: &str = "PRAGMA busy_timeout = 30000;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;";

/// Opens one connection. Unlike `Connection::establish` on the enum, this never tries the
/// other backend when the first one fails, and it says what went wrong.
pub fn connect(target: &DatabaseTarget) -> Result<DbConnection, StartupError> {
    match target {
        DatabaseTarget::Postgres(url) => PgConnection::establish(url)
            .map(DbConnection::Postgres)
            .map_err(|err| StartupError::PostgresUnreachable {
                target: target.to_string(),
                reason: first_line(&err.to_string()),
            }),
        DatabaseTarget::Sqlite(path) => {
            let unusable = |reason: String| StartupError::SqliteUnusable {
                path: path.display().to_string(),
                reason,
            };
            let path_text = path
                .to_str()
                .ok_or_else(|| unusable("the path is not valid UTF-8".into()))?;
            let mut conn = SqliteConnection::establish(path_text)
                .map_err(|err| unusable(first_line(&err.to_string())))?;
            // Opening is lazy: the first write is what fails on a read-only file or folder.
            conn.batch_execute(SQLITE_SETUP)
                .map_err(|err| unusable(first_line(&err.to_string())))?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// libpq's messages run over several lines with hints we replace by our own.
fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("unknown error")
        .to_owned()
}

/// Runs the same code on whichever backend `conn` is, type-checked once per backend. For
/// SQL the multi-backend query builder cannot express (upserts, RETURNING, COPY).
///
/// `per_backend!(conn, |c| diesel::insert_into(t).values(v).on_conflict_do_nothing().execute(c))`
#[macro_export]
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
