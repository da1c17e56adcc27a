//! `flakewatch serve`: the dashboard, the API and (by default) store workers.

use std::sync::Arc;
use std::time::Duration;

use crate::config::ServeSettings;
use crate::db::DbError;
use crate::demo::{self, Seeded};
use crate::service::{termination_signal, Background};
use crate::store::instance;
use crate::web::{self, AppState, UploadLimits};

pub fn run(mut settings: ServeSettings) -> anyhow::Result<()> {
    // First of all: a port in use is then one error, with no database made or migrated
    // and no worker to stop again.
    let listening = web::listen(&settings.bind)?;
    let access = web::access::Access::from_settings(&settings.access, listening.addr)
        .map_err(anyhow::Error::msg)?;
    tracing::info!(
        auth = ?access.mode,
        public_url = access.public_url.as_deref().unwrap_or("(none: relative URLs)"),
        "dashboard access: {}",
        match access.mode {
            web::access::AuthMode::Open => "open to everyone who can reach the server",
            web::access::AuthMode::Token => "sign in with a read or admin token on /login",
            web::access::AuthMode::Proxy => "signed in by the trusted proxy",
        }
    );
    // The first start on a fresh machine makes the database (see `ServeSettings`).
    settings.database.create = true;
    settings.worker.delivery.public_url = access.public_url.clone();
    let db = crate::db::open(&settings.database)?;
    let task_key: Arc<str> = {
        let mut conn = db.pool.get()?;
        instance::secret(&mut conn, "task_token_key")
            .map_err(DbError::from)?
            .into()
    };
    let spool = crate::store::spool::Spool::open_beside(&db.target)?;
    let body_memory = crate::body_memory::BodyMemory::new(settings.upload_memory_mib << 20);
    actix_web::rt::System::new().block_on(async move {
        let background = Background::start(
            &db,
            &settings.worker,
            settings.worker.worker_count(),
            None,
            spool,
            body_memory.clone(),
        );
        let state = AppState {
            db: db.clone(),
            signals: background.signals.clone(),
            spool: background.spool.clone(),
            metrics: background.metrics.clone(),
            task_key: task_key.clone(),
            limits: UploadLimits {
                max_upload_bytes: settings.max_upload_bytes,
                max_report_bytes: settings.worker.max_report_bytes,
                header_timeout: Duration::from_secs(settings.header_timeout_seconds),
                body_timeout: Duration::from_secs(settings.body_timeout_seconds),
                body_idle_timeout: Duration::from_secs(settings.body_idle_seconds),
                max_queued_uploads: settings.max_queued_uploads,
            },
            shutdown: background.shutdown.clone(),
            access: Arc::new(access),
            upload_slots: web::upload_slots::UploadSlots::new(settings.uploads_per_token as usize),
            body_memory,
            request_limits: web::request_limits::RequestLimits {
                max_uri_bytes: settings.max_uri_bytes,
                max_header_bytes: settings.max_header_bytes,
                max_connections: settings.max_connections as usize,
            },
            caches: web::caches::Caches::new(settings.page_cache_entries as usize),
            token_touches: Default::default(),
        };
        let bound = match web::serve(listening, settings.http_workers, state) {
            Ok(bound) => bound,
            Err(err) => {
                background.shutdown().await;
                return Err(err.into());
            }
        };
        tracing::info!(addr = %bound.addr, "flakewatch is listening on http://{}", bound.addr);
        if settings.demo {
            let (db, signals, key) = (db.clone(), background.signals.clone(), task_key.clone());
            let (shutdown, addr) = (background.shutdown.clone(), bound.addr);
            let workers = settings.worker.worker_count();
            let size = settings.demo_size;
            actix_web::rt::spawn(async move {
                if workers == 0 {
                    tracing::warn!("demo data: --workers 0, so the demo's runs wait for a `flakewatch worker` to store them");
                }
                log_demo(demo::seed(&db, &signals, &key, size, shutdown).await, addr);
            });
        }
        let handle = bound.server.handle();
        let mut server = actix_web::rt::spawn(bound.server);
        let server_error = tokio::select! {
            _ = termination_signal() => None,
            ended = &mut server => Some(ended),
        };
        // Stop the background first: waits answer at once, workers stop claiming. Then
        // the HTTP server finishes the requests in flight.
        background.shutdown().await;
        handle.stop(true).await;
        if let Some(ended) = server_error {
            ended??;
        }
        tracing::info!("flakewatch stopped");
        Ok(())
    })
}

/// Says what `--demo` did, and where to look.
fn log_demo(seeded: Result<Seeded, DbError>, addr: std::net::SocketAddr) {
    match seeded {
        Ok(Seeded::Stored {
            runs,
            failed_tasks,
            flaky_tests,
            broken_tests,
        }) => {
            if failed_tasks > 0 {
                tracing::warn!(failed_tasks, "demo data: some runs could not be stored; /tasks shows why");
            }
            tracing::info!(
                project = demo::PROJECT,
                runs,
                flaky_tests,
                broken_tests,
                "demo data ready: {runs} runs of project {}, {flaky_tests} flaky and {broken_tests} broken tests; open http://{addr}/projects/{}",
                demo::PROJECT,
                demo::PROJECT
            );
        }
        Ok(Seeded::NotEmpty { projects }) => tracing::warn!(
            projects,
            "--demo added nothing: demo data goes only into an empty database, and this one holds {}; start with another --database-url to see the demo",
            crate::wording::count(projects as usize, "project")
        ),
        Ok(Seeded::Stopped) => tracing::info!("demo data: stopped before every run was stored"),
        Err(err) => tracing::error!(error = %err, "demo data could not be stored"),
    }
}
