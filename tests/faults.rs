//! Faults against real processes: the `flakewatch serve` binary killed with SIGKILL or
//! stopped with SIGTERM in the middle of a burst of uploads, and its PostgreSQL server
//! restarted under load. After each, every upload answered 202 is stored exactly once.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::api::{await_task, count, token};
use common::private_pg::PrivatePostgres;
use common::process::{flakewatch, Served};
use common::reports::junit;
use common::TestDb;
use diesel::prelude::*;
use flakewatch::db::Backend;
use flakewatch::store::tokens::Scope;

/// Test cases in each report of a burst.
const CASES: usize = 3;

/// No request may take longer than this: past it, it counts as hanging.
const HANG: Duration = Duration::from_secs(10);

/// Starts `flakewatch serve` on `db` with short leases, so tasks a killed process held are
/// taken over quickly.
fn serve(db: &TestDb) -> Served {
    let mut command = flakewatch(Path::new("."));
    command
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("FLAKEWATCH_BIND", "127.0.0.1:0")
        .env("FLAKEWATCH_HTTP_WORKERS", "2")
        .env("FLAKEWATCH_WORKERS", "2")
        .env("FLAKEWATCH_LEASE_SECONDS", "2")
        .env("FLAKEWATCH_SHUTDOWN_GRACE_SECONDS", "10");
    Served::start(command)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(HANG))
        .build()
        .into()
}

/// What one request came to.
#[derive(Debug)]
enum Outcome {
    /// An upload answered 202, with its task token.
    Accepted(String),
    /// Any other answer.
    Answered {
        status: u16,
        retry_after: bool,
        took: Duration,
        body: String,
    },
    /// No (whole) answer: the connection failed or the request hung past [`HANG`].
    Unanswered(String),
}

fn send(request: Result<ureq::http::Response<ureq::Body>, ureq::Error>, took: Duration) -> Outcome {
    let mut response = match request {
        Ok(response) => response,
        Err(err) => return Outcome::Unanswered(err.to_string()),
    };
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let body = match response.body_mut().read_to_string() {
        Ok(body) => body,
        Err(err) => return Outcome::Unanswered(format!("{status}, then {err}")),
    };
    if status == 202 {
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        return Outcome::Accepted(answer["task"].as_str().unwrap().to_owned());
    }
    Outcome::Answered {
        status,
        retry_after,
        took,
        body,
    }
}

fn upload(agent: &ureq::Agent, base_url: &str, token: &str, commit: &str) -> Outcome {
    let started = Instant::now();
    let request = agent
        .post(format!(
            "{base_url}/api/v1/uploads?branch=main&job=unit&commit={commit}"
        ))
        .header("Authorization", &format!("Bearer {token}"))
        .send(junit("burst", CASES - 1, 1).as_bytes());
    send(request, started.elapsed())
}

fn get(agent: &ureq::Agent, base_url: &str, token: &str, path: &str) -> Outcome {
    let started = Instant::now();
    let request = agent
        .get(format!("{base_url}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call();
    send(request, started.elapsed())
}

/// Clients on threads of their own, each repeating a request until told to stop or until
/// a request goes unanswered (the server is gone). Each request is named (an upload by
/// its commit) and its outcome kept.
struct Load {
    stop: Arc<AtomicBool>,
    accepted: mpsc::Receiver<()>,
    clients: Vec<JoinHandle<Vec<(String, Outcome)>>>,
}

impl Load {
    /// `clients` uploaders, each sending one report after another with a commit of its own.
    fn uploads(served: &Served, token: &str, clients: usize) -> Load {
        let (base_url, token) = (served.base_url.clone(), token.to_owned());
        Load::start(clients, move |client, i, agent| {
            let commit = format!("c{client}-{i}");
            let outcome = upload(agent, &base_url, &token, &commit);
            (commit, outcome)
        })
    }

    /// One reader going round `paths` (API and pages) with `token`.
    fn reads(served: &Served, token: &str, paths: &'static [&'static str]) -> Load {
        let (base_url, token) = (served.base_url.clone(), token.to_owned());
        Load::start(1, move |_, i, agent| {
            let path = paths[i % paths.len()];
            (path.to_owned(), get(agent, &base_url, &token, path))
        })
    }

    /// `request(client, i, agent)` makes the i-th request of a client.
    fn start(
        clients: usize,
        request: impl Fn(usize, usize, &ureq::Agent) -> (String, Outcome) + Send + Sync + 'static,
    ) -> Load {
        let request = Arc::new(request);
        let stop = Arc::new(AtomicBool::new(false));
        let (accepted_tx, accepted) = mpsc::channel();
        let clients = (0..clients)
            .map(|client| {
                let (request, stop, accepted_tx) =
                    (request.clone(), stop.clone(), accepted_tx.clone());
                std::thread::spawn(move || {
                    let agent = agent();
                    let mut outcomes = Vec::new();
                    for i in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let (name, outcome) = request(client, i, &agent);
                        if matches!(outcome, Outcome::Accepted(_)) {
                            let _ = accepted_tx.send(());
                        }
                        let gone = matches!(outcome, Outcome::Unanswered(_));
                        outcomes.push((name, outcome));
                        if gone {
                            break;
                        }
                    }
                    outcomes
                })
            })
            .collect();
        Load {
            stop,
            accepted,
            clients,
        }
    }

    /// Blocks until `n` more uploads have been answered 202.
    fn wait_for_accepted(&self, n: usize) {
        for _ in 0..n {
            self.accepted
                .recv_timeout(Duration::from_secs(60))
                .expect("uploads stopped being accepted");
        }
    }

    /// Stops the clients and returns every request's outcome.
    fn finish(self) -> Vec<(String, Outcome)> {
        self.stop.store(true, Ordering::SeqCst);
        self.clients
            .into_iter()
            .flat_map(|client| client.join().unwrap())
            .collect()
    }
}

/// Runs stored per commit.
fn runs_per_commit(db: &TestDb) -> HashMap<String, i64> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        commit_sha: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = db.connect();
    diesel::sql_query("SELECT commit_sha, count(*) AS n FROM runs GROUP BY commit_sha")
        .load::<Row>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|row| (row.commit_sha, row.n))
        .collect()
}

/// Waits for every task to end, then checks that each upload answered 202 was stored
/// exactly once, each refused one not at all, one that lost its answer at most once, and
/// that every upload row became exactly one run.
fn assert_stored_exactly_once(served: &Served, db: &TestDb, uploads: &[(String, Outcome)]) {
    for (commit, outcome) in uploads {
        if let Outcome::Accepted(task) = outcome {
            let done = await_task(served, task);
            assert_eq!(done["status"], "completed", "{commit}: {done}");
        }
    }
    // Uploads whose answer was cut off may have been taken: their tasks must end too.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(db, "store_tasks WHERE status IN ('enqueued', 'running')") > 0 {
        assert!(
            Instant::now() < deadline,
            "tasks still unfinished after 60 s: {:#?}\nserver log: {:#?}",
            unfinished_tasks(db),
            served.process.logged()
        );
    }
    let runs = runs_per_commit(db);
    for (commit, outcome) in uploads {
        let stored = runs.get(commit).copied().unwrap_or(0);
        match outcome {
            Outcome::Accepted(_) => assert_eq!(stored, 1, "{commit} was answered 202"),
            Outcome::Answered { status, body, .. } => {
                assert_eq!(stored, 0, "{commit} was answered {status}: {body}")
            }
            Outcome::Unanswered(why) => {
                assert!(stored <= 1, "{commit} ({why}) stored {stored} times")
            }
        }
    }
    assert_eq!(count(db, "store_tasks WHERE status <> 'completed'"), 0);
    let stored_runs = count(db, "runs");
    assert_eq!(stored_runs, count(db, "uploads"));
    assert_eq!(count(db, "results"), stored_runs * CASES as i64);
}

/// The tasks that have not ended, as text, for a failure message.
fn unfinished_tasks(db: &TestDb) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        task: String,
    }
    let mut conn = db.connect();
    diesel::sql_query(
        "SELECT 'id ' || id || ' ' || kind || ' ' || status || ' claims ' || claims \
         || ' worker ' || COALESCE(worker, '-') || ' enqueued ' || enqueued_at \
         || ' lease until ' || COALESCE(CAST(lease_expires_at AS TEXT), '-') || ' error ' \
         || COALESCE(error, '-') AS task \
         FROM store_tasks WHERE status IN ('enqueued', 'running') ORDER BY id",
    )
    .load::<Row>(&mut conn)
    .map(|rows| rows.into_iter().map(|row| row.task).collect())
    .unwrap_or_else(|err| vec![format!("could not list them: {err}")])
}

fn accepted(outcomes: &[(String, Outcome)]) -> usize {
    outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Accepted(_)))
        .count()
}

storage_test!(fn serve_killed_mid_burst_keeps_every_accepted_upload_exactly_once(db) {
    let mut served = serve(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let burst = Load::uploads(&served, &upload_token, 4);
    burst.wait_for_accepted(40);
    served.process.signal("-KILL");
    assert!(!served.process.wait_for_exit().success());
    let outcomes = burst.finish();
    // Every client was cut off by the kill: each one's last upload went unanswered.
    let cut_off = outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Unanswered(_))).count();
    assert_eq!(cut_off, 4, "{outcomes:#?}");

    let restarted = serve(&db);
    assert_stored_exactly_once(&restarted, &db, &outcomes);
    assert!(accepted(&outcomes) >= 40);
    assert!(restarted.terminate().success());
});

storage_test!(fn sigterm_mid_burst_exits_cleanly_and_keeps_every_accepted_upload_exactly_once(db) {
    let mut served = serve(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let burst = Load::uploads(&served, &upload_token, 4);
    burst.wait_for_accepted(40);
    served.process.signal("-TERM");
    let exit = served.process.wait_for_exit();
    let logged = served.process.logged();
    assert!(exit.success(), "{exit:?}: {logged:#?}");
    assert!(logged.iter().any(|line| line.contains("flakewatch stopped")), "{logged:#?}");
    let outcomes = burst.finish();

    let restarted = serve(&db);
    assert_stored_exactly_once(&restarted, &db, &outcomes);
    assert!(restarted.terminate().success());
});

/// The paths a dashboard reader goes round during the PostgreSQL restart.
const READS: &[&str] = &[
    "/readyz",
    "/api/v1/projects/shop/tests",
    "/projects/shop",
    "/",
];

#[test]
fn postgres_restarted_under_load_serve_reconnects_and_loses_nothing() {
    let Some(cluster) = PrivatePostgres::start() else {
        return;
    };
    let db = TestDb::borrowed(Backend::Postgres, cluster.url());
    let served = serve(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let read_token = token(&db, "shop", Scope::Read);
    let uploads = Load::uploads(&served, &upload_token, 3);
    let reads = Load::reads(&served, &read_token, READS);
    uploads.wait_for_accepted(20);

    cluster.stop_server();
    // While the database is down, an upload and a readiness probe are refused at once.
    let agent = agent();
    let down_upload = upload(&agent, &served.base_url, &upload_token, "while-down");
    let Outcome::Answered {
        status: 503,
        retry_after: true,
        took,
        ..
    } = &down_upload
    else {
        panic!("an upload while PostgreSQL is down: {down_upload:?}");
    };
    assert!(*took < Duration::from_secs(1), "took {took:?}");
    let down_ready = get(&agent, &served.base_url, &read_token, "/readyz");
    assert!(
        matches!(down_ready, Outcome::Answered { status: 503, took, .. } if took < Duration::from_secs(1)),
        "{down_ready:?}"
    );

    cluster.start_server();
    // The server reconnects by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(
        get(&agent, &served.base_url, &read_token, "/readyz"),
        Outcome::Answered { status: 200, .. }
    ) {
        assert!(
            Instant::now() < deadline,
            "not ready 30 s after PostgreSQL came back"
        );
    }
    uploads.wait_for_accepted(20);
    let mut outcomes = uploads.finish();
    let read_outcomes = reads.finish();

    // Nothing hung or went unanswered; every refusal was a 503 that says when to retry.
    for (name, outcome) in outcomes.iter().chain(&read_outcomes) {
        match outcome {
            Outcome::Accepted(_) | Outcome::Answered { status: 200, .. } => {}
            Outcome::Answered {
                status: 503,
                retry_after,
                ..
            } => assert!(
                *retry_after || name == "/readyz",
                "{name}: 503 without Retry-After"
            ),
            other => panic!("{name}: {other:?}"),
        }
    }
    let refused = outcomes
        .iter()
        .chain(&read_outcomes)
        .filter(|(_, o)| matches!(o, Outcome::Answered { status: 503, .. }))
        .count();
    eprintln!(
        "{} uploads accepted, {refused} requests answered 503 during the restart, {} reads",
        accepted(&outcomes),
        read_outcomes.len()
    );
    outcomes.push(("while-down".into(), down_upload));
    assert_stored_exactly_once(&served, &db, &outcomes);
    assert!(served.terminate().success());
}
