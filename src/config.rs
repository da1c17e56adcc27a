//! Every setting flakewatch reads, declared once.
//!
//! Precedence is flag > environment > default; clap's `env` attribute gives us that, and
//! `--help` lists the variable next to each flag. The README's configuration table mirrors
//! this file.

use clap::Args;

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// Database to use: a SQLite file path (created on first start) or a
    /// `postgres://user@host:port/dbname` URL.
    #[arg(long, env = "DATABASE_URL", default_value = "flakewatch.db")]
    pub database_url: String,

    /// Most database connections this process keeps open.
    #[arg(long, env = "FLAKEWATCH_DB_POOL_SIZE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
}

/// How `serve` listens for HTTP.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,

    /// Address and port the dashboard and API listen on.
    #[arg(long, env = "FLAKEWATCH_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "FLAKEWATCH_HTTP_WORKERS",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub http_workers: Option<u16>,
}

/// Which flakewatch server the client commands (`upload`, `tasks`) talk to, and as whom.
#[derive(Debug, Clone, Args)]
pub struct ClientSettings {
    /// Base URL of the flakewatch server, e.g. `https://flakewatch.example.com`.
    #[arg(long, env = "FLAKEWATCH_SERVER")]
    pub server: String,

    /// API token, sent as `Authorization: Bearer`. `upload` needs an upload or admin token
    /// for the project; listing and cancelling tasks need an admin token.
    #[arg(long, env = "FLAKEWATCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}
