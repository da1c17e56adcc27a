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

/// Every SQLite connection's busy timeout, so concurrent writers queue instead of failing.
/// Set first: setting WAL needs a lock another process may hold for a moment, and without
/// the timeout that fails at once with "database is locked".
pub(super) const SQLITE_BUSY_TIMEOUT_MS: u32 = 30_000;
/// SQLite settings that every connection needs after its busy timeout: WAL so readers never
/// block the writer, and enforced foreign keys.
const SQLITE_SETUP: &str = "PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;";

/// PostgreSQL settings of every connection. No JIT: its compiling costs 10-30 ms a
/// statement, and it starts on estimated costs, which a statement of a few index lookups
/// per row can reach when the row estimate is high (a test's failure modes took 0.4 ms
/// without it and 12-35 ms with it).
const POSTGRES_SETUP: &str = "SET jit = off";

/// Opens one connection. Unlike `Connection::establish` on the enum, this never tries the
/// other backend when the first one fails, and it says what went wrong.
pub fn connect(target: &DatabaseTarget) -> Result<DbConnection, StartupError> {
    match target {
        DatabaseTarget::Postgres(url) => {
            let unreachable = |reason: String| StartupError::PostgresUnreachable {
                target: target.to_string(),
                reason,
            };
            let mut conn = PgConnection::establish(url)
                .map_err(|err| unreachable(first_line(&err.to_string())))?;
            conn.batch_execute(POSTGRES_SETUP)
                .map_err(|err| unreachable(first_line(&err.to_string())))?;
            Ok(DbConnection::Postgres(conn))
        }
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
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};\n{SQLITE_SETUP}"
            ))
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

/// Runs `work` in a transaction that writes. On SQLite it starts with `BEGIN IMMEDIATE`: a
/// plain (deferred) transaction that reads before it writes fails at once with "database is
/// locked" when another connection commits in between, because waiting cannot help it then
/// (a settings change racing the lease keeper's heartbeat did). Taking the write lock first
/// makes it queue behind other writers like a single write does. Nested calls are savepoints.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConnection::Sqlite(sqlite) = conn else {
        return conn.transaction(work);
    };
    let depth = AnsiTransactionManager::transaction_manager_status_mut(sqlite)
        .transaction_depth()
        .map_err(E::from)?;
    if depth.is_some() {
        return conn.transaction(work);
    }
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    match work(conn) {
        Ok(value) => {
            DbConnection::commit_transaction(conn)?;
            Ok(value)
        }
        Err(err) => match DbConnection::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(err),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// Runs `work` in a transaction whose commit does not wait for its WAL flush on
/// PostgreSQL (`synchronous_commit = off` for that transaction only): for idempotent side
/// writes such as heartbeats and shared test identities. A crash can lose such a commit,
/// but never one made after it: WAL is flushed in order, so the store transaction that
/// relies on these rows flushes them with its own commit. On SQLite `work` simply runs.
pub fn without_flush_wait<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<T> {
    use diesel::connection::Connection;
    if matches!(conn, DbConnection::Sqlite(_)) {
        return work(conn);
    }
    conn.transaction(|conn| {
        if let DbConnection::Postgres(pg) = conn {
            relax_commit(pg)?;
        }
        work(conn)
    })
}

/// `without_flush_wait` for a PostgreSQL connection.
pub fn without_flush_wait_pg<T>(
    pg: &mut diesel::PgConnection,
    work: impl FnOnce(&mut diesel::PgConnection) -> diesel::QueryResult<T>,
) -> diesel::QueryResult<T> {
    use diesel::connection::Connection;
    pg.transaction(|pg| {
        relax_commit(pg)?;
        work(pg)
    })
}

fn relax_commit(pg: &mut diesel::PgConnection) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl;
    diesel::sql_query("SET LOCAL synchronous_commit = off")
        .execute(pg)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    use diesel::{Connection, RunQueryDsl};

    use super::{connect, write_transaction, DbConnection};
    use crate::db::DatabaseTarget;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn count(conn: &mut DbConnection) -> diesel::QueryResult<i64> {
        let row: Count = diesel::sql_query("SELECT count(*) AS n FROM t").get_result(conn)?;
        Ok(row.n)
    }

    #[test]
    fn sqlite_write_transaction_that_reads_first_survives_another_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = DatabaseTarget::Sqlite(dir.path().join("locks.db"));
        let mut ours = connect(&target).unwrap();
        let mut other = connect(&target).unwrap();
        ours.batch_execute("CREATE TABLE t (n INTEGER)").unwrap();
        other.batch_execute("PRAGMA busy_timeout = 50").unwrap();

        // A plain transaction reads, another connection commits, and its write then fails.
        let plain = ours.transaction(|tx| {
            count(tx)?;
            other.batch_execute("INSERT INTO t VALUES (1)")?;
            tx.batch_execute("INSERT INTO t VALUES (2)")
        });
        assert!(
            plain.is_err(),
            "the deferred transaction was expected to fail"
        );

        // A write transaction holds the write lock from its start: the other writer is the
        // one that waits (here, past its short timeout), and ours commits.
        let written = write_transaction(&mut ours, |tx| {
            let before = count(tx)?;
            let blocked = other.batch_execute("INSERT INTO t VALUES (3)");
            assert!(
                blocked.is_err(),
                "another writer got in during a write transaction"
            );
            tx.batch_execute("INSERT INTO t VALUES (4)")?;
            Ok::<_, diesel::result::Error>(before)
        });
        assert_eq!(written, Ok(1));
        assert_eq!(count(&mut ours), Ok(2));
    }
}
