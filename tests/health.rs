//! The probes and the home page, through a real server on both backends.

mod common;

use common::{http, TestServer};
use serde_json::Value;

storage_test!(fn healthz_answers_ok(db) {
    let server = TestServer::start(&db);
    let mut response = http().get(server.url("/healthz")).call().unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.body_mut().read_json().unwrap();
    assert_eq!(body["status"], "ok");
});

storage_test!(fn readyz_reports_database_and_migrations(db) {
    let server = TestServer::start(&db);
    let mut response = http().get(server.url("/readyz")).call().unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.body_mut().read_json().unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["backend"], db.backend.to_string());
    assert_eq!(body["database"], "reachable");
    assert_eq!(body["migrations"], "applied");
});

storage_test!(fn home_page_lists_projects(db) {
    let server = TestServer::start(&db);
    let empty = http().get(server.url("/")).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(empty.contains("No project has uploaded test results yet."), "{empty}");

    let mut conn = db.connect();
    let now = chrono::Utc::now().naive_utc();
    flakewatch::store::projects::find_or_create(&mut conn, "payments <api>", now).unwrap();
    let mut response = http().get(server.url("/")).call().unwrap();
    assert_eq!(response.status(), 200);
    let page = response.body_mut().read_to_string().unwrap();
    // Names are escaped, never injected as markup.
    assert!(page.contains("payments &#60;api&#62;") || page.contains("payments &lt;api&gt;"), "{page}");
    assert!(!page.contains("No project has uploaded"), "{page}");
});

storage_test!(fn unknown_paths_are_404(db) {
    let server = TestServer::start(&db);
    let response = http().get(server.url("/no/such/page")).call().unwrap();
    assert_eq!(response.status(), 404);
});
