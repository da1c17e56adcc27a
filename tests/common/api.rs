//! Calls to the upload and task API, shared by the pipeline tests.

use std::time::Duration;

use diesel::prelude::*;
use flakewatch::store::tokens::{self, Scope};
use serde_json::Value;

use super::{Endpoint, TestDb, TestServer};

/// A new token of `scope` for `project` (created if new); returns the plaintext.
pub fn token(db: &TestDb, project: &str, scope: Scope) -> String {
    let mut conn = db.connect();
    let now = chrono::Utc::now().naive_utc();
    tokens::create(&mut conn, project, scope, "test", now)
        .unwrap()
        .1
}

/// POSTs `body` to /api/v1/uploads with `query` and extra headers; returns status and JSON.
pub fn upload(
    server: &TestServer,
    token: &str,
    query: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = super::http()
        .post(server.url(&format!("/api/v1/uploads?{query}")))
        .header("Authorization", &format!("Bearer {token}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).unwrap();
    (
        response.status().as_u16(),
        response.body_mut().read_json().unwrap(),
    )
}

/// Uploads and expects 202; returns the task token.
pub fn upload_ok(server: &TestServer, token: &str, query: &str, body: &[u8]) -> String {
    let (status, answer) = upload(server, token, query, body, &[]);
    assert_eq!(status, 202, "{answer}");
    answer["task"].as_str().unwrap().to_owned()
}

/// The task now.
pub fn task(server: &impl Endpoint, task: &str) -> Value {
    super::http()
        .get(server.url(&format!("/api/v1/tasks/{task}")))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

/// Waits for the task to end through `?wait=`, which answers the moment it does. The
/// client gives up after 60 s, so a wake-up that never comes fails the test.
pub fn await_task(server: &impl Endpoint, task: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let answer: Value = agent
        .get(server.url(&format!("/api/v1/tasks/{task}?wait=300")))
        .call()
        .expect("the task did not end within 60 s")
        .body_mut()
        .read_json()
        .unwrap();
    let status = answer["status"].as_str().unwrap();
    assert!(
        ["completed", "failed", "cancelled"].contains(&status),
        "{answer}"
    );
    answer
}

/// Row count of `table`.
pub fn count(db: &TestDb, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = db.connect();
    diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
}

/// GETs an API path with a token; returns the status and the JSON body.
pub fn get_json(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    let (status, body) = get_text(server, token, path);
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|err| panic!("GET {path} answered {status} with no JSON ({err}): {body}"));
    (status, json)
}

/// GETs a path with a token; returns the status and the body as text.
pub fn get_text(server: &TestServer, token: &str, path: &str) -> (u16, String) {
    let mut response = super::http()
        .get(server.url(path))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    (
        response.status().as_u16(),
        response.body_mut().read_to_string().unwrap(),
    )
}
