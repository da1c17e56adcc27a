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
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "flakewatch.db",
        global = true
    )]
    pub database_url: String,

    /// Most database connections this process keeps open.
    #[arg(long, env = "FLAKEWATCH_DB_POOL_SIZE", default_value_t = 10, global = true,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
}

/// How store workers run, in `serve` and in `worker`.
#[derive(Debug, Clone, Args)]
pub struct WorkerSettings {
    /// Store workers in this process (default: one per core; 0 in `serve` leaves storing
    /// to separate `flakewatch worker` processes).
    #[arg(long, env = "FLAKEWATCH_WORKERS")]
    pub workers: Option<usize>,

    /// Seconds a worker's claim on a task lasts without a heartbeat before another worker
    /// may take the task over (PostgreSQL).
    #[arg(long, env = "FLAKEWATCH_LEASE_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub lease_seconds: u64,

    /// Hours raw reports are kept after their task ends (0: delete at once).
    #[arg(long, env = "FLAKEWATCH_REPORT_RETENTION_HOURS", default_value_t = 168)]
    pub report_retention_hours: u64,

    /// On SIGTERM, seconds in-flight tasks get to finish before they are handed back to
    /// the queue for another worker.
    #[arg(long, env = "FLAKEWATCH_SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
    pub shutdown_grace_seconds: u64,

    /// Largest decompressed report, in bytes, a worker will parse.
    #[arg(long, env = "FLAKEWATCH_MAX_REPORT_BYTES", default_value_t = 2 << 30)]
    pub max_report_bytes: u64,
}

impl WorkerSettings {
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        })
    }
}

/// `flakewatch worker`: store workers without the HTTP server.
#[derive(Debug, Clone, Args)]
pub struct WorkerProcessSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub worker: WorkerSettings,
}

/// How `serve` listens for HTTP.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub worker: WorkerSettings,

    /// Largest upload body accepted, in bytes, as sent (compressed or not).
    #[arg(long, env = "FLAKEWATCH_MAX_UPLOAD_BYTES", default_value_t = 256 << 20)]
    pub max_upload_bytes: u64,

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
