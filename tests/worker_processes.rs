//! `flakewatch worker` processes sharing one PostgreSQL database: tasks are claimed once
//! each, a worker killed mid-task loses nothing, and SIGTERM mid-store hands the task back.
//!
//! A worker is held mid-store deterministically by locking the `results` table: its COPY
//! waits on the lock, inside its open store transaction, until the test lets go.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::api::{await_task, count, get_json, token, upload_ok};
use common::reports::junit;
use common::{http, ServerOptions, TestDb, TestServer};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use flakewatch::store::tokens::Scope;
use serde_json::Value;

/// A running `flakewatch worker` and the lines it logs.
struct Worker {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Worker {
    fn start(db: &TestDb, workers: usize, grace_seconds: u64) -> Worker {
        Worker::start_for(db, workers, grace_seconds, "store,score,retention")
    }

    /// A worker process that takes only the job kinds listed (`store,score`, ...).
    fn start_for(db: &TestDb, workers: usize, grace_seconds: u64, jobs: &str) -> Worker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flakewatch"))
            .arg("worker")
            .env("FLAKEWATCH_JOBS", jobs)
            .env("DATABASE_URL", &db.url)
            .env("FLAKEWATCH_WORKERS", workers.to_string())
            .env("FLAKEWATCH_LEASE_SECONDS", "2")
            .env(
                "FLAKEWATCH_SHUTDOWN_GRACE_SECONDS",
                grace_seconds.to_string(),
            )
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start flakewatch worker");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let worker = Worker { child, lines };
        worker.wait_for_line("flakewatch worker is running");
        worker
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Blocks until the worker logs a line containing `text`.
    fn wait_for_line(&self, text: &str) {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.contains(text) => return,
                Ok(line) => seen.push(line),
                Err(_) => panic!("the worker never logged {text:?}; it logged {seen:#?}"),
            }
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (up to 30 s) for the process to exit.
    fn wait(mut self) -> ExitStatus {
        let (tx, rx) = mpsc::channel();
        let mut child = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        std::thread::spawn(move || tx.send(child.wait()));
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the worker did not exit within 30 s")
            .unwrap()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

#[test]
fn two_worker_processes_run_each_of_200_tasks_exactly_once() {
    let Some(db) = TestDb::postgres() else { return };
    let server = api_only(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let first = Worker::start(&db, 2, 20);
    let second = Worker::start(&db, 2, 20);

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
    let doomed = Worker::start(&db, 1, 20);

    let lock = ResultsLock::take(&db);
    let task = upload_ok(
        &server,
        &upload_token,
        "branch=main&commit=kill9",
        junit("shop", 18, 2).as_bytes(),
    );
    let running = await_start(&server, &task);
    let doomed_pid = doomed.pid().to_string();
    assert!(
        running["worker"].as_str().unwrap().contains(&doomed_pid),
        "{running}"
    );
    doomed.signal("-KILL");
    assert!(!doomed.wait().success());
    lock.release();

    // The lease (2 s) runs out with nobody renewing it; the survivor takes the task over.
    let survivor = Worker::start(&db, 1, 20);
    let done = await_task(&server, &task);
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        done["worker"]
            .as_str()
            .unwrap()
            .contains(&survivor.pid().to_string()),
        "{done}"
    );
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
    let stopping = Worker::start(&db, 1, 0);

    let lock = ResultsLock::take(&db);
    let task = upload_ok(
        &server,
        &upload_token,
        "branch=main&commit=term",
        junit("shop", 9, 1).as_bytes(),
    );
    await_start(&server, &task);
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

    let next = Worker::start(&db, 1, 20);
    let done = await_task(&server, &task);
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        done["worker"]
            .as_str()
            .unwrap()
            .contains(&next.pid().to_string()),
        "{done}"
    );
    assert_eq!(count(&db, "runs"), 1);
    assert_eq!(count(&db, "results"), 10);
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
    let storer = Worker::start_for(&db, 2, 20, "store");
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
    let scorer = Worker::start_for(&db, 1, 20, "score");
    scorer.wait_for_line("scored");
    scorer.signal("-KILL");
    let finisher = Worker::start(&db, 1, 20);
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
