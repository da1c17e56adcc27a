//! The `flakewatch` command line: one file per command.

mod migrate;
mod serve;
mod token;
mod worker;

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
    /// Run store workers only (no HTTP), to scale storing out on PostgreSQL.
    Worker(crate::config::WorkerProcessSettings),
    /// Create, list and revoke API tokens.
    Token(token::TokenArgs),
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(settings) => serve::run(settings),
            Command::Migrate(settings) => migrate::run(settings),
            Command::Token(args) => token::run(args),
            Command::Worker(settings) => worker::run(settings),
        }
    }
}
