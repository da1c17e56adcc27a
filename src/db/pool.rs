//! The connection pool, and opening a database ready for use (connected and migrated).

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

pub type DbPool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Longest wait for a pooled connection while the database answers (all connections busy).
const POOL_WAIT: Duration = Duration::from_secs(10);
/// Steps of that wait: between them, a database known to be down ends the wait, so
/// requests answer 503 within about this long during an outage instead of after
/// `POOL_WAIT`.
const POOL_WAIT_STEP: Duration = Duration::from_millis(250);

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
}

impl Database {
    /// Runs `work` with a pooled connection on tokio's blocking pool, so database calls never
    /// stall the async workers that serve HTTP.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
    {
        let pool = self.pool.clone();
        let unreachable = self.unreachable.clone();
        let data_changes = self.changes.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = Checkout {
                conn: checkout(&pool, &unreachable).map_err(|err| E::from(DbError::Pool(err)))?,
                data_changes,
            };
            work(&mut conn)
        })
        .await
        .map_err(|err| E::from(DbError::Join(err.to_string())))?
    }

    /// A pooled connection for blocking code (the store workers), waiting up to the pool's
    /// time-out for one.
    pub fn connection(&self) -> Result<Checkout, r2d2::Error> {
        Ok(Checkout {
            conn: self.pool.get()?,
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
fn checkout(pool: &DbPool, unreachable: &AtomicBool) -> Result<PooledConnection, r2d2::Error> {
    let deadline = Instant::now() + POOL_WAIT;
    loop {
        match pool.get_timeout(POOL_WAIT_STEP) {
            Ok(conn) => return Ok(conn),
            Err(err) if unreachable.load(Ordering::Relaxed) || Instant::now() >= deadline => {
                return Err(err)
            }
            Err(_) => {}
        }
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
    })
}
