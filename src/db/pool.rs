//! The connection pool, and opening a database ready for use (connected and migrated).

use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::r2d2::R2D2Connection;

use super::changes::{self, DataChanges};
use super::connection::{connect, DbConnection};
use super::migrations;
use super::target::{Backend, DatabaseTarget};
use crate::config::DatabaseSettings;
use crate::error::StartupError;
use crate::metrics::Histogram;

pub type DbPool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Longest wait for a pooled connection while the database answers (all connections busy).
const POOL_WAIT: Duration = Duration::from_secs(10);
/// Steps of that wait: between them, a database known to be down ends the wait, so
/// requests answer 503 within about this long during an outage instead of after
/// `POOL_WAIT`.
const POOL_WAIT_STEP: Duration = Duration::from_millis(250);

/// A wait for a pooled connection worth a line in the log.
const LONG_POOL_WAIT: Duration = Duration::from_secs(1);

/// Makes pool connections with [`connect`], so pooled ones get the same set-up and errors.
#[derive(Debug)]
pub struct ConnectionManager {
    target: DatabaseTarget,
    /// Set while the latest attempt to connect failed: the database is down.
    unreachable: Arc<AtomicBool>,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = StartupError;

    fn connect(&self) -> Result<DbConnection, StartupError> {
        let result = connect(&self.target);
        self.unreachable.store(result.is_err(), Ordering::Relaxed);
        result
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), StartupError> {
        conn.ping().map_err(|err| StartupError::ConnectionCheck {
            target: self.target.to_string(),
            reason: err.to_string(),
        })
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// An open, migrated database and its pool; cheap to clone.
#[derive(Clone)]
pub struct Database {
    pub pool: DbPool,
    pub backend: Backend,
    pub target: DatabaseTarget,
    /// Shared with the pool's connection manager: the latest connection attempt failed.
    unreachable: Arc<AtomicBool>,
    /// Changes to what pages show, heard by this process.
    pub changes: Arc<DataChanges>,
    /// How long callers waited for a pooled connection (`/metrics`).
    pub pool_wait: Arc<Histogram>,
}

impl Database {
    /// Runs `work` with a pooled connection on tokio's blocking pool, so database calls never
    /// stall the async workers that serve HTTP.
    #[track_caller]
    pub fn run<T, E, F>(&self, work: F) -> impl std::future::Future<Output = Result<T, E>>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        // Where the call is, for the log line of a long wait for a connection.
        let caller = Location::caller();
        let pool = self.pool.clone();
        let unreachable = self.unreachable.clone();
        let data_changes = self.changes.clone();
        let pool_wait = self.pool_wait.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let conn = checkout(&pool, &unreachable, &pool_wait, caller)
                    .map_err(|err| E::from(DbError::Pool(err)))?;
                work(&mut Checkout { conn, data_changes })
            })
            .await
            .map_err(|err| E::from(DbError::Join(err.to_string())))?
        }
    }

    /// A pooled connection for blocking code (the store workers), waiting up to the pool's
    /// time-out for one.
    #[track_caller]
    pub fn connection(&self) -> Result<Checkout, r2d2::Error> {
        let asked = Instant::now();
        let conn = self.pool.get()?;
        note_wait(&self.pool, &self.pool_wait, asked, Location::caller());
        Ok(Checkout {
            conn,
            data_changes: self.changes.clone(),
        })
    }
}

/// A pooled connection that, when it goes back, counts the change to page data it made
/// (`db::changes`): after its transactions ended, before its user tells anyone.
pub struct Checkout {
    conn: PooledConnection,
    data_changes: Arc<DataChanges>,
}

impl std::ops::Deref for Checkout {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Checkout {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if changes::take_changed_here() {
            self.data_changes.heard();
        }
    }
}

/// A pooled connection: waits up to `POOL_WAIT` while every connection is busy, but gives
/// up at the next step once connecting has failed (the database is down), so callers
/// answer at once and their clients retry, instead of piling up for the whole wait.
fn checkout(
    pool: &DbPool,
    unreachable: &AtomicBool,
    pool_wait: &Histogram,
    caller: &Location,
) -> Result<PooledConnection, r2d2::Error> {
    let asked = Instant::now();
    let deadline = asked + POOL_WAIT;
    loop {
        match pool.get_timeout(POOL_WAIT_STEP) {
            Ok(conn) => {
                note_wait(pool, pool_wait, asked, caller);
                return Ok(conn);
            }
            Err(err) if unreachable.load(Ordering::Relaxed) || Instant::now() >= deadline => {
                return Err(err)
            }
            Err(_) => {}
        }
    }
}

/// Counts a wait for a connection; a long one is logged with the code that waited, since
/// it means every connection was busy (too small a `--db-pool-size`, or slow statements
/// holding them).
fn note_wait(pool: &DbPool, pool_wait: &Histogram, asked: Instant, caller: &Location) {
    let waited = asked.elapsed();
    pool_wait.observe_ms(waited.as_millis().try_into().unwrap_or(i64::MAX));
    if waited >= LONG_POOL_WAIT {
        tracing::warn!(
            waited_ms = waited.as_millis() as u64,
            pool_size = pool.max_size(),
            %caller,
            "waited long for a database connection: all were busy"
        );
    }
}

/// What can go wrong around a query, apart from the query itself.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database task did not finish: {0}")]
    Join(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// One failure shared by every request that waited on the same read.
    #[error(transparent)]
    Shared(std::sync::Arc<DbError>),
}

/// Connects, applies pending migrations and builds the pool. The first connection is made
/// by hand so a bad URL fails at once with a clear message instead of a pool time-out.
/// A missing SQLite file is created only when `settings.create` says so.
pub fn open(settings: &DatabaseSettings) -> Result<Database, StartupError> {
    open_pool(settings, None)
}

/// [`open`] for a command that does its work and exits: the pool makes connections only
/// when one is asked for, never ahead in its background threads. A connection still being
/// made in such a thread when the process exits crashes it (libpq and OpenSSL clean up
/// under it), which one-shot commands on PostgreSQL did about one time in five.
pub fn open_for_command(settings: &DatabaseSettings) -> Result<Database, StartupError> {
    open_pool(settings, Some(0))
}

/// `min_idle`: connections the pool keeps ready (`None`: as many as it may hold).
fn open_pool(settings: &DatabaseSettings, min_idle: Option<u32>) -> Result<Database, StartupError> {
    let target = DatabaseTarget::from_settings(settings)?;
    let mut first = connect(&target)?;
    migrations::run_pending(&mut first, &target)?;
    drop(first);

    let backend = target.backend();
    let unreachable = Arc::new(AtomicBool::new(false));
    let pool = r2d2::Pool::builder()
        .max_size(settings.db_pool_size)
        .min_idle(min_idle)
        .connection_timeout(POOL_WAIT)
        .build_unchecked(ConnectionManager {
            target: target.clone(),
            unreachable: unreachable.clone(),
        });
    tracing::info!(%backend, %target, pool_size = settings.db_pool_size, "database ready");
    Ok(Database {
        pool,
        backend,
        target,
        unreachable,
        changes: Arc::new(DataChanges::default()),
        pool_wait: Arc::new(Histogram::new()),
    })
}
