//! The HTTP side: app state, routes and the server itself.

pub mod access;
mod api;
mod auth;
pub mod caches;
pub mod charts;
mod csrf;
mod health;
pub mod known_projects;
pub mod known_tokens;
mod lru;
mod metrics;
pub mod page_cache;
mod pages;
pub mod recent_cache;
pub mod request_limits;
pub mod security_headers;
mod shared_reads;
pub mod token_touches;
pub mod upload_slots;
pub mod urls;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

use actix_web::{web, App, HttpServer};
use tokio::sync::watch;
use tracing_actix_web::TracingLogger;

use crate::db::Database;
use crate::error::StartupError;
use crate::metrics::Metrics;
use crate::tasks::Signals;

/// How an upload body becomes the stored payload, public for the fuzz targets (`fuzz/`).
pub mod upload_decoding {
    pub use super::api::body_file::{Part, Received};
    pub use super::api::upload_body::{from_files, from_raw, StoredBody};
    pub use super::api::uploads::read_multipart;
}

/// Size limits on uploads.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Largest body, as sent.
    pub max_upload_bytes: u64,
    /// Largest report once decompressed.
    pub max_report_bytes: u64,
    /// Time a client has to send a request's head (an HTTP-level timeout: 408).
    pub header_timeout: std::time::Duration,
    /// Time an upload body has to arrive whole.
    pub body_timeout: std::time::Duration,
    /// Longest pause allowed while an upload body arrives.
    pub body_idle_timeout: std::time::Duration,
    /// Uploads waiting to be stored (enqueued or spooled) past which new ones get 503.
    pub max_queued_uploads: u64,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub signals: Arc<Signals>,
    /// SQLite: where uploads are accepted, apart from the database's write lock (see
    /// `store::spool`); none on PostgreSQL.
    pub spool: Option<Arc<crate::store::spool::Spool>>,
    pub metrics: Arc<Metrics>,
    /// Installation secret task tokens are derived from.
    pub task_key: Arc<str>,
    pub limits: UploadLimits,
    /// Turns true at shutdown, so long waits answer at once.
    pub shutdown: watch::Receiver<bool>,
    /// Who may read the pages, and the public URL.
    pub access: Arc<access::Access>,
    /// Uploads in flight per token.
    pub upload_slots: Arc<upload_slots::UploadSlots>,
    /// Upload bodies held in memory at once (`--upload-memory-mib`).
    pub body_memory: Arc<crate::body_memory::BodyMemory>,
    /// Request head sizes and connections.
    pub request_limits: request_limits::RequestLimits,
    /// What is kept between requests (`--page-cache-entries`).
    pub caches: caches::Caches,
    /// Tokens whose use this server recorded lately.
    pub token_touches: Arc<token_touches::TokenTouches>,
}

/// Registers every route; shared by the real server and the tests.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(metrics::metrics)
        .configure(api::routes)
        .service(pages::home_page)
        .service(pages::tasks_page)
        .service(pages::cancel_task)
        .service(pages::project_page)
        .service(pages::test_page)
        .service(pages::tests_page)
        .service(pages::runs_page)
        .service(pages::run_page)
        .service(pages::commit_page)
        .service(pages::stylesheet)
        .service(pages::copy_script)
        .service(pages::favicon)
        .service(pages::login_page)
        .service(pages::sign_in)
        .service(pages::sign_out)
        .service(pages::quarantine_add)
        .service(pages::quarantine_end)
        .service(pages::reports_page)
        .service(pages::report_file);
}

/// A bound server, not yet running: the caller drives `server` (and may stop it via its
/// handle), and `addr` is the real address, which matters when port 0 was asked for.
pub struct BoundServer {
    pub addr: SocketAddr,
    pub server: actix_web::dev::Server,
}

/// Binds `bind` (host:port) and builds the server: [`listen`] then [`serve`].
pub fn bind(
    bind: &str,
    http_workers: Option<u16>,
    state: AppState,
) -> Result<BoundServer, StartupError> {
    serve(listen(bind)?, http_workers, state)
}

/// A socket bound and listening, with nothing serving it yet.
pub struct Listening {
    listener: TcpListener,
    /// What was asked for, for messages.
    requested: String,
    /// The real address, which matters when port 0 was asked for.
    pub addr: SocketAddr,
}

/// Binds `bind` (host:port). Callers do this before starting anything else, so a port in
/// use is reported as one clear error and nothing has to be stopped again.
pub fn listen(bind: &str) -> Result<Listening, StartupError> {
    let bind_error = |reason: String| StartupError::Bind {
        addr: bind.to_owned(),
        reason,
    };
    let addr = bind
        .to_socket_addrs()
        .map_err(|err| bind_error(format!("not a host:port address ({err})")))?
        .next()
        .ok_or_else(|| bind_error("the host name resolves to no address".into()))?;
    let listener = TcpListener::bind(addr).map_err(|err| bind_error(err.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|err| bind_error(err.to_string()))?;
    Ok(Listening {
        listener,
        requested: bind.to_owned(),
        addr,
    })
}

/// Builds the server on a bound socket. Signals are left to the caller, which orders the
/// shutdown of the server and the workers.
pub fn serve(
    listening: Listening,
    http_workers: Option<u16>,
    state: AppState,
) -> Result<BoundServer, StartupError> {
    let Listening {
        listener,
        requested,
        addr,
    } = listening;
    let bind_error = |reason: String| StartupError::Bind {
        addr: requested.clone(),
        reason,
    };
    let header_timeout = state.limits.header_timeout;
    let max_connections = state.request_limits.max_connections;
    let data = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                crate::error::ApiError::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "bad_query",
                    format!("the query string could not be read: {err}"),
                )
                .into()
            }))
            .app_data(web::JsonConfig::default().error_handler(|err, _| {
                crate::error::ApiError::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "bad_body",
                    format!("the JSON body could not be read: {err}"),
                )
                .into()
            }))
            .app_data(web::FormConfig::default().error_handler(|err, _| {
                crate::error::ApiError::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "bad_form",
                    format!("the form could not be read: {err}"),
                )
                .into()
            }))
            .wrap(actix_web::middleware::from_fn(
                security_headers::head_as_get,
            ))
            .wrap(actix_web::middleware::from_fn(request_limits::check_head))
            .wrap(security_headers::middleware())
            .wrap(TracingLogger::default())
            .configure(routes)
    })
    .client_request_timeout(header_timeout)
    .max_connections(max_connections)
    .disable_signals();
    if let Some(workers) = http_workers {
        server = server.workers(usize::from(workers));
    }
    let server = server
        .listen(listener)
        .map_err(|err| bind_error(err.to_string()))?
        .run();
    Ok(BoundServer { addr, server })
}
