//! The two migration sets, embedded in the binary, and running them safely.

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationVersion;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::connection::DbConnection;
use super::target::DatabaseTarget;
use crate::error::StartupError;

pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Any fixed number works; it only has to be the same in every replica.
const MIGRATION_LOCK_KEY: i64 = 0x666c_616b_6577_6174; // "flakewat"

/// Applies the migrations not yet applied and returns their versions (empty when the
/// schema is current). On PostgreSQL an advisory lock makes replicas that start together
/// take turns instead of racing each other.
pub fn run_pending(
    conn: &mut DbConnection,
    target: &DatabaseTarget,
) -> Result<Vec<String>, StartupError> {
    let failed = |reason: String| StartupError::Migration {
        target: target.to_string(),
        reason,
    };
    let applied = match conn {
        DbConnection::Postgres(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .map_err(|err| failed(err.to_string()))?;
            let result = pg
                .run_pending_migrations(POSTGRES)
                .map(versions)
                .map_err(|err| failed(err.to_string()));
            let unlocked =
                pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
            let applied = result?;
            unlocked.map_err(|err| failed(err.to_string()))?;
            if applied.iter().any(|v| v == NAME_SEARCH_MIGRATION) {
                warn_without_trigrams(pg);
            }
            applied
        }
        DbConnection::Sqlite(sqlite) => sqlite
            .run_pending_migrations(SQLITE)
            .map(versions)
            .map_err(|err| failed(err.to_string()))?,
    };
    for version in &applied {
        tracing::info!(%version, "applied migration");
    }
    Ok(applied)
}

/// The PostgreSQL migration that adds the name search's trigram indexes when it can.
const NAME_SEARCH_MIGRATION: &str = "20261207000303";

/// Says so when the trigram indexes could not be made: the database user may not create
/// the `pg_trgm` extension, so finding tests by name reads every name of the project.
fn warn_without_trigrams(pg: &mut diesel::PgConnection) {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found =
        diesel::sql_query("SELECT count(*) AS n FROM pg_extension WHERE extname = 'pg_trgm'")
            .get_result::<Found>(pg);
    if matches!(found, Ok(Found { n: 0 })) {
        tracing::warn!(
            "the pg_trgm extension could not be created (the database user needs CREATE on \
             the database, e.g. as its owner): searching tests by name reads every name"
        );
    }
}

/// True when every embedded migration has been applied.
pub fn is_current(conn: &mut DbConnection) -> Result<bool, String> {
    let pending = match conn {
        DbConnection::Postgres(pg) => pg.has_pending_migration(POSTGRES),
        DbConnection::Sqlite(sqlite) => sqlite.has_pending_migration(SQLITE),
    };
    pending
        .map(|pending| !pending)
        .map_err(|err| err.to_string())
}

fn versions(applied: Vec<MigrationVersion<'_>>) -> Vec<String> {
    applied.iter().map(ToString::to_string).collect()
}
