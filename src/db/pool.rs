//! The connection pool, and opening a database ready for use (connected and migrated).

use std::time::Duration;

use diesel::r2d2::R2D2Connection;

use super::connection::{connect, DbConnection};
use super::migrations;
use super::target::{Backend, DatabaseTarget};
use crate::config::DatabaseSettings;
use crate::error::StartupError;

pub type DbPool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Makes pool connections with [`connect`], so pooled ones get the same set-up and errors.
#[derive(Debug)]
pub struct ConnectionManager {
    target: DatabaseTarget,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = StartupError;

    fn connect(&self) -> Result<DbConnection, StartupError> {
        connect(&self.target)
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
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(|err| E::from(DbError::Pool(err)))?;
            work(&mut conn)
        })
        .await
        .map_err(|err| E::from(DbError::Join(err.to_string())))?
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
    let pool = r2d2::Pool::builder()
        .max_size(settings.db_pool_size)
        .min_idle(min_idle)
        .connection_timeout(Duration::from_secs(10))
        .build_unchecked(ConnectionManager {
            target: target.clone(),
        });
    tracing::info!(%backend, %target, pool_size = settings.db_pool_size, "database ready");
    Ok(Database {
        pool,
        backend,
        target,
    })
}
