//! `flakewatch worker` processes sharing one PostgreSQL database: tasks are claimed once
//! each, a worker killed mid-task loses nothing, and SIGTERM mid-store hands the task back.
//!
//! A worker is held mid-store deterministically by locking the `results` table: its COPY
//! waits on the lock, inside its open store transaction, until the test lets go.

mod common;

use std::process::Command;

use common::api::{await_task, count, get_json, token, upload_ok};
use common::process::{start_worker, start_worker_for, Process};
use common::reports::junit;
use common::{http, ServerOptions, TestDb, TestServer};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use flakewatch::store::tokens::Scope;
use serde_json::Value;

/// Holds an exclusive lock on `results` until dropped, stalling every store at its COPY.
struct ResultsLock(PgConnection);

impl ResultsLock {
    fn take(db: &TestDb) -> ResultsLock {
        let mut conn = PgConnection::establish(&db.url).unwrap();
        conn.batch_execute("BEGIN; LOCK TABLE results IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        ResultsLock(conn)
    }

    fn release(mut self) {
        self.0.batch_execute("ROLLBACK").unwrap();
    }
}

/// Waits until the task leaves `enqueued`, through `?wait=&while=enqueued`.
fn await_start(server: &TestServer, task: &str) -> Value {
    let answer: Value = http()
        .get(server.url(&format!("/api/v1/tasks/{task}?wait=60&while=enqueued")))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(answer["status"], "running", "{answer}");
    answer
}

fn api_only(db: &TestDb) -> TestServer {
    TestServer::start_with(
        db,
        ServerOptions {
            workers: 0,
            ..Default::default()
        },
    )
}

/// Uploads a report and waits until a worker is inside its store, held there by `results`
/// being locked until the returned lock is released; returns the task and what the
/// running task looked like.
fn upload_held_mid_store(
    db: &TestDb,
    server: &TestServer,
    upload_token: &str,
    commit: &str,
    report: &str,
) -> (ResultsLock, String, Value) {
    let lock = ResultsLock::take(db);
    let task = upload_ok(
        server,
        upload_token,
        &format!("branch=main&commit={commit}"),
        report.as_bytes(),
    );
    let running = await_start(server, &task);
    (lock, task, running)
}

/// Waits for the task to end and checks that `worker` completed it.
fn assert_completed_by(server: &TestServer, task: &str, worker: &Process) {
    let done = await_task(server, task);
    assert_eq!(done["status"], "completed", "{done}");
    let pid = worker.pid().to_string();
    assert!(done["worker"].as_str().unwrap().contains(&pid), "{done}");
}

#[test]
fn two_worker_processes_run_each_of_200_tasks_exactly_once() {
    let Some(db) = TestDb::postgres() else { return };
    let server = api_only(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let first = start_worker(&db.url, 2, 20);
    let second = start_worker(&db.url, 2, 20);

    // The same five tests in every report: the workers also contend on shared identities.
    let report = junit("shop", 4, 1);
    let tasks: Vec<String> = (0..200)
        .map(|i| {
            upload_ok(
                &server,
                &upload_token,
                &format!("branch=main&commit=c{i}&job=unit"),
                report.as_bytes(),
            )
        })
        .collect();
    let mut workers_seen = std::collections::HashSet::new();
    for task in &tasks {
        let done = await_task(&server, task);
        assert_eq!(done["status"], "completed", "{done}");
        let worker = done["worker"].as_str().unwrap();
        workers_seen.insert(worker.split(':').nth(1).unwrap().to_owned());
    }
    assert_eq!(
        count(
            &db,
            "store_tasks WHERE kind = 'store' AND status = 'completed' AND claims = 1"
        ),
        200
    );
    assert_eq!(count(&db, "runs"), 200);
    // Each run scored once, in one order: the states saw every run once.
    assert_eq!(count(&db, "runs WHERE scored_at IS NOT NULL"), 200);
    assert_eq!(
        count(&db, "(SELECT DISTINCT score_seq FROM runs) AS seqs"),
        200
    );
    assert_eq!(count(&db, "test_scores WHERE runs_seen = 200"), 5);
    assert_eq!(count(&db, "results"), 1000);
    assert_eq!(count(&db, "tests"), 5);
    let pids = [first.pid().to_string(), second.pid().to_string()];
    assert!(
        workers_seen.iter().all(|pid| pids.contains(pid)),
        "{workers_seen:?}"
    );
    assert_eq!(
        workers_seen.len(),
        2,
        "both processes should have claimed tasks: {workers_seen:?}"
    );

    first.signal("-TERM");
    second.signal("-TERM");
    assert!(first.wait().success());
    assert!(second.wait().success());
}

#[test]
fn a_worker_killed_mid_task_loses_nothing_and_stores_nothing_twice() {
    let Some(db) = TestDb::postgres() else { return };
    let server = api_only(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let doomed = start_worker(&db.url, 1, 20);

    let (lock, task, running) =
        upload_held_mid_store(&db, &server, &upload_token, "kill9", &junit("shop", 18, 2));
    let doomed_pid = doomed.pid().to_string();
    assert!(
        running["worker"].as_str().unwrap().contains(&doomed_pid),
        "{running}"
    );
    doomed.signal("-KILL");
    assert!(!doomed.wait().success());
    lock.release();

    // The lease (2 s) runs out with nobody renewing it; the survivor takes the task over.
    let survivor = start_worker(&db.url, 1, 20);
    assert_completed_by(&server, &task, &survivor);
    assert_eq!(count(&db, "store_tasks WHERE claims = 2"), 1);
    assert_eq!(count(&db, "runs"), 1);
    assert_eq!(count(&db, "results"), 20);
}

#[test]
fn sigterm_mid_store_hands_the_task_back_and_it_is_stored_once() {
    let Some(db) = TestDb::postgres() else { return };
    let server = api_only(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    // No grace period: SIGTERM hands in-flight tasks back at once.
    let stopping = start_worker(&db.url, 1, 0);

    let (lock, task, _) =
        upload_held_mid_store(&db, &server, &upload_token, "term", &junit("shop", 9, 1));
    stopping.signal("-TERM");
    stopping.wait_for_line("grace period over");
    lock.release();
    assert!(
        stopping.wait().success(),
        "a worker stopped by SIGTERM exits 0"
    );
    assert_eq!(
        count(&db, "store_tasks WHERE status = 'enqueued' AND claims = 1"),
        1
    );
    assert_eq!(count(&db, "runs"), 0);

    let next = start_worker(&db.url, 1, 20);
    assert_completed_by(&server, &task, &next);
    assert_eq!(count(&db, "runs"), 1);
    assert_eq!(count(&db, "results"), 10);
}

/// The moment SIGTERM arrives a worker claims nothing more: a task enqueued after it,
/// while a held task keeps the process in its grace period with a second worker idle, is
/// left in the queue untouched for the next process.
#[test]
fn a_worker_claims_nothing_once_sigterm_arrives() {
    let Some(db) = TestDb::postgres() else { return };
    let server = api_only(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let stopping = start_worker(&db.url, 2, 60);

    let (lock, held, _) =
        upload_held_mid_store(&db, &server, &upload_token, "held", &junit("shop", 2, 0));
    stopping.signal("-TERM");
    stopping.wait_for_line("stopped claiming tasks");
    let late = upload_ok(
        &server,
        &upload_token,
        "branch=main&commit=late",
        junit("shop", 2, 0).as_bytes(),
    );
    // The idle worker is woken by the late task's NOTIFY; the held one finishes in its grace
    // period once the lock goes, and only then does the process exit.
    lock.release();
    assert!(stopping.wait().success());
    // The held task was stored in the grace period; its scoring waits for a worker.
    assert_eq!(
        count(
            &db,
            "store_tasks WHERE kind = 'store' AND status = 'scoring'"
        ),
        1
    );
    assert_eq!(
        count(
            &db,
            "store_tasks WHERE kind = 'store' AND status = 'enqueued' AND claims = 0"
        ),
        1,
        "the task enqueued after SIGTERM was claimed"
    );

    let next = start_worker(&db.url, 1, 20);
    assert_completed_by(&server, &late, &next);
    assert_eq!(await_task(&server, &held)["status"], "completed");
    assert_eq!(count(&db, "runs"), 2);
}

#[test]
fn worker_refuses_sqlite() {
    let db = TestDb::sqlite();
    let output = Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .arg("worker")
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs PostgreSQL"), "{stderr}");
}

#[test]
fn a_scorer_killed_mid_way_leaves_every_run_scored_exactly_once() {
    let Some(db) = TestDb::postgres() else { return };
    let server = api_only(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    // A worker that only stores: every run waits, stored, for a scorer.
    let storer = start_worker_for(&db.url, 2, 20, "store");
    let report = junit("shop", 1500, 0);
    let tasks: Vec<String> = (0..20)
        .map(|i| {
            upload_ok(
                &server,
                &upload_token,
                &format!("branch=main&commit=c{i}&job=unit"),
                report.as_bytes(),
            )
        })
        .collect();
    for task in &tasks {
        for stage in ["queued", "storing"] {
            let (status, answer) = get_json(
                &server,
                "",
                &format!("/api/v1/tasks/{task}?wait=60&while={stage}"),
            );
            assert_eq!(status, 200, "{answer}");
        }
    }
    storer.signal("-KILL");
    assert_eq!(count(&db, "runs WHERE scored_at IS NULL"), 20);

    // 30,000 results are two batches: the scorer dies after committing the first.
    let scorer = start_worker_for(&db.url, 1, 20, "score");
    scorer.wait_for_line("scored");
    scorer.signal("-KILL");
    let finisher = start_worker(&db.url, 1, 20);
    for task in &tasks {
        assert_eq!(await_task(&server, task)["status"], "completed");
    }
    drop(finisher);
    assert_eq!(count(&db, "runs WHERE scored_at IS NOT NULL"), 20);
    assert_eq!(
        count(&db, "(SELECT DISTINCT score_seq FROM runs) AS seqs"),
        20
    );
    assert_eq!(
        count(&db, "test_scores WHERE runs_seen = 20"),
        1500,
        "every run counted once"
    );
    assert_eq!(
        count(
            &db,
            "store_tasks WHERE kind = 'store' AND status = 'completed'"
        ),
        20
    );
}
