//! A real flakewatch server on a loopback port, stopped when the test ends.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use flakewatch::db::Database;
use flakewatch::web::{self, AppState};

use super::TestDb;

pub struct TestServer {
    pub base_url: String,
    pub db: Database,
    handle: actix_web::dev::ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Opens `test_db` as `serve` would and starts the HTTP server on port 0; returns once
    /// the socket is bound, so requests can be sent straight away.
    pub fn start(test_db: &TestDb) -> TestServer {
        let db = test_db.open();
        let state = AppState { db: db.clone() };
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let bound = web::bind("127.0.0.1:0", Some(2), state).expect("bind a loopback port");
                ready_tx
                    .send((bound.addr, bound.server.handle()))
                    .expect("report the bound address");
                bound.server.await.expect("server ran");
            })
        });
        let (addr, handle) = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the test server did not start within 30 s");
        TestServer {
            base_url: format!("http://{addr}"),
            db,
            handle,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime to stop the server");
        runtime.block_on(self.handle.stop(true));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
