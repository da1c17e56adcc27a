//! A real flakewatch server on a loopback port, with its store workers, stopped when the
//! test ends.

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use flakewatch::config::WorkerSettings;
use flakewatch::db::Database;
use flakewatch::service::Background;
use flakewatch::tasks::{BatchObserver, WorkerContext};
use flakewatch::web::access::Access;
use flakewatch::web::{self, AppState, UploadLimits};

use super::TestDb;

pub struct TestServer {
    pub base_url: String,
    pub db: Database,
    /// The workers' context: tests watch `hand_back_now` through it.
    pub workers: Arc<WorkerContext>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Knobs a test may turn; the defaults match `serve`'s, scaled down.
pub struct ServerOptions {
    pub workers: usize,
    pub batch_observer: Option<BatchObserver>,
    pub max_upload_bytes: u64,
    pub max_report_bytes: u64,
    pub shutdown_grace_seconds: u64,
    pub max_name_bytes: u64,
    pub max_cases_per_upload: u64,
    /// Who may read the pages (`open`, as `serve` on loopback, by default).
    pub access: Access,
    pub body_timeout: Duration,
    pub body_idle_timeout: Duration,
    pub uploads_per_token: usize,
    /// Upload bodies held in memory at once, in bytes.
    pub upload_memory_bytes: u64,
    pub max_queued_uploads: u64,
    /// The server opens this URL instead of the test database's own (e.g. through a
    /// forwarder a test can cut).
    pub database_url: Option<String>,
    /// Job kinds the workers take (empty: all).
    pub jobs: Vec<flakewatch::tasks::JobKind>,
    pub result_retention_days: u64,
    /// Report folder, webhooks and their retries (none by default).
    pub delivery: flakewatch::config::DeliverySettings,
    pub request_limits: web::request_limits::RequestLimits,
    /// Pages' data kept for pages read again (`serve --page-cache-entries`).
    pub page_cache_entries: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            workers: 2,
            batch_observer: None,
            max_upload_bytes: 64 << 20,
            max_report_bytes: 256 << 20,
            shutdown_grace_seconds: 5,
            max_name_bytes: 4096,
            max_cases_per_upload: 2_000_000,
            access: Access::with_mode(web::access::AuthMode::Open),
            body_timeout: Duration::from_secs(600),
            body_idle_timeout: Duration::from_secs(30),
            uploads_per_token: 8,
            upload_memory_bytes: 512 << 20,
            max_queued_uploads: 10_000,
            database_url: None,
            jobs: Vec::new(),
            result_retention_days: 400,
            delivery: no_delivery(),
            request_limits: Default::default(),
            page_cache_entries: 500,
        }
    }
}

/// No report folder and no webhooks, with `serve`'s defaults otherwise.
pub fn no_delivery() -> flakewatch::config::DeliverySettings {
    flakewatch::config::DeliverySettings {
        report_dir: None,
        webhooks: Vec::new(),
        webhook_timeout_seconds: 10,
        webhook_attempts: 8,
        webhook_backoff_seconds: 30,
        public_url: None,
    }
}

pub fn worker_settings(options: &ServerOptions) -> WorkerSettings {
    WorkerSettings {
        workers: Some(options.workers),
        lease_seconds: 30,
        report_retention_hours: 168,
        shutdown_grace_seconds: options.shutdown_grace_seconds,
        max_report_bytes: options.max_report_bytes,
        max_name_bytes: options.max_name_bytes,
        max_cases_per_upload: options.max_cases_per_upload,
        jobs: options.jobs.clone(),
        result_retention_days: options.result_retention_days,
        delivery: options.delivery.clone(),
    }
}

impl TestServer {
    pub fn start(test_db: &TestDb) -> TestServer {
        TestServer::start_with(test_db, ServerOptions::default())
    }

    /// Opens `test_db` as `serve` would and starts the HTTP server on port 0 with its
    /// workers; returns once the socket is bound, so requests can be sent straight away.
    pub fn start_with(test_db: &TestDb, options: ServerOptions) -> TestServer {
        let db = match &options.database_url {
            Some(url) => flakewatch::db::open(&flakewatch::config::DatabaseSettings {
                database_url: url.clone(),
                ..test_db.settings()
            })
            .expect("open the database through the given URL"),
            None => test_db.open(),
        };
        let task_key = {
            let mut conn = db.pool.get().unwrap();
            flakewatch::store::instance::secret(&mut conn, "task_token_key").unwrap()
        };
        let server_db = db.clone();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let settings = worker_settings(&options);
                let spool = flakewatch::store::spool::Spool::open_beside(&server_db.target)
                    .expect("open the upload spool");
                let body_memory =
                    flakewatch::body_memory::BodyMemory::new(options.upload_memory_bytes);
                let background = Background::start(
                    &server_db,
                    &settings,
                    options.workers,
                    options.batch_observer,
                    spool,
                    body_memory.clone(),
                );
                let state = AppState {
                    db: server_db,
                    signals: background.signals.clone(),
                    spool: background.spool.clone(),
                    metrics: background.metrics.clone(),
                    task_key: task_key.into(),
                    limits: UploadLimits {
                        max_upload_bytes: options.max_upload_bytes,
                        max_report_bytes: options.max_report_bytes,
                        header_timeout: Duration::from_secs(10),
                        body_timeout: options.body_timeout,
                        body_idle_timeout: options.body_idle_timeout,
                        max_queued_uploads: options.max_queued_uploads,
                    },
                    shutdown: background.shutdown.clone(),
                    access: Arc::new(options.access),
                    upload_slots: web::upload_slots::UploadSlots::new(options.uploads_per_token),
                    body_memory,
                    request_limits: options.request_limits,
                    caches: web::caches::Caches::new(options.page_cache_entries),
                    token_touches: Default::default(),
                };
                let bound = web::bind("127.0.0.1:0", Some(2), state).expect("bind a loopback port");
                ready_tx
                    .send((bound.addr, background.worker_context()))
                    .expect("report the bound address");
                let handle = bound.server.handle();
                let server = actix_web::rt::spawn(bound.server);
                let _ = stop_rx.await;
                background.shutdown().await;
                handle.stop(true).await;
                let _ = server.await;
            })
        });
        let (addr, workers) = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the test server did not start within 30 s");
        TestServer {
            base_url: format!("http://{addr}"),
            db,
            workers,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Stops the server and its workers (as SIGTERM does) and waits for them.
    pub fn shut_down(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Returns once this server has heard of every change committed so far, by any process
    /// (on PostgreSQL it keeps the projects' data versions in memory and hears of other
    /// processes' changes by notification; on SQLite it reads them for every request).
    pub fn hear_every_change(&self) {
        if self.db.backend != flakewatch::db::Backend::Postgres {
            return;
        }
        self.until_listening(true);
        let changes = self.db.changes.clone();
        static BARRIERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let payload = format!(
            "{}-{}",
            std::process::id(),
            BARRIERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut conn = flakewatch::db::connect(&self.db.target).unwrap();
            flakewatch::db::changes::notify(
                &mut conn,
                flakewatch::db::changes::CHANNEL_SYNC,
                &payload,
            )
            .unwrap();
            tokio::time::timeout(Duration::from_secs(30), changes.until_synced(&payload))
                .await
                .expect("the server never heard the barrier notification");
        });
    }

    /// Returns once the server hears every change (`true`: its notification connection is
    /// listening, PostgreSQL only), or once it knows it may not (`false`).
    pub fn until_listening(&self, wanted: bool) {
        let changes = self.db.changes.clone();
        super::block_on(async {
            tokio::time::timeout(Duration::from_secs(30), changes.until_listening(wanted)).await
        })
        .unwrap_or_else(|_| panic!("the server's listening never turned {wanted}"));
    }

    /// Waits (30 s at most) until an upload's task is in the queue, and returns its id:
    /// at once on PostgreSQL; on SQLite once the spool has moved it (its id is 0 until
    /// then).
    pub fn in_queue(&self, task: &str) -> i64 {
        let mut changes = self.workers.signals.subscribe_changed();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let id = super::api::task(self, task)["id"].as_i64().unwrap();
            if id > 0 {
                return id;
            }
            runtime
                .block_on(async { tokio::time::timeout_at(deadline, changes.recv()).await })
                .expect("the upload did not enter the queue within 30 s")
                .expect("the server's signals are gone");
        }
    }
}

impl super::Endpoint for TestServer {
    fn url(&self, path: &str) -> String {
        TestServer::url(self, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
