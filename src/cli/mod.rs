//! The `flakewatch` command line: one file per command.

mod backup;
mod database;
mod flaky;
mod migrate;
mod parse;
mod progress;
mod project;
mod quarantine;
mod report;
mod rescore;
mod serve;
mod tasks;
mod token;
mod upload;
pub mod usage;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// flakewatch: CI uploads JUnit XML results; flakewatch stores every test result, scores
/// each test's flakiness and shows how trustworthy, actionable, prompt and costly CI is.
///
/// Start with `flakewatch serve` and open http://127.0.0.1:8080. With no configuration the
/// data goes to ./flakewatch.db (SQLite); set DATABASE_URL=postgres://... for PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "flakewatch", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the dashboard and API server (applies pending migrations first).
    Serve(crate::config::ServeSettings),
    /// Apply pending database migrations and exit (safe to run again: a no-op when current).
    Migrate(crate::config::DatabaseSettings),
    /// Write a consistent copy of the database to a new file while `serve` runs (SQLite:
    /// `VACUUM INTO`; PostgreSQL: `pg_dump`, which must be installed).
    Backup(backup::BackupArgs),
    /// Put a backup back: into a new database, or over one with --replace once `serve` and
    /// workers are stopped (PostgreSQL: `pg_restore`).
    Restore(backup::RestoreArgs),
    /// Score a project's whole history again, e.g. after an upgrade of the analyzer.
    Rescore(rescore::RescoreArgs),
    /// Run store workers only (no HTTP), to scale storing out on PostgreSQL.
    Worker(crate::config::WorkerProcessSettings),
    /// Create, list and revoke API tokens.
    Token(token::TokenArgs),
    /// Create, change, show and list projects: default branch, display name, runner prices.
    Project(project::ProjectArgs),
    /// Quarantine a test (its failures stop failing the CI gate), end it, list them.
    Quarantine(quarantine::QuarantineArgs),
    /// Export a report: `report weekly` gives a week's CI quality as HTML, Markdown, CSV or
    /// JSON.
    Report(report::ReportArgs),
    /// Send JUnit XML reports from a CI job and wait until the server has stored them.
    ///
    /// Exit codes: 0 stored, 1 error (network, token, input), 2 the server could not store
    /// the reports (e.g. they do not parse), 3 still running at --timeout, 4 cancelled,
    /// 5 stored, and --fail-on says the failures fail the job.
    Upload(upload::UploadArgs),
    /// Read JUnit XML reports locally and show their counts (or every record as JSON);
    /// exits 1 if any file cannot be read, naming file, line and column.
    Parse(parse::ParseArgs),
    /// List the tests flakewatch calls flaky (or quarantined, broken, ...), costliest first:
    /// names, JSON, or the arguments that leave them out in pytest, Maven, Gradle, Jest, Go or
    /// cargo-nextest.
    Flaky(flaky::FlakyArgs),
    /// Show, await, cancel or list store tasks.
    Tasks(tasks::TasksArgs),
}

impl Cli {
    /// The log filter when `RUST_LOG` is not set: processes that keep running log their
    /// life at `info`; one-shot commands speak through their output and log only warnings.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Serve(_) | Command::Worker(_) => "info,actix_server=warn,actix_web=warn",
            _ => "warn",
        }
    }

    /// Runs the command; the exit code carries a client command's outcome (see `upload`).
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Serve(settings) => serve::run(settings).map(|()| ExitCode::SUCCESS),
            Command::Migrate(settings) => migrate::run(settings).map(|()| ExitCode::SUCCESS),
            Command::Backup(args) => backup::backup(args).map(|()| ExitCode::SUCCESS),
            Command::Restore(args) => backup::restore(args).map(|()| ExitCode::SUCCESS),
            Command::Token(args) => token::run(args).map(|()| ExitCode::SUCCESS),
            Command::Project(args) => project::run(args).map(|()| ExitCode::SUCCESS),
            Command::Quarantine(args) => quarantine::run(args),
            Command::Report(args) => report::run(args).map(|()| ExitCode::SUCCESS),
            Command::Rescore(args) => rescore::run(args).map(|()| ExitCode::SUCCESS),
            Command::Worker(settings) => worker::run(settings).map(|()| ExitCode::SUCCESS),
            Command::Upload(args) => upload::run(args),
            Command::Parse(args) => parse::run(args),
            Command::Flaky(args) => flaky::run(args),
            Command::Tasks(args) => tasks::run(args),
        }
    }
}
