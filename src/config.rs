//! Every setting flakewatch reads, declared once.
//!
//! Precedence is flag > environment > default; clap's `env` attribute gives us that, and
//! `--help` lists the variable next to each flag. The README's configuration table mirrors
//! this file.

use clap::Args;

/// Where the data lives. The flags are `global` so that they may also follow a
/// subcommand (`flakewatch token create ... --create`).
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// Database to use: a SQLite file path or a `postgres://user@host:port/dbname` URL.
    /// `serve` creates a missing SQLite file; other commands need --create for that.
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

    /// Create the SQLite database if the file does not exist yet. Without it, a command
    /// run in the wrong folder stops instead of making a new, empty database there.
    #[arg(long, global = true)]
    pub create: bool,
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

    /// Days of data test results are kept: results of runs that started this long before
    /// their project's newest run are purged (0: keep them all). Scores, runs and rollups
    /// stay, so no status changes; test histories get shorter.
    #[arg(long, env = "FLAKEWATCH_RESULT_RETENTION_DAYS", default_value_t = 400)]
    pub result_retention_days: u64,

    /// Job kinds this process's workers take: any of store, score, retention, report,
    /// deliver (default: all). Dedicated scoring processes, for example, take only `score`.
    #[arg(long, env = "FLAKEWATCH_JOBS", value_delimiter = ',', value_parser = parse_job_kind)]
    pub jobs: Vec<crate::tasks::JobKind>,

    /// On SIGTERM, seconds in-flight tasks get to finish before they are handed back to
    /// the queue for another worker.
    #[arg(long, env = "FLAKEWATCH_SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
    pub shutdown_grace_seconds: u64,

    /// Largest decompressed report, in bytes, a worker will parse.
    #[arg(long, env = "FLAKEWATCH_MAX_REPORT_BYTES", default_value_t = 2 << 30)]
    pub max_report_bytes: u64,

    /// Longest test name, classname, suite name or file path stored, in bytes; longer ones
    /// are stored cut, with a task warning.
    #[arg(long, env = "FLAKEWATCH_MAX_NAME_BYTES",
          default_value_t = crate::ingest::stored_text::DEFAULT_MAX_NAME_BYTES as u64,
          value_parser = clap::value_parser!(u64).range(64..=1_048_576))]
    pub max_name_bytes: u64,

    /// Most test cases one upload may store (all files of a bundle together); a report
    /// with more fails its task, naming the file and line where the limit was reached.
    #[arg(long, env = "FLAKEWATCH_MAX_CASES_PER_UPLOAD", default_value_t = 2_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_cases_per_upload: u64,

    #[command(flatten)]
    pub delivery: DeliverySettings,
}

/// Where finished weeks' reports and test events go (see `jobs::report`, `jobs::deliver`).
#[derive(Debug, Clone, Args)]
pub struct DeliverySettings {
    /// Folder each finished ISO week's report of each project is written to, as
    /// PROJECT/WEEK.{html,md,csv,json} (default: none written).
    #[arg(long, env = "FLAKEWATCH_REPORT_DIR")]
    pub report_dir: Option<std::path::PathBuf>,

    /// A webhook that receives weekly reports and test events: `json:URL` (generic JSON)
    /// or `slack:URL` (a Slack-compatible incoming webhook). Repeatable; the variable takes
    /// a comma-separated list.
    #[arg(long = "webhook", env = "FLAKEWATCH_WEBHOOKS", value_delimiter = ',', hide_env_values = true,
          value_parser = crate::report::webhooks::Webhook::parse)]
    pub webhooks: Vec<crate::report::webhooks::Webhook>,

    /// Seconds a webhook has to answer one delivery before it counts as failed.
    #[arg(long, env = "FLAKEWATCH_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub webhook_timeout_seconds: u64,

    /// Tries a delivery gets before it is marked failed.
    #[arg(long, env = "FLAKEWATCH_WEBHOOK_ATTEMPTS", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_attempts: u32,

    /// Seconds before the first retry of a failed delivery; each retry waits twice as long
    /// as the one before, at most an hour (0: retry at once).
    #[arg(long, env = "FLAKEWATCH_WEBHOOK_BACKOFF_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub webhook_backoff_seconds: u64,

    /// The dashboard's public base URL that links in reports and events start with; taken
    /// from `--public-url` (without it, links are relative to the dashboard).
    #[arg(skip)]
    pub public_url: Option<String>,
}

impl DeliverySettings {
    /// Whether finished weeks' reports go anywhere.
    pub fn delivers_reports(&self) -> bool {
        self.report_dir.is_some() || !self.webhooks.is_empty()
    }
}

fn parse_job_kind(text: &str) -> Result<crate::tasks::JobKind, String> {
    crate::tasks::JobKind::parse(text.trim()).ok_or_else(|| {
        format!("`{text}` is not a job kind; use store, score, retention, report or deliver")
    })
}

impl WorkerSettings {
    /// The job kinds to claim: those named, or all.
    pub fn job_kinds(&self) -> Vec<crate::tasks::JobKind> {
        if self.jobs.is_empty() {
            crate::tasks::JobKind::ALL.to_vec()
        } else {
            self.jobs.clone()
        }
    }

    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        })
    }
}

/// `flakewatch worker`: store workers without the HTTP server (PostgreSQL only, so there
/// is no SQLite file to create).
#[derive(Debug, Clone, Args)]
#[command(mut_arg("create", |arg| arg.hide(true)))]
pub struct WorkerProcessSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub worker: WorkerSettings,
    /// The dashboard's public base URL, e.g. `https://ci.example.com/flakewatch`: links in
    /// delivered reports and events start with it (as `serve --public-url`).
    #[arg(long, env = "FLAKEWATCH_PUBLIC_URL", value_parser = crate::web::urls::parse_public_url)]
    pub public_url: Option<String>,
}

/// How `serve` listens for HTTP. It always creates a missing SQLite database, so that
/// `flakewatch serve` works on a fresh machine; `--create` is hidden from its help.
#[derive(Debug, Clone, Args)]
#[command(mut_arg("create", |arg| arg.hide(true)))]
pub struct ServeSettings {
    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(flatten)]
    pub worker: WorkerSettings,

    /// Largest upload body accepted, in bytes, as sent (compressed or not).
    #[arg(long, env = "FLAKEWATCH_MAX_UPLOAD_BYTES", default_value_t = 256 << 20)]
    pub max_upload_bytes: u64,

    /// Seconds a client has to send a request's line and headers.
    #[arg(long, env = "FLAKEWATCH_HEADER_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_seconds: u64,

    /// Seconds an upload body has to arrive whole.
    #[arg(long, env = "FLAKEWATCH_BODY_TIMEOUT_SECONDS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub body_timeout_seconds: u64,

    /// Longest pause, in seconds, while an upload body arrives.
    #[arg(long, env = "FLAKEWATCH_BODY_IDLE_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_idle_seconds: u64,

    /// Uploads waiting to be stored (all projects) past which new uploads get 503 with
    /// Retry-After, so clients back off instead of growing the queue without end.
    #[arg(long, env = "FLAKEWATCH_MAX_QUEUED_UPLOADS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_queued_uploads: u64,

    /// Upload bodies held in memory at once, in MiB. Bodies arrive into temporary files
    /// (in TMPDIR) and are read into memory only while written to the database; an upload
    /// whose body does not fit waits for room.
    #[arg(long, env = "FLAKEWATCH_UPLOAD_MEMORY_MIB", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub upload_memory_mib: u64,

    /// Uploads one token may have in flight at once; more get 429 with Retry-After.
    #[arg(long, env = "FLAKEWATCH_UPLOADS_PER_TOKEN", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(1..=10000))]
    pub uploads_per_token: u64,

    /// Longest request path and query, in bytes; longer ones get 414.
    #[arg(long, env = "FLAKEWATCH_MAX_URI_BYTES", default_value_t = 32 << 10,
          value_parser = clap::value_parser!(u64).range(1024..=96 * 1024))]
    pub max_uri_bytes: u64,

    /// Largest total of request headers, in bytes; larger ones get 431.
    #[arg(long, env = "FLAKEWATCH_MAX_HEADER_BYTES", default_value_t = 64 << 10,
          value_parser = clap::value_parser!(u64).range(1024..=96 * 1024))]
    pub max_header_bytes: u64,

    /// Open connections each HTTP worker serves at once; more wait until one closes.
    #[arg(long, env = "FLAKEWATCH_MAX_CONNECTIONS", default_value_t = 25_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// Pages' computed data kept in memory for pages read again, in entries (0: none).
    /// Entries are keyed by each project's data version in the database, so a change
    /// made through any server shows at once on every server. The store queue's charts and
    /// timings, which no version tracks, are computed again every 5 s (at most 10 s old) in
    /// as many entries again.
    #[arg(long, env = "FLAKEWATCH_PAGE_CACHE_ENTRIES", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub page_cache_entries: u64,

    /// Address and port the dashboard and API listen on.
    #[arg(long, env = "FLAKEWATCH_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "FLAKEWATCH_HTTP_WORKERS",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub http_workers: Option<u16>,

    #[command(flatten)]
    pub access: AccessSettings,

    /// Fill an empty database with a simulated project (`webshop`: 45 days of CI ending
    /// now, with flaky and broken tests) to try the dashboard with; a database that
    /// already holds projects is left as it is.
    #[arg(long)]
    pub demo: bool,

    /// How much history `--demo` stores: `small` (the default), `large` (10,000 tests over
    /// 90 days, about 3.3 million results) or `year` (2,000 tests over a year); the larger
    /// ones are for the benchmarks in BENCHMARKS.md and take minutes to store.
    #[arg(
        long,
        env = "FLAKEWATCH_DEMO_SIZE",
        value_enum,
        default_value_t,
        requires = "demo"
    )]
    pub demo_size: crate::demo::DemoSize,
}

/// How the dashboard's pages are protected (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No sign-in: anyone who can reach the server reads every page.
    Open,
    /// Sign in on /login with a read or admin API token.
    Token,
    /// Sign-in by a trusted reverse proxy that names the user in a header.
    Proxy,
}

/// Who may see the dashboard, and the address the server is reached at.
#[derive(Debug, Clone, Args)]
pub struct AccessSettings {
    /// Who may read the pages: `open` (anyone who reaches the server), `token` (sign in on
    /// /login with a read or admin API token), `proxy` (a user named by a trusted reverse
    /// proxy). Default: `open` when bound to a loopback address, `token` otherwise.
    #[arg(long, env = "FLAKEWATCH_AUTH", value_enum)]
    pub auth: Option<AuthMode>,

    /// The server's public base URL, e.g. `https://ci.example.com/flakewatch`: absolute
    /// URLs the server hands out start with it (without it they are relative), and session
    /// cookies are `Secure` when it is https.
    #[arg(long, env = "FLAKEWATCH_PUBLIC_URL", value_parser = crate::web::urls::parse_public_url)]
    pub public_url: Option<String>,

    /// Hours a dashboard sign-in lasts.
    #[arg(long, env = "FLAKEWATCH_SESSION_HOURS", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=8760))]
    pub session_hours: u32,

    /// `--auth proxy`: the header the proxy names the signed-in user in.
    #[arg(
        long,
        env = "FLAKEWATCH_PROXY_USER_HEADER",
        default_value = "X-Forwarded-User"
    )]
    pub proxy_user_header: String,

    /// `--auth proxy`: the header with the user's groups, comma-separated. Group
    /// `flakewatch-admin` reads every project and the task list; `flakewatch-PROJECT`
    /// reads that project.
    #[arg(
        long,
        env = "FLAKEWATCH_PROXY_GROUPS_HEADER",
        default_value = "X-Forwarded-Groups"
    )]
    pub proxy_groups_header: String,

    /// `--auth proxy`: the proxies' IP addresses, comma-separated; the user headers of any
    /// other peer are ignored.
    #[arg(long, env = "FLAKEWATCH_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// A secret that `/metrics` then requires as `Authorization: Bearer SECRET` (without
    /// it, `/metrics` is open).
    #[arg(long, env = "FLAKEWATCH_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

/// Which flakewatch server the client commands (`upload`, `tasks`, `flaky`) talk to, and
/// as whom. Each command names the token scope it needs in its own help (`mut_arg`).
#[derive(Debug, Clone, Args)]
pub struct ClientSettings {
    /// Base URL of the flakewatch server, e.g. `http://127.0.0.1:8080` or
    /// `https://ci.example.com/flakewatch` (behind a proxy); `http://` when no scheme is given.
    #[arg(long, env = "FLAKEWATCH_SERVER", value_parser = server_url)]
    pub server: String,

    /// API token of the project (`flakewatch token create` prints one).
    #[arg(long, env = "FLAKEWATCH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl ClientSettings {
    pub fn has_token(&self) -> bool {
        self.token.as_deref().is_some_and(|t| !t.trim().is_empty())
    }

    /// Nothing when there is a token, else an error that names the flag and the variable
    /// to set and the scope `what` needs, before any request is sent.
    pub fn require_token(&self, what: &str, scope: &str) -> anyhow::Result<()> {
        if self.has_token() {
            return Ok(());
        }
        let scopes = match scope {
            "admin" => "the admin scope".to_owned(),
            other => format!("the {other} or admin scope"),
        };
        anyhow::bail!(
            "{what} needs an API token with {scopes}: pass --token or set FLAKEWATCH_TOKEN \
             (`flakewatch token create --project P --scope {scope}` creates one)"
        )
    }
}

/// Reads a server address as `--server` and `FLAKEWATCH_SERVER` give it: without a scheme
/// it is `http://`; a path is kept (a server behind a proxy at `/flakewatch`) and every
/// API path is appended to it; a trailing `/` is dropped.
pub fn server_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("it is empty; give the server's address, e.g. http://127.0.0.1:8080".into());
    }
    let url = match raw.split_once("://") {
        Some((scheme, _))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            raw.to_owned()
        }
        Some((scheme, _)) => {
            return Err(format!(
                "`{scheme}://` is not a web address; use http:// or https://"
            ))
        }
        None => format!("http://{raw}"),
    };
    let uri: ureq::http::Uri = url.parse().map_err(|err| {
        format!("`{raw}` is not a server address ({err}); use e.g. http://127.0.0.1:8080")
    })?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!(
            "`{raw}` names no host; use e.g. http://127.0.0.1:8080"
        ));
    }
    if uri.query().is_some() {
        return Err(format!(
            "`{raw}` has a query string; give the server's base address only"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}
