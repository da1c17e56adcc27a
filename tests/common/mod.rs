//! The test harness every integration test uses: a fresh database per test on each backend,
//! a real server on a loopback port, and a plain HTTP client.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! each test gets its own database cloned from a migrated template, so a test costs one
//! `CREATE DATABASE`, not a migration run. SQLite tests get a file in a temporary folder.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod api;
pub mod browser;
mod db;
pub mod exposition;
pub mod private_pg;
pub mod process;
pub mod proxy;
pub mod reports;
mod server;
pub mod tcp_cut;
pub mod webhook;

#[allow(unused_imports)]
pub use db::TestDb;
#[allow(unused_imports)]
pub use server::{no_delivery, ServerOptions, TestServer};

/// Runs `work` to its end on a runtime of its own (tests are plain threads).
pub fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// Defines one test per backend: `mod NAME { fn sqlite(); fn postgres(); }`, so a failure
/// names its backend and nextest runs both in parallel.
///
/// Attributes before `fn` go on both tests (e.g. `#[ignore = "why"]`).
///
/// ```ignore
/// storage_test!(fn readyz_answers(db) { ... });
/// ```
#[macro_export]
macro_rules! storage_test {
    ($(#[$meta:meta])* fn $name:ident($db:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($db: $crate::common::TestDb) $body

            #[test]
            $(#[$meta])*
            fn sqlite() {
                run($crate::common::TestDb::sqlite());
            }

            #[test]
            $(#[$meta])*
            fn postgres() {
                if let Some(db) = $crate::common::TestDb::postgres() {
                    run(db);
                }
            }
        }
    };
}

/// A server tests can send requests to: the in-process [`TestServer`] or a spawned
/// `flakewatch serve` ([`process::Served`]).
pub trait Endpoint {
    fn url(&self, path: &str) -> String;
}

/// A blocking HTTP client that hands back every response, 4xx and 5xx included, so tests
/// can check error bodies.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into()
}
