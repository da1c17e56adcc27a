//! The `flakewatch` binary as an operator meets it: serve, migrate, and bad configuration.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::http;
use flakewatch::db::Backend;
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_flakewatch");

/// The binary with a clean environment: no DATABASE_URL or FLAKEWATCH_* from the caller.
fn flakewatch(cwd: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(cwd).env("RUST_LOG", "info");
    for (key, _) in std::env::vars() {
        if key == "DATABASE_URL" || key.starts_with("FLAKEWATCH_") {
            command.env_remove(key);
        }
    }
    command
}

/// A running `flakewatch serve`; killed if the test ends without stopping it.
struct Served {
    child: Child,
    base_url: String,
    stderr: mpsc::Receiver<String>,
}

impl Served {
    /// Starts `command` and waits for its "listening on" log line, which names the port.
    fn start(mut command: Command) -> Served {
        let mut child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start flakewatch serve");
        let (lines_tx, lines_rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let base_url = loop {
            let line = lines_rx
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("serve did not report its address; it said: {seen:#?}"));
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            seen.push(line);
        };
        Served {
            child,
            base_url,
            stderr: lines_rx,
        }
    }

    fn get_json(&self, path: &str) -> (u16, Value) {
        let mut response = http()
            .get(format!("{}{path}", self.base_url))
            .call()
            .unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_json().unwrap(),
        )
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let (done_tx, done_rx) = mpsc::channel();
        let mut child = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        std::thread::spawn(move || done_tx.send(child.wait()));
        let exit = done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("serve did not stop within 30 s of SIGTERM")
            .unwrap();
        let rest: Vec<String> = self.stderr.try_iter().collect();
        assert!(!rest.iter().any(|l| l.contains("panicked")), "{rest:#?}");
        exit
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

storage_test!(fn serve_answers_probes_and_stops_on_sigterm(db) {
    let cwd = tempfile::tempdir().unwrap();
    let mut command = flakewatch(cwd.path());
    command.args(["serve", "--http-workers", "1"]).env("FLAKEWATCH_BIND", "127.0.0.1:0");
    if db.backend == Backend::Postgres {
        command.env("DATABASE_URL", &db.url);
    }
    // On SQLite nothing else is set: the default database must appear in the working folder.
    let served = Served::start(command);

    let (status, body) = served.get_json("/healthz");
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = served.get_json("/readyz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["backend"], db.backend.to_string());
    assert_eq!(body["migrations"], "applied");
    if db.backend == Backend::Sqlite {
        assert!(cwd.path().join("flakewatch.db").is_file());
    }
    assert!(served.terminate().success());
});

fn migrate(cwd: &Path, database_url: &str) -> Output {
    flakewatch(cwd)
        .args(["migrate", "--database-url", database_url])
        .output()
        .unwrap()
}

storage_test!(fn migrate_twice_is_a_no_op_the_second_time(db) {
    let cwd = tempfile::tempdir().unwrap();
    let first = migrate(cwd.path(), &db.url);
    assert!(first.status.success(), "{first:?}");
    let second = migrate(cwd.path(), &db.url);
    assert!(second.status.success(), "{second:?}");
    let said = String::from_utf8(second.stdout).unwrap();
    assert!(said.contains("schema is up to date, nothing to apply"), "{said}");
    if db.backend == Backend::Sqlite {
        let said = String::from_utf8(first.stdout).unwrap();
        let count = std::fs::read_dir("migrations/sqlite").unwrap().count();
        assert!(said.contains(&format!("applied {count} migration(s)")), "{said}");
    }
});

/// A failed start: non-zero exit and one `error:` line that says what to do, no panic.
fn assert_clear_failure(output: &Output, expected: &[&str]) {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "want exactly one error line, got: {stderr}"
    );
    for fragment in expected {
        assert!(
            errors[0].contains(fragment),
            "{:?} lacks {fragment:?}",
            errors[0]
        );
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
        "{stderr}"
    );
}

#[test]
fn unsupported_database_scheme_is_refused_without_leaking_the_password() {
    let cwd = tempfile::tempdir().unwrap();
    let output = migrate(cwd.path(), "mysql://root:hunter2@db/flakewatch");
    assert_clear_failure(&output, &["scheme `mysql` is not supported", "postgres://"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"));
}

#[test]
fn unreachable_postgres_says_how_to_fix_it() {
    let cwd = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let output = migrate(cwd.path(), "postgres://postgres@127.0.0.1:1/flakewatch");
    assert_clear_failure(
        &output,
        &["cannot connect to PostgreSQL", "Is the server running"],
    );
}

#[test]
fn unusable_sqlite_path_names_the_file() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join("not-a-folder"), b"").unwrap();
    let output = migrate(cwd.path(), "not-a-folder/flakewatch.db");
    assert_clear_failure(&output, &["not-a-folder/flakewatch.db", "writable"]);
}

#[test]
fn port_in_use_is_one_clear_error() {
    let cwd = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = flakewatch(cwd.path())
        .args(["serve", "--bind", &addr])
        .output()
        .unwrap();
    assert_clear_failure(&output, &[&format!("cannot listen on {addr}"), "--bind"]);
}
