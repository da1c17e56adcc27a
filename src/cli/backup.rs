//! `flakewatch backup` and `flakewatch restore`: a consistent copy of the database taken
//! while `serve` runs, and putting one back with the server stopped.
//!
//! SQLite: `VACUUM INTO` writes a consistent, compacted copy in one read transaction, so
//! uploads go on meanwhile (WAL mode). PostgreSQL: `pg_dump` in its custom format and
//! `pg_restore`, from the PostgreSQL client tools, which must be installed.
//!
//! A SQLite database has a second file, the upload spool (`store::spool`): uploads accepted
//! but not yet moved into the database. A backup copies it to `FILE.spool` *before* the
//! database, so an upload moved in between is in both copies (the move after a restore
//! finds it stored and drops the spooled copy) and none is in neither.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use clap::Args;
use diesel::connection::SimpleConnection;
use diesel::{QueryableByName, RunQueryDsl};

use crate::cli::database;
use crate::config::DatabaseSettings;
use crate::db::{self, migrations, DatabaseTarget, DbConnection};
use crate::store::spool;

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,

    /// File to write the backup to; it must not exist yet.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,

    /// A backup written by `flakewatch backup`.
    pub file: PathBuf,

    /// Overwrite the database if it exists (stop `serve` and workers first).
    #[arg(long)]
    pub replace: bool,
}

pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    if args.file.exists() {
        bail!(
            "{} exists already: a backup never overwrites a file; name a new one",
            args.file.display()
        );
    }
    let target = database::target(&args.database)?;
    match &target {
        DatabaseTarget::Sqlite(path) => {
            if !path.exists() {
                bail!("there is no SQLite database at {}: nothing to back up (point --database-url or DATABASE_URL at it)", path.display());
            }
            let spool = spool::path_beside(path);
            let spool_copy = spool::path_beside(&args.file);
            if spool.exists() {
                if spool_copy.exists() {
                    bail!(
                        "{} exists already: a backup never overwrites a file; name a new one",
                        spool_copy.display()
                    );
                }
                let mut conn = db::connect(&DatabaseTarget::Sqlite(spool))?;
                vacuum_into(&mut conn, &spool_copy)?;
                println!("backed up the upload spool to {}", spool_copy.display());
            }
            let mut conn = db::connect(&target)?;
            vacuum_into(&mut conn, &args.file)?;
        }
        DatabaseTarget::Postgres(url) => {
            let file = args.file.to_string_lossy();
            client_tool(
                "pg_dump",
                &["--format=custom", "--file", &file, "--dbname", url],
            )?;
        }
    }
    let bytes = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {target} to {} ({bytes} bytes)",
        args.file.display()
    );
    Ok(())
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    if !args.file.is_file() {
        bail!("there is no backup file at {}", args.file.display());
    }
    let target = DatabaseTarget::from_settings(&DatabaseSettings {
        create: true,
        ..args.database.clone()
    })?;
    match &target {
        DatabaseTarget::Sqlite(path) => restore_sqlite(&args.file, path, args.replace)?,
        DatabaseTarget::Postgres(url) => {
            let file = args.file.to_string_lossy();
            let mut arguments = vec!["--no-owner", "--exit-on-error", "--dbname", url];
            if args.replace {
                arguments.extend(["--clean", "--if-exists"]);
            }
            arguments.push(&file);
            client_tool("pg_restore", &arguments)?;
        }
    }
    // A backup of an older version is brought up to date at once.
    let mut conn = db::connect(&target)?;
    migrations::run_pending(&mut conn, &target)?;
    println!("restored {} into {target}", args.file.display());
    Ok(())
}

fn restore_sqlite(backup: &Path, path: &Path, replace: bool) -> anyhow::Result<()> {
    let backup_target = DatabaseTarget::Sqlite(backup.to_owned());
    let mut source = db::connect(&backup_target)?;
    check_is_flakewatch_sqlite(&mut source)
        .with_context(|| format!("{} is not a flakewatch SQLite backup", backup.display()))?;
    let spool = spool::path_beside(path);
    if path.exists() || spool.exists() {
        if !replace {
            let existing = if path.exists() { path } else { spool.as_path() };
            bail!(
                "{} exists: stop `flakewatch serve`, then pass --replace to overwrite it with the backup",
                existing.display()
            );
        }
        // The spool goes too: its uploads belong to the database being replaced.
        for file in [path, spool.as_path()] {
            for suffix in ["", "-wal", "-shm"] {
                let file = PathBuf::from(format!("{}{suffix}", file.display()));
                if file.exists() {
                    std::fs::remove_file(&file)
                        .with_context(|| format!("cannot remove {}", file.display()))?;
                }
            }
        }
    }
    // The uploads the backup's spool held are moved in when `serve` starts.
    let spool_copy = spool::path_beside(backup);
    if spool_copy.exists() {
        let mut spooled = db::connect(&DatabaseTarget::Sqlite(spool_copy))?;
        vacuum_into(&mut spooled, &spool)?;
    }
    vacuum_into(&mut source, path)
}

/// A consistent copy of the open SQLite database in a new file.
fn vacuum_into(conn: &mut DbConnection, file: &Path) -> anyhow::Result<()> {
    let path = file
        .to_str()
        .context("the backup file's path is not valid UTF-8")?;
    diesel::sql_query("VACUUM INTO ?")
        .bind::<diesel::sql_types::Text, _>(path)
        .execute(conn)
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(())
}

fn check_is_flakewatch_sqlite(conn: &mut DbConnection) -> anyhow::Result<()> {
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let check: Check = diesel::sql_query("PRAGMA integrity_check").get_result(conn)?;
    if check.integrity_check != "ok" {
        bail!("the integrity check says: {}", check.integrity_check);
    }
    conn.batch_execute("SELECT 1 FROM __diesel_schema_migrations LIMIT 1")
        .context("it has no flakewatch schema")?;
    Ok(())
}

/// Runs a PostgreSQL client tool, saying what to install if it is missing.
fn client_tool(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(program).args(args).output().map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound {
            anyhow::anyhow!(
                "{program} is not installed: install the PostgreSQL client tools of your server's version or newer (e.g. `apt install postgresql-client`)"
            )
        } else {
            anyhow::anyhow!("cannot run {program}: {err}")
        }
    })?;
    if !output.status.success() {
        bail!(
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
