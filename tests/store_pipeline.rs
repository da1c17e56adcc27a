//! The asynchronous store pipeline through a real server on both backends: upload, await,
//! results in the database, retries, cancelling, shutdown, and every kind of bad input.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use common::api::{await_task, count, task, token, upload, upload_ok};
use common::reports::{junit, FLAKY_IN_RUN, TRUNCATED};
use common::{ServerOptions, TestDb, TestServer};
use diesel::{QueryableByName, RunQueryDsl};
use flakewatch::analysis::Params;
use flakewatch::store::scores;
use flakewatch::store::tokens::Scope;
use flakewatch::tasks::queue;
use flakewatch::tasks::Progress;
use flakewatch::tasks::{BatchObserver, JobKind};

const QUERY: &str = "branch=main&commit=3f2a1c9&job=unit&pipeline=812";

storage_test!(fn upload_await_and_results_are_stored(db) {
    let server = TestServer::start(&db);
    let token = token(&db, "shop", Scope::Upload);
    let failing = upload_ok(&server, &token, QUERY, junit("shop", 3, 2).as_bytes());
    let flaky = upload_ok(&server, &token, &format!("{QUERY}&job=retry"), FLAKY_IN_RUN.as_bytes());

    let done = await_task(&server, &failing);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"]["records_seen"], 5);
    assert_eq!(done["progress"]["records_stored"], 5);
    assert!(done["queue_ms"].is_i64() && done["run_ms"].is_i64(), "{done}");
    assert!(done["worker"].as_str().is_some_and(|w| !w.is_empty()), "{done}");
    assert_eq!(done["upload"]["commit"], "3f2a1c9");
    assert!(done["run_id"].is_i64(), "{done}");
    assert_eq!(await_task(&server, &flaky)["status"], "completed");

    assert_eq!(count(&db, "runs"), 2);
    assert_eq!(count(&db, "results"), 6);
    assert_eq!(count(&db, "tests"), 6);
    // Two distinct failing messages plus the flaky attempt's, each stored once.
    assert_eq!(count(&db, "failure_messages"), 3);
    assert_eq!(count(&db, "results WHERE outcome = 'failed' AND failure_message_id IS NOT NULL"), 2);
    assert_eq!(count(&db, "results WHERE outcome = 'passed' AND failed_attempts = 1 AND attempts = 2"), 1);
    assert_eq!(count(&db, "runs WHERE flaky_in_run = 1 AND tests = 1"), 1);
    assert_eq!(count(&db, "runs WHERE failed = 2 AND passed = 3 AND on_default_branch"), 1);
});

storage_test!(fn a_retried_upload_is_stored_once(db) {
    let server = TestServer::start(&db);
    let token = token(&db, "shop", Scope::Upload);
    let body = junit("shop", 4, 0);
    let (first_status, first) = upload(&server, &token, QUERY, body.as_bytes(), &[]);
    let (second_status, second) = upload(&server, &token, QUERY, body.as_bytes(), &[]);
    assert_eq!((first_status, second_status), (202, 202));
    assert_eq!(first["task"], second["task"]);
    assert_eq!((first["duplicate"].as_bool(), second["duplicate"].as_bool()), (Some(false), Some(true)));
    // A job rerun is a new run, not a retry of the upload.
    let rerun = upload_ok(&server, &token, &format!("{QUERY}&attempt=2"), body.as_bytes());
    assert_ne!(rerun, first["task"].as_str().unwrap());

    await_task(&server, first["task"].as_str().unwrap());
    await_task(&server, &rerun);
    assert_eq!(count(&db, "runs"), 2);
    assert_eq!(count(&db, "results"), 8);
});

storage_test!(fn bundles_and_compressed_reports_are_read(db) {
    let server = TestServer::start(&db);
    let token = token(&db, "shop", Scope::Upload);
    let (a, b) = (junit("alpha", 2, 0), junit("beta", 1, 1));

    let gzipped = gzip(a.as_bytes());
    let (status, answer) = upload(&server, &token, "branch=main&commit=c1", &gzipped, &[("Content-Encoding", "gzip")]);
    assert_eq!(status, 202, "{answer}");
    let single = answer["task"].as_str().unwrap().to_owned();

    let tarball = gzip(&tar(&[("reports/a.xml", a.as_bytes()), ("reports/b.xml", b.as_bytes()), ("README", b"x")]));
    let tarred = upload_ok(&server, &token, "branch=main&commit=c2", &tarball);
    let zipped = upload_ok(&server, &token, "branch=main&commit=c3", &zip(&[("a.xml", a.as_bytes()), ("b.xml", b.as_bytes())]));

    let boundary = "flakewatchboundary";
    let mut form = Vec::new();
    for (name, report) in [("a.xml", &a), ("b.xml", &b)] {
        write!(form, "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/xml\r\n\r\n{report}\r\n").unwrap();
    }
    write!(form, "--{boundary}--\r\n").unwrap();
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let (status, answer) = upload(&server, &token, "branch=main&commit=c4", &form, &[("Content-Type", &content_type)]);
    assert_eq!(status, 202, "{answer}");
    let multipart = answer["task"].as_str().unwrap().to_owned();

    for (task_token, tests) in [(&single, 2), (&tarred, 4), (&zipped, 4), (&multipart, 4)] {
        let done = await_task(&server, task_token);
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["progress"]["records_stored"], tests, "{done}");
    }
    assert_eq!(count(&db, "runs"), 4);
    assert_eq!(count(&db, "results"), 14);
});

/// An observer that stops the worker after its first stored batch until the test says go.
struct Gate {
    entered: mpsc::Receiver<(i64, Progress)>,
    release: mpsc::Sender<()>,
}

fn gate() -> (BatchObserver, Gate) {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let (entered_tx, release_rx) = (Mutex::new(entered_tx), Mutex::new(release_rx));
    let first = AtomicBool::new(true);
    let observer: BatchObserver = Box::new(move |task_id, progress| {
        if first.swap(false, Ordering::SeqCst) {
            let _ = entered_tx.lock().unwrap().send((task_id, progress));
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(60));
        }
    });
    (observer, Gate { entered, release })
}

impl Gate {
    fn wait_entered(&self) -> (i64, Progress) {
        self.entered
            .recv_timeout(Duration::from_secs(30))
            .expect("no worker stored a batch within 30 s")
    }
}

storage_test!(fn cancelling_a_running_task_stops_it_at_the_next_batch(db) {
    let (observer, gate) = gate();
    let server = TestServer::start_with(&db, ServerOptions { workers: 1, batch_observer: Some(observer), ..Default::default() });
    let upload_token = token(&db, "shop", Scope::Upload);
    let admin = token(&db, "shop", Scope::Admin);
    let task_token = upload_ok(&server, &upload_token, QUERY, junit("shop", 5, 0).as_bytes());
    let (_, progress) = gate.wait_entered();
    assert_eq!(progress.records_stored, 5);
    // Progress shows while the task runs, on both backends.
    let running = task(&server, &task_token);
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(running["progress"]["records_stored"], 5, "{running}");

    let mut response = common::http()
        .post(server.url(&format!("/api/v1/tasks/{task_token}/cancel")))
        .header("Authorization", &format!("Bearer {admin}"))
        .send_empty()
        .unwrap();
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.body_mut().read_json().unwrap();
    assert_eq!((answer["status"].as_str(), answer["cancel_requested"].as_bool()), (Some("running"), Some(true)), "{answer}");

    gate.release.send(()).unwrap();
    let done = await_task(&server, &task_token);
    assert_eq!(done["status"], "cancelled", "{done}");
    assert_eq!(count(&db, "runs"), 0, "a cancelled task must leave nothing stored");
    assert_eq!(count(&db, "results"), 0);
    // Nor anything staged (SQLite stores in steps).
    assert_eq!(count(&db, "staged_results"), 0);
});

storage_test!(fn cancelling_an_enqueued_task_is_immediate(db) {
    let server = TestServer::start_with(&db, ServerOptions { workers: 0, ..Default::default() });
    let upload_token = token(&db, "shop", Scope::Upload);
    let admin = token(&db, "shop", Scope::Admin);
    let task_token = upload_ok(&server, &upload_token, QUERY, junit("shop", 1, 0).as_bytes());
    // An upload token may not cancel.
    let response = common::http()
        .post(server.url(&format!("/api/v1/tasks/{task_token}/cancel")))
        .header("Authorization", &format!("Bearer {upload_token}"))
        .send_empty()
        .unwrap();
    assert_eq!(response.status(), 403);
    let mut response = common::http()
        .post(server.url(&format!("/api/v1/tasks/{task_token}/cancel")))
        .header("Authorization", &format!("Bearer {admin}"))
        .send_empty()
        .unwrap();
    let answer: serde_json::Value = response.body_mut().read_json().unwrap();
    assert_eq!(answer["status"], "cancelled", "{answer}");
    assert_eq!(task(&server, &task_token)["status"], "cancelled");
});

/// SQLite: a cancel that arrives while the upload still waits in the spool (a store step
/// holds the database's write lock) waits for it to enter the queue and cancels it, rather
/// than asking the client to try again.
#[test]
fn a_cancel_waits_for_the_upload_to_leave_the_sqlite_spool() {
    use diesel::connection::SimpleConnection;
    let db = TestDb::sqlite();
    let server = TestServer::start_with(
        &db,
        ServerOptions {
            workers: 0,
            ..Default::default()
        },
    );
    let upload_token = token(&db, "shop", Scope::Upload);
    let admin = token(&db, "shop", Scope::Admin);
    let mut lock = db.connect();
    lock.batch_execute("BEGIN IMMEDIATE").unwrap();
    let task_token = upload_ok(
        &server,
        &upload_token,
        QUERY,
        junit("shop", 1, 0).as_bytes(),
    );
    let spooled = task(&server, &task_token);
    assert_eq!(
        spooled["id"], 0,
        "the upload should wait in the spool: {spooled}"
    );

    let (answered, answer) = mpsc::channel();
    let url = server.url(&format!("/api/v1/tasks/{task_token}/cancel"));
    std::thread::spawn(move || {
        let mut response = common::http()
            .post(url)
            .header("Authorization", &format!("Bearer {admin}"))
            .send_empty()
            .unwrap();
        let body: serde_json::Value = response.body_mut().read_json().unwrap();
        let _ = answered.send((response.status().as_u16(), body));
    });
    // No answer while the upload cannot leave the spool (before, a 409 came at once).
    if let Ok((status, body)) = answer.recv_timeout(Duration::from_secs(1)) {
        panic!("answered {status} while the upload was still spooled: {body}");
    }
    lock.batch_execute("COMMIT").unwrap();
    let (status, body) = answer
        .recv_timeout(Duration::from_secs(30))
        .expect("the cancel's answer");
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("cancelled")),
        "{body}"
    );
    assert_eq!(task(&server, &task_token)["status"], "cancelled");
}

storage_test!(fn shutdown_mid_store_hands_the_task_back_and_it_is_stored_once(db) {
    let (observer, gate) = gate();
    let options = ServerOptions { workers: 1, batch_observer: Some(observer), shutdown_grace_seconds: 0, ..Default::default() };
    let server = TestServer::start_with(&db, options);
    let upload_token = token(&db, "shop", Scope::Upload);
    let task_token = upload_ok(&server, &upload_token, QUERY, junit("shop", 5, 1).as_bytes());
    gate.wait_entered();

    let mut handing_back = server.workers.hand_back_now.subscribe();
    let stopping = std::thread::spawn(move || server.shut_down());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), handing_back.wait_for(|now| *now)).await })
        .expect("shutdown did not reach the hand-back stage")
        .unwrap();
    gate.release.send(()).unwrap();
    stopping.join().unwrap();
    assert_eq!(count(&db, "runs"), 0, "a handed-back task must leave nothing stored");
    assert_eq!(count(&db, "staged_results"), 0);
    assert_eq!(count(&db, "store_tasks WHERE status = 'enqueued' AND claims = 1"), 1);

    let restarted = TestServer::start(&db);
    let done = await_task(&restarted, &task_token);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(count(&db, "runs"), 1);
    assert_eq!(count(&db, "results"), 6);
    assert_eq!(count(&db, "store_tasks WHERE claims = 2"), 1);
});

/// SQLite stores in committed steps (see `store::staging`). Rows an earlier claim of the
/// task staged before its process died (planted here by hand) are discarded when the task
/// is claimed again, so the run holds each result once.
#[test]
fn rows_staged_by_a_dead_claim_are_discarded_when_the_task_is_claimed_again() {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(
        &db,
        ServerOptions {
            workers: 0,
            ..Default::default()
        },
    );
    let upload_token = token(&db, "shop", Scope::Upload);
    let task_token = upload_ok(
        &server,
        &upload_token,
        QUERY,
        junit("shop", 5, 1).as_bytes(),
    );
    // Until the upload has moved from the spool into the database (its task gets an id).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while task(&server, &task_token)["id"] == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never left the spool"
        );
    }
    server.shut_down();
    diesel::sql_query(
        "INSERT INTO staged_results (task_id, claim, test_id, outcome, attempts, failed_attempts, retry_ms) \
         SELECT id, 1, 424242, 'passed', 1, 0, 0 FROM store_tasks WHERE kind = 'store'",
    )
    .execute(&mut db.connect())
    .unwrap();

    let restarted = TestServer::start(&db);
    let done = await_task(&restarted, &task_token);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(count(&db, "results"), 6);
    assert_eq!(count(&db, "results WHERE test_id = 424242"), 0);
    assert_eq!(count(&db, "staged_results"), 0);
    // At its first claim since: the planted row never reached the run's publish.
    assert_eq!(
        count(&db, "store_tasks WHERE kind = 'store' AND claims = 1"),
        1
    );
}

storage_test!(fn bad_input_gets_a_specific_error_and_harms_nothing(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let read_token = token(&db, "shop", Scope::Read);
    let other_project = token(&db, "billing", Scope::Upload);
    let good = junit("shop", 2, 0);

    let mut response = common::http().post(server.url(&format!("/api/v1/uploads?{QUERY}"))).send(good.as_bytes()).unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.body_mut().read_json().unwrap();
    assert_eq!(body["error"]["code"], "missing_token", "{body}");

    // token, query, body, expected status, error code, field named
    type Case<'a> = (&'a str, &'a str, &'a [u8], u16, &'a str, Option<&'a str>);
    let cases: [Case; 8] = [
        ("fw_upload_0000", QUERY, good.as_bytes(), 401, "invalid_token", None),
        (&read_token, QUERY, good.as_bytes(), 403, "insufficient_scope", None),
        (&other_project, &format!("project=shop&{QUERY}"), good.as_bytes(), 403, "wrong_project", Some("project")),
        (&upload_token, "commit=abc", good.as_bytes(), 400, "invalid_field", Some("branch")),
        (&upload_token, &format!("{QUERY}&started_at=yesterday"), good.as_bytes(), 400, "invalid_field", Some("started_at")),
        (&upload_token, &format!("{QUERY}&attempt=first"), good.as_bytes(), 400, "invalid_field", Some("attempt")),
        (&upload_token, QUERY, b"<html>", 202, "", None),
        (&upload_token, QUERY, b"\x00\x01binary garbage", 415, "not_a_report", None),
    ];
    for (token, query, body, status, code, field) in cases {
        let (got, answer) = upload(&server, token, query, body, &[]);
        assert_eq!(got, status, "{query}: {answer}");
        if status != 202 {
            assert_eq!(answer["error"]["code"], code, "{answer}");
            assert_eq!(answer["error"]["field"].as_str(), field, "{answer}");
            assert!(answer["error"]["message"].as_str().is_some_and(|m| m.len() > 20), "{answer}");
        }
    }
    let (status, answer) = upload(&server, &upload_token, QUERY, b"", &[]);
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("empty_body")), "{answer}");

    // A report that does not parse: the task fails with file, line and column.
    let (status, answer) = upload(&server, &upload_token, "branch=main&commit=cut", TRUNCATED.as_bytes(),
        &[("Content-Disposition", "attachment; filename=\"TEST-cut.xml\"")]);
    assert_eq!(status, 202, "{answer}");
    let failed = await_task(&server, answer["task"].as_str().unwrap());
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(error.starts_with("TEST-cut.xml:3:"), "{error}");

    // Everything accepted before and after is unharmed.
    let later = upload_ok(&server, &upload_token, "branch=main&commit=after", good.as_bytes());
    assert_eq!(await_task(&server, &later)["status"], "completed");
    assert_eq!(count(&db, "runs WHERE commit_sha = 'after'"), 1);
    assert_eq!(count(&db, "store_tasks WHERE status = 'failed'"), 2, "the <html> body and the truncated one");
});

storage_test!(fn size_limits_answer_413(db) {
    let server = TestServer::start_with(&db, ServerOptions { max_upload_bytes: 4096, max_report_bytes: 64 << 10, ..Default::default() });
    let token = token(&db, "shop", Scope::Upload);
    let (status, answer) = upload(&server, &token, QUERY, junit("big", 200, 0).as_bytes(), &[]);
    assert_eq!((status, answer["error"]["code"].as_str()), (413, Some("too_large")), "{answer}");
    // Small on the wire, large once decompressed.
    let bomb = gzip(&vec![b' '; 1 << 20]);
    assert!(bomb.len() < 4096);
    let (status, answer) = upload(&server, &token, QUERY, &bomb, &[]);
    assert_eq!((status, answer["error"]["code"].as_str()), (413, Some("too_large")), "{answer}");
    assert_eq!(count(&db, "uploads"), 0);
});

storage_test!(fn operators_list_tasks_and_scrape_metrics(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let admin = token(&db, "shop", Scope::Admin);
    let done = upload_ok(&server, &upload_token, QUERY, junit("shop", 2, 0).as_bytes());
    await_task(&server, &done);

    let mut response = common::http()
        .get(server.url("/api/v1/tasks?status=completed&limit=10"))
        .header("Authorization", &format!("Bearer {admin}"))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    let list: serde_json::Value = response.body_mut().read_json().unwrap();
    assert_eq!(list["tasks"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["tasks"][0]["project"], "shop");
    let response = common::http()
        .get(server.url("/api/v1/tasks"))
        .header("Authorization", &format!("Bearer {upload_token}"))
        .call()
        .unwrap();
    assert_eq!(response.status(), 403);

    let page = common::http().get(server.url("/tasks")).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(page.contains("status-completed") && page.contains("shop"), "{page}");
    assert!(page.contains("2 / 2"), "records stored / seen: {page}");

    let metrics = common::http().get(server.url("/metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    let samples = common::exposition::parse(&metrics);
    assert_eq!(samples.get("flakewatch_store_tasks{status=\"completed\"}"), Some(&1.0), "{metrics}");
    assert_eq!(samples.get("flakewatch_results_stored_total"), Some(&2.0), "{metrics}");
    assert_eq!(samples.get("flakewatch_task_store_seconds_count"), Some(&1.0), "{metrics}");
    // Every request above took a pooled connection at least once.
    let pool_waits = samples.get("flakewatch_db_pool_wait_seconds_count").copied().unwrap_or(0.0);
    assert!(pool_waits >= 4.0, "{metrics}");
});

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

// ---- Storing and scoring as two stages ----

/// A report with these tests passing (`true`) or failing.
fn report(outcomes: &[(&str, bool)]) -> String {
    let mut xml = String::from("<testsuite name=\"stages\">\n");
    for (name, passed) in outcomes {
        if *passed {
            xml.push_str(&format!(
                "<testcase classname=\"app.Stages\" name=\"{name}\" time=\"0.1\"/>\n"
            ));
        } else {
            xml.push_str(&format!(
                "<testcase classname=\"app.Stages\" name=\"{name}\" time=\"0.1\">\
                 <failure message=\"boom\" type=\"Error\">at {name}</failure></testcase>\n"
            ));
        }
    }
    xml.push_str("</testsuite>\n");
    xml
}

/// Answers once the task has left `stage` (queued, storing or scoring).
fn wait_while(server: &TestServer, task: &str, stage: &str) -> serde_json::Value {
    let (status, answer) = common::api::get_json(
        server,
        "",
        &format!("/api/v1/tasks/{task}?wait=60&while={stage}"),
    );
    assert_eq!(status, 200, "{answer}");
    answer
}

fn store_only() -> ServerOptions {
    ServerOptions {
        jobs: vec![JobKind::Store],
        ..Default::default()
    }
}

/// Eight runs of one project on four commits: a test that flips, one that breaks on the
/// default branch, a rerun, and one left out now and then.
fn history() -> Vec<(String, String)> {
    let mut runs = Vec::new();
    for i in 0..8 {
        let commit = format!("c{}", i / 2);
        let query = format!(
            "branch=main&commit={commit}&job=unit&attempt={}&started_at=2026-11-2{}T10:00:00Z",
            i % 2 + 1,
            i / 2 + 1
        );
        let mut outcomes = vec![("steady", true), ("flips", i % 3 != 1), ("breaks", i < 4)];
        if i % 4 != 3 {
            outcomes.push(("sometimes", true));
        }
        runs.push((query, report(&outcomes)));
    }
    runs
}

/// Everything scoring writes, in a comparable form.
fn scoring_snapshot(db: &TestDb) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let mut conn = db.connect();
    let mut lines = Vec::new();
    for query in [
        "SELECT test_id || ' ' || status || ' ' || score || ' ' || failure_rate || ' ' || runs_seen || ' ' \
         || status_changed_at || ' ' || coalesce(CAST(fixed_since AS TEXT), '-') || ' ' || evidence AS line \
         FROM test_scores ORDER BY test_id",
        "SELECT test_id || ' ' || state AS line FROM test_states ORDER BY test_id",
        "SELECT id || ' ' || red_flaky || ' ' || red_broken || ' ' || red_other || ' ' || flaky_retry_ms || ' ' \
         || coalesce(CAST(score_seq AS TEXT), '-') AS line FROM runs ORDER BY id",
        "SELECT test_id || ' ' || day || ' ' || failures || ' ' || red_runs_alone || ' ' || rerun_ms || ' ' || retry_ms AS line \
         FROM test_impact_days ORDER BY test_id, day",
    ] {
        let rows: Vec<Line> = diesel::sql_query(query).load(&mut conn).unwrap();
        lines.extend(rows.into_iter().map(|l| l.line));
    }
    lines
}

/// Scores everything waiting, `max_results` at a time, as the scoring job does.
fn score_waiting(db: &TestDb, project: &str, max_results: u64) -> usize {
    use diesel::Connection;
    let mut conn = db.connect();
    let project_id = flakewatch::store::projects::find(&mut conn, project)
        .unwrap()
        .unwrap()
        .id;
    let now = chrono::Utc::now().naive_utc();
    let mut batches = 0;
    loop {
        let batch = conn
            .transaction(|tx| {
                scores::lock_project(tx, project_id)?;
                scores::score_pending(tx, project_id, &Params::default(), now, max_results)
            })
            .unwrap();
        if batch.run_ids.is_empty() {
            return batches;
        }
        batches += 1;
    }
}

storage_test!(fn a_task_is_stored_then_scored_by_its_projects_scorer(db) {
    let server = TestServer::start_with(&db, store_only());
    let admin = token(&db, "shop", Scope::Admin);
    let token = token(&db, "shop", Scope::Upload);
    let task = upload_ok(&server, &token, QUERY, junit("shop", 3, 1).as_bytes());
    wait_while(&server, &task, "queued");
    let stored = wait_while(&server, &task, "storing");
    // Stored, not scored: clients that know only five statuses keep waiting.
    assert_eq!((stored["status"].as_str(), stored["stage"].as_str()), (Some("running"), Some("scoring")), "{stored}");
    assert!(stored["stored_at"].is_string() && stored["scored_at"].is_null(), "{stored}");
    assert!(stored["store_ms"].is_i64() && stored["scoring_ms"].is_i64(), "{stored}");
    assert_eq!(count(&db, "runs WHERE scored_at IS NULL"), 1);
    assert_eq!(count(&db, "test_scores"), 0);
    let (_, metrics) = common::api::get_json(&server, &admin, "/api/v1/projects/shop/metrics");
    assert_eq!(metrics["promptness"]["scoring_backlog"]["runs_waiting"], 1, "{metrics}");
    let (_, scrape) = common::api::get_text(&server, &admin, "/metrics");
    assert!(scrape.contains("\nflakewatch_scoring_runs_waiting 1\n"), "{scrape}");
    assert!(scrape.contains("flakewatch_store_tasks{status=\"scoring\"} 1\n"), "{scrape}");
    drop(server);

    // The process stopped between the stages; the next one scores the run, once.
    let server = TestServer::start(&db);
    let done = await_task(&server, &task);
    assert_eq!((done["status"].as_str(), done["stage"].as_str()), (Some("completed"), Some("done")), "{done}");
    assert!(done["scored_at"].is_string(), "{done}");
    assert_eq!(count(&db, "test_scores WHERE runs_seen = 1"), 4);
    assert_eq!(count(&db, "runs WHERE scored_at IS NOT NULL AND score_seq = 1"), 1);
    // The one scoring job the store asked for (it ends just after the run it scored).
    assert_eq!(count(&db, "store_tasks WHERE kind = 'score' AND status <> 'failed'"), 1);
});

storage_test!(fn scoring_in_batches_equals_scoring_run_by_run(db) {
    let server = TestServer::start_with(&db, store_only());
    let token = token(&db, "shop", Scope::Upload);
    for (query, body) in history() {
        let task = upload_ok(&server, &token, &query, body.as_bytes());
        wait_while(&server, &task, "queued");
        assert_eq!(wait_while(&server, &task, "storing")["stage"], "scoring");
    }
    drop(server);

    assert_eq!(score_waiting(&db, "shop", u64::MAX), 1, "one batch takes all eight runs");
    let batched = scoring_snapshot(&db);
    assert!(batched.iter().any(|line| line.contains(" flaky ")), "{batched:#?}");
    assert!(batched.iter().any(|line| line.contains(" broken ")), "{batched:#?}");

    let mut conn = db.connect();
    diesel::sql_query("UPDATE runs SET scored_at = NULL, score_seq = NULL, red_flaky = 0, red_broken = 0, red_other = 0, flaky_retry_ms = 0")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("DELETE FROM test_scores").execute(&mut conn).unwrap();
    diesel::sql_query("DELETE FROM test_impact_days").execute(&mut conn).unwrap();
    assert_eq!(score_waiting(&db, "shop", 1), 8, "one run a batch");
    assert_eq!(scoring_snapshot(&db), batched);

    // A rescore replays the runs in their scoring order: the same again.
    let project_id = flakewatch::store::projects::find(&mut conn, "shop").unwrap().unwrap().id;
    let now = chrono::Utc::now().naive_utc();
    let summary = scores::rescore_project(&mut conn, project_id, &Params::default(), now, |_, _| {}).unwrap();
    assert_eq!(summary.runs, 8);
    assert_eq!(scoring_snapshot(&db), batched);
});

#[test]
fn stores_committing_out_of_order_are_scored_in_the_order_they_land() {
    // On SQLite the first store's transaction holds the only write lock, so stores cannot
    // overtake each other there.
    let Some(db) = TestDb::postgres() else { return };
    let (paused_tx, paused) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let first_task = Mutex::new(None::<i64>);
    let observer: BatchObserver = Box::new(move |task, _| {
        let is_first = *first_task.lock().unwrap().get_or_insert(task) == task;
        if is_first {
            paused_tx.send(task).unwrap();
            released
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(60))
                .unwrap();
        }
    });
    let server = TestServer::start_with(
        &db,
        ServerOptions {
            workers: 3,
            batch_observer: Some(observer),
            ..Default::default()
        },
    );
    let token = token(&db, "shop", Scope::Upload);
    let runs = history();
    let early = upload_ok(&server, &token, &runs[0].0, runs[0].1.as_bytes());
    paused
        .recv_timeout(Duration::from_secs(30))
        .expect("the first store reached its batch");
    // The first run's row exists (its id is taken) but is not committed; the second
    // overtakes it and is stored and scored first.
    let late = upload_ok(&server, &token, &runs[1].0, runs[1].1.as_bytes());
    assert_eq!(await_task(&server, &late)["status"], "completed");
    release.send(()).unwrap();
    assert_eq!(await_task(&server, &early)["status"], "completed");

    let early_run = task(&server, &early)["run_id"].as_i64().unwrap();
    let late_run = task(&server, &late)["run_id"].as_i64().unwrap();
    assert!(early_run < late_run, "ids in the order the stores began");
    assert_eq!(
        count(
            &db,
            &format!("runs WHERE id = {late_run} AND score_seq = 1")
        ),
        1
    );
    assert_eq!(
        count(
            &db,
            &format!("runs WHERE id = {early_run} AND score_seq = 2")
        ),
        1
    );
    assert_eq!(count(&db, "test_scores WHERE runs_seen = 2"), 4);
    let incremental = scoring_snapshot(&db);
    let mut conn = db.connect();
    let project_id = flakewatch::store::projects::find(&mut conn, "shop")
        .unwrap()
        .unwrap()
        .id;
    let now = chrono::Utc::now().naive_utc();
    scores::rescore_project(&mut conn, project_id, &Params::default(), now, |_, _| {}).unwrap();
    assert_eq!(
        scoring_snapshot(&db),
        incremental,
        "a replay in scoring order agrees"
    );
}

storage_test!(fn retention_purges_old_results_and_changes_no_score(db) {
    let server = TestServer::start_with(&db, ServerOptions {
        result_retention_days: 1,
        ..Default::default()
    });
    let token = token(&db, "shop", Scope::Upload);
    for (query, body) in history() {
        assert_eq!(await_task(&server, &upload_ok(&server, &token, &query, body.as_bytes()))["status"], "completed");
    }
    let before = scoring_snapshot(&db);
    let results_before = count(&db, "results");
    let spans_before = count(&db, "pipeline_spans");
    let old_spans = count(&db, "pipeline_spans WHERE started_at < '2026-11-23 10:00:00'");
    assert!(old_spans > 0 && old_spans < spans_before, "{old_spans} of {spans_before}");
    let rollups_before = count(&db, "span_days");

    // The lease keeper enqueues retention at most hourly; a test enqueues it itself and
    // waits for the job to end.
    let mut changes = server.workers.signals.subscribe_changed();
    let mut conn = db.connect();
    let now = chrono::Utc::now().naive_utc();
    queue::enqueue(&mut conn, JobKind::Retention, None, "retention", now).unwrap();
    let job: i64 = {
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            id: i64,
        }
        diesel::sql_query("SELECT max(id) AS id FROM store_tasks WHERE kind = 'retention'")
            .get_result::<Id>(&mut conn)
            .unwrap()
            .id
    };
    server.workers.signals.task_enqueued();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let completed = format!("store_tasks WHERE id = {job} AND status = 'completed'");
    let ended = runtime.block_on(async {
        let job_ended = async {
            // A change of the job (claimed, ended) wakes us to look at it.
            while count(&db, &completed) == 0 {
                while changes.recv().await.unwrap() != job {}
            }
        };
        tokio::time::timeout(Duration::from_secs(60), job_ended).await
    });
    ended.expect("the retention job ended within 60 s");

    // Newest run on the 24th at 10:00: runs before the 23rd at 10:00 go (the 21st's and
    // the 22nd's, 15 results), those of the 23rd stay.
    assert_eq!(count(&db, "results r JOIN runs u ON u.id = r.run_id WHERE u.started_at < '2026-11-23 00:00:00'"), 0);
    assert_eq!(count(&db, "results"), results_before - 15);
    assert_eq!(count(&db, "runs"), 8, "runs stay, with their counts");
    assert_eq!(scoring_snapshot(&db), before, "purging results changes no score");
    // The spans of pipelines started before the cutoff go; the day rollups stay.
    assert_eq!(count(&db, "pipeline_spans"), spans_before - old_spans);
    assert_eq!(count(&db, "span_days"), rollups_before);
});

// Jobs a dead worker left running go back to the queue once per kind and key: not when the
// same job already waits (it does the same work), and only the oldest of several. Requeued
// all together, they broke the one-waiting-per-key index, the requeue failed, and every
// orphan stayed running for ever (seen after `kill -9` of `serve` mid-scoring).
storage_test!(fn orphaned_jobs_go_back_once_per_key(db) {
    drop(db.open());
    let mut conn = db.connect();
    let now = chrono::Utc::now().naive_utc();
    let job = |conn: &mut _, key: &str| {
        assert!(queue::enqueue(conn, JobKind::Score, None, key, now).unwrap());
        diesel::sql_query("SELECT max(id) AS n FROM store_tasks").get_result::<Max>(conn).unwrap().n
    };
    let lease_ended = lease_in_the_past(&db);
    let orphan = |conn: &mut _, id: i64| {
        diesel::sql_query(format!(
            "UPDATE store_tasks SET status = 'running', worker = 'gone', \
             lease_expires_at = {lease_ended} WHERE id = {id}"
        ))
        .execute(conn)
        .unwrap();
    };
    for requeue in ["expired leases", "orphans at start"] {
        diesel::sql_query("DELETE FROM store_tasks").execute(&mut conn).unwrap();
        // Key a: an orphan and the same job waiting. Key b: two orphans. Key c: one.
        let a_orphan = job(&mut conn, "a");
        orphan(&mut conn, a_orphan);
        let a_waiting = job(&mut conn, "a");
        let b_older = job(&mut conn, "b");
        orphan(&mut conn, b_older);
        let b_newer = job(&mut conn, "b");
        orphan(&mut conn, b_newer);
        let c = job(&mut conn, "c");
        orphan(&mut conn, c);

        let requeued = match requeue {
            "expired leases" => queue::requeue_expired(&mut conn, now),
            _ => queue::requeue_orphans(&mut conn),
        };
        assert_eq!(requeued, Ok(2), "{requeue}");
        let waiting: Vec<i64> = diesel::sql_query("SELECT id AS n FROM store_tasks WHERE status = 'enqueued' ORDER BY id")
            .load::<Max>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|row| row.n)
            .collect();
        assert_eq!(waiting, [a_waiting, b_older, c], "{requeue}");
        assert_eq!(count(&db, "store_tasks"), 3, "{requeue}: the others are gone");
    }
});

#[derive(QueryableByName)]
struct Max {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// An SQL expression for a lease that ended a minute before the job was enqueued.
fn lease_in_the_past(db: &TestDb) -> String {
    match db.backend {
        flakewatch::db::Backend::Postgres => "enqueued_at - INTERVAL '1 minute'".to_owned(),
        flakewatch::db::Backend::Sqlite => "datetime(enqueued_at, '-1 minute')".to_owned(),
    }
}
