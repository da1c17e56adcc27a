//! `flakewatch upload` and `flakewatch tasks` as a CI job and an operator meet them: the
//! real binary against a real server on both backends.

mod common;

use flakewatch::store::tokens::Scope;

use std::path::Path;
use std::process::Command;

use common::{http, ServerOptions, TestDb, TestServer};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_flakewatch");

/// Two results, one of them failing.
const REPORT_A: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="cart" tests="2" failures="1">
    <testcase classname="cart.Checkout" name="adds_item" time="0.012"/>
    <testcase classname="cart.Checkout" name="applies_coupon" time="0.030">
      <failure message="expected 90, got 100">assertion failed</failure>
    </testcase>
  </testsuite>
</testsuites>
"#;

/// Three passing results.
const REPORT_B: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="login" tests="3">
  <testcase classname="auth.Login" name="ok" time="0.001"/>
  <testcase classname="auth.Login" name="wrong_password" time="0.002"/>
  <testcase classname="auth.Login" name="locked_out" time="0.003"/>
</testsuite>
"#;

/// Ends in the middle of an element: the parser must fail and say where.
const BROKEN_REPORT: &str = "<testsuite name=\"s\">\n  <testcase name=\"a\">\n    <failure";

/// The binary with an empty environment: no FLAKEWATCH_* and no CI variables from the
/// machine running the tests, so CI detection finds nothing unless a test sets it.
fn flakewatch(cwd: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(cwd).env_clear();
    command
}

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the command to its end. (Not `run`: `storage_test!` defines its own.)
fn exec(command: &mut Command) -> Ran {
    let output = command.output().expect("run flakewatch");
    let ran = Ran {
        code: output.status.code().expect("flakewatch exited by a signal"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !ran.stderr.contains("panicked"),
        "flakewatch panicked: {}",
        ran.stderr
    );
    ran
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `upload` with the usual metadata against `server`, from `cwd`.
fn upload(cwd: &Path, server: &str, token: &str, extra: &[&str]) -> Command {
    let mut command = flakewatch(cwd);
    command
        .args(["upload", "--server", server, "--token", token])
        .args([
            "--project",
            "shop",
            "--branch",
            "main",
            "--commit",
            "0123abcd",
        ])
        .args(["--job", "unit"])
        .args(extra);
    command
}

fn tasks(cwd: &Path, server: &str, extra: &[&str]) -> Command {
    let mut command = flakewatch(cwd);
    command.args(["tasks", "--server", server]).args(extra);
    command
}

/// Whether `text` holds `:LINE:COLUMN`, as a parser error names its place.
fn names_line_and_column(text: &str) -> bool {
    text.split(':')
        .collect::<Vec<_>>()
        .windows(3)
        .any(|w| is_number(w[1]) && w[2].chars().next().is_some_and(|c| c.is_ascii_digit()))
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

// ---- Without a server: input and connection errors ----------------------------------------

/// Nothing listens on port 1 of loopback: connections are refused at once.
const NO_SERVER: &str = "http://127.0.0.1:1";

#[test]
fn nothing_matched_is_an_error_naming_the_patterns() {
    let cwd = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("empty")).unwrap();
    let ran = exec(&mut upload(
        cwd.path(),
        NO_SERVER,
        "t",
        &["empty", "reports/*.xml"],
    ));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("no report found"), "{ran:?}");
    assert!(ran.stderr.contains("`empty`"), "{ran:?}");
    assert!(ran.stderr.contains("`reports/*.xml`"), "{ran:?}");
    assert!(ran.stdout.is_empty(), "{ran:?}");
}

#[test]
fn a_missing_file_is_named() {
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "a.xml", REPORT_A);
    let ran = exec(&mut upload(cwd.path(), NO_SERVER, "t", &["a.xml", "b.xml"]));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("`b.xml` does not exist"), "{ran:?}");
}

#[test]
fn branch_and_commit_come_from_flags_or_ci() {
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "a.xml", REPORT_A);
    let ran = exec(flakewatch(cwd.path()).args([
        "upload",
        "--server",
        NO_SERVER,
        "--token",
        "t",
        "--project",
        "shop",
        "a.xml",
    ]));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr.contains("no branch to report: pass --branch"),
        "{ran:?}"
    );

    // Inside GitHub Actions the variables are enough: the upload gets as far as the network.
    let ran = exec(
        flakewatch(cwd.path())
            .args(["upload", "--tries", "1", "a.xml"])
            .env("FLAKEWATCH_SERVER", NO_SERVER)
            .env("FLAKEWATCH_TOKEN", "t")
            .env("FLAKEWATCH_PROJECT", "shop")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REF_NAME", "main")
            .env("GITHUB_SHA", "0123abcd"),
    );
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(
        ran.stderr.contains("cannot reach the flakewatch server"),
        "{ran:?}"
    );
}

#[test]
fn an_unreachable_server_is_one_clear_error() {
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "a.xml", REPORT_A);
    let ran = exec(&mut upload(
        cwd.path(),
        NO_SERVER,
        "t",
        &["--tries", "1", "a.xml"],
    ));
    assert_eq!(ran.code, 1, "{ran:?}");
    let errors: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{ran:?}");
    assert!(
        errors[0].contains("cannot reach the flakewatch server at http://127.0.0.1:1"),
        "{ran:?}"
    );
}

#[test]
fn usage_errors_exit_with_1_not_the_failed_code() {
    let cwd = tempfile::tempdir().unwrap();
    let ran = exec(flakewatch(cwd.path()).args(["upload", "--no-such-flag"]));
    assert_eq!(ran.code, 1, "{ran:?}");
    let ran = exec(&mut tasks(cwd.path(), NO_SERVER, &["--cancel"]));
    assert_eq!(ran.code, 1, "--cancel needs --task: {ran:?}");
    let ran = exec(flakewatch(cwd.path()).args(["upload", "--help"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("FLAKEWATCH_TOKEN"), "{ran:?}");
    // A missing flag is named with the variable that may stand in for it.
    let ran = exec(flakewatch(cwd.path()).args(["upload", "a.xml"]));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("--server <SERVER>"), "{ran:?}");
    assert!(
        ran.stderr
            .contains("hint: --server can also be set with FLAKEWATCH_SERVER"),
        "{ran:?}"
    );
    assert!(
        ran.stderr
            .contains("hint: --project can also be set with FLAKEWATCH_PROJECT"),
        "{ran:?}"
    );
}

// ---- Against the server ---------------------------------------------------------------------

fn create_token(db: &TestDb, project: &str, scope: Scope) -> String {
    use flakewatch::store::tokens;
    let mut conn = db.connect();
    let now = chrono::Utc::now().naive_utc();
    tokens::create(&mut conn, project, scope, "upload_cli test", now)
        .expect("create an API token")
        .1
}

/// The server's own JSON for a task, read by its token.
fn task_json(server: &TestServer, token: &str) -> Value {
    let mut response = http()
        .get(server.url(&format!("/api/v1/tasks/{token}")))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    response.body_mut().read_json().unwrap()
}

storage_test!(
fn one_report_is_uploaded_and_awaited(db) {
    let server = TestServer::start(&db);
    let token = create_token(&db, "shop", Scope::Upload);
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "target/TEST-cart.xml", REPORT_A);

    let ran = exec(&mut upload(cwd.path(), &server.base_url, &token, &["target/TEST-cart.xml"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    let summary: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(summary.len(), 1, "one summary line: {ran:?}");
    assert!(summary[0].starts_with("completed: 2 test results stored (2 seen)"), "{ran:?}");
    assert!(summary[0].contains("project shop, branch main, commit 0123abcd, job unit"), "{ran:?}");
    assert!(ran.stderr.contains("sending 1 report file"), "{ran:?}");
});

storage_test!(
fn several_reports_go_as_one_bundle(db) {
    let server = TestServer::start(&db);
    let token = create_token(&db, "shop", Scope::Upload);
    let admin = create_token(&db, "shop", Scope::Admin);
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "reports/unit/TEST-cart.xml", REPORT_A);
    write(cwd.path(), "reports/integration/TEST-login.xml", REPORT_B);
    write(cwd.path(), "reports/notes.txt", "not a report");

    let ran = exec(&mut upload(cwd.path(), &server.base_url, &token, &["reports"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stderr.contains("sending 2 report files as one bundle"), "{ran:?}");
    assert!(ran.stdout.starts_with("completed: 5 test results stored (5 seen)"), "{ran:?}");

    let listed = exec(&mut tasks(cwd.path(), &server.base_url,
        &["--token", &admin, "--project", "shop", "--format", "json"]));
    assert_eq!(listed.code, 0, "{listed:?}");
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 1, "one task for the bundle: {listed}");
});

storage_test!(
fn detach_prints_the_token_and_a_repeat_gets_the_same_task(db) {
    let server = TestServer::start(&db);
    let token = create_token(&db, "shop", Scope::Upload);
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "a.xml", REPORT_A);
    write(cwd.path(), "b.xml", REPORT_B);

    let detach = ["--detach", "a.xml", "b.xml"];
    let first = exec(&mut upload(cwd.path(), &server.base_url, &token, &detach));
    assert_eq!(first.code, 0, "{first:?}");
    let task = first.stdout.trim().to_owned();
    assert_eq!(first.stdout, format!("{task}\n"), "the token alone on a line: {first:?}");
    assert!(!task.is_empty() && !task.contains(' '), "{first:?}");

    // The same files and metadata again (a CI retry of the step): the bundle's bytes are
    // the same, so the server recognises the upload.
    let detach = ["--detach", "b.xml", "a.xml"];
    let again = exec(&mut upload(cwd.path(), &server.base_url, &token, &detach));
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.stdout.trim(), task, "{again:?}");
    assert!(again.stderr.contains("already has this upload"), "{again:?}");

    let awaited = exec(&mut tasks(cwd.path(), &server.base_url, &["--task", &task, "--await"]));
    assert_eq!(awaited.code, 0, "{awaited:?}");
    assert!(awaited.stdout.lines().next().unwrap().starts_with("ID"), "{awaited:?}");
    assert!(awaited.stdout.contains("completed"), "{awaited:?}");
    assert_eq!(task_json(&server, &task)["status"], "completed");
});

storage_test!(
fn a_report_that_does_not_parse_fails_with_its_place(db) {
    let server = TestServer::start(&db);
    let token = create_token(&db, "shop", Scope::Upload);
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "broken.xml", BROKEN_REPORT);

    let ran = exec(&mut upload(cwd.path(), &server.base_url, &token, &["broken.xml"]));
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stdout.starts_with("failed for project shop"), "{ran:?}");
    let error = ran.stderr.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    assert!(names_line_and_column(error), "{ran:?}");

    // In a bundle, the message names the member that broke.
    write(cwd.path(), "good.xml", REPORT_B);
    let ran = exec(&mut upload(cwd.path(), &server.base_url, &token, &["good.xml", "broken.xml"]));
    assert_eq!(ran.code, 2, "{ran:?}");
    let error = ran.stderr.lines().find(|l| l.starts_with("error: ")).expect("an error line");
    assert!(error.contains("broken.xml:"), "{ran:?}");
    assert!(names_line_and_column(error), "{ran:?}");
});

storage_test!(
fn a_bad_token_shows_the_servers_message(db) {
    let server = TestServer::start(&db);
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "a.xml", REPORT_A);

    let mut refused = http()
        .post(server.url("/api/v1/uploads?project=shop&branch=main&commit=0123abcd"))
        .header("Authorization", "Bearer fw_upload_no_such_token")
        .header("Content-Type", "application/xml")
        .send(REPORT_A)
        .unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.body_mut().read_json().unwrap();
    let message = body["error"]["message"].as_str().unwrap().to_owned();

    let bad = "fw_upload_no_such_token";
    let ran = exec(&mut upload(cwd.path(), &server.base_url, bad, &["a.xml"]));
    assert_eq!(ran.code, 1, "{ran:?}");
    let errors: Vec<&str> = ran.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{ran:?}");
    assert!(errors[0].contains(&message), "want the server's {message:?}: {ran:?}");
    assert!(errors[0].contains("HTTP 401"), "{ran:?}");
    assert!(ran.stderr.matches("trying again").count() == 0, "a 401 is not retried: {ran:?}");
});

storage_test!(
fn tasks_exit_codes_tell_the_status(db) {
    let server = TestServer::start(&db);
    let token = create_token(&db, "shop", Scope::Upload);
    let admin = create_token(&db, "shop", Scope::Admin);
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "good.xml", REPORT_A);
    write(cwd.path(), "broken.xml", BROKEN_REPORT);
    let detach = |file: &str| {
        let ran = exec(&mut upload(cwd.path(), &server.base_url, &token, &["--detach", file]));
        assert_eq!(ran.code, 0, "{ran:?}");
        ran.stdout.trim().to_owned()
    };

    let good = detach("good.xml");
    let args = ["--task", &good, "--await", "--format", "json"];
    let ran = exec(&mut tasks(cwd.path(), &server.base_url, &args));
    assert_eq!(ran.code, 0, "{ran:?}");
    let shown: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(shown["status"], "completed");
    assert_eq!(shown["upload"]["branch"], "main");

    let broken = detach("broken.xml");
    let ran = exec(&mut tasks(cwd.path(), &server.base_url, &["--task", &broken, "--await"]));
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(ran.stdout.contains("failed"), "{ran:?}");

    // A cancelled task exits 4. The same database served without store workers keeps the
    // task enqueued, so the cancel never races a worker.
    server.shut_down();
    let server = TestServer::start_with(&db, ServerOptions { workers: 0, ..ServerOptions::default() });
    write(cwd.path(), "other.xml", REPORT_B);
    let ran = exec(&mut upload(cwd.path(), &server.base_url, &token, &["--detach", "other.xml"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    let other = ran.stdout.trim().to_owned();
    let ran = exec(&mut tasks(cwd.path(), &server.base_url,
        &["--token", &admin, "--task", &other, "--cancel", "--await", "--format", "json"]));
    let shown: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(shown["status"], "cancelled", "{ran:?}");
    assert_eq!(ran.code, 4, "{ran:?}");

    // Cancelling needs an admin token.
    let ran = exec(&mut tasks(cwd.path(), &server.base_url,
        &["--token", &token, "--task", &good, "--cancel"]));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("HTTP 403"), "{ran:?}");

    // An unknown token is an error, not a status.
    let ran = exec(&mut tasks(cwd.path(), &server.base_url, &["--task", "fw_no_such_task"]));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("HTTP 404"), "{ran:?}");

    // Several tasks: a table row each.
    let ran = exec(&mut tasks(cwd.path(), &server.base_url, &["--task", &good, "--task", &broken]));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.stdout.lines().count(), 3, "{ran:?}");
});

// ---- Names, tokens and messages --------------------------------------------------------------

/// The task token `upload` announced on stderr.
fn announced_token(ran: &Ran) -> String {
    let line = ran
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("flakewatch: accepted as task "))
        .unwrap_or_else(|| panic!("no task token announced: {ran:?}"));
    let token = line.split_whitespace().next().unwrap().to_owned();
    assert!(token.starts_with("fwt_"), "{ran:?}");
    token
}

/// The id at the end of the summary line: `...; task fwt_... (id 7), run 3`.
fn summary_id(ran: &Ran) -> String {
    let after = ran
        .stdout
        .split("(id ")
        .nth(1)
        .unwrap_or_else(|| panic!("no id: {ran:?}"));
    after.split(')').next().unwrap().to_owned()
}

storage_test!(
fn upload_names_its_task_and_tasks_finds_it_by_token_or_id(db) {
    let server = TestServer::start(&db);
    let token = create_token(&db, "shop", Scope::Upload);
    let admin = create_token(&db, "shop", Scope::Admin);
    let other_admin = create_token(&db, "payments", Scope::Admin);
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "a.xml", REPORT_A);

    let ran = exec(&mut upload(cwd.path(), &server.base_url, &token, &["a.xml"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    let task = announced_token(&ran);
    let id = summary_id(&ran);
    assert!(ran.stdout.contains(&format!("; task {task} (id {id})")), "{ran:?}");

    // By token: no API token needed, and the table shows the token.
    let shown = exec(&mut tasks(cwd.path(), &server.base_url, &["--task", &task]));
    assert_eq!(shown.code, 0, "{shown:?}");
    assert!(shown.stdout.lines().next().unwrap().contains("TOKEN"), "{shown:?}");
    assert!(shown.stdout.contains(&task), "{shown:?}");

    // By id: the CLI asks for an admin token before sending anything.
    let shown = exec(&mut tasks(cwd.path(), &server.base_url, &["--task", &id]));
    assert_eq!(shown.code, 1, "{shown:?}");
    for words in ["task id", "--token", "FLAKEWATCH_TOKEN", "admin"] {
        assert!(shown.stderr.contains(words), "{words}: {shown:?}");
    }
    let shown = exec(&mut tasks(cwd.path(), &server.base_url, &["--token", &token, "--task", &id]));
    assert_eq!(shown.code, 1, "{shown:?}");
    assert!(
        shown.stderr.contains("this is an upload token; this call needs an admin token"),
        "{shown:?}"
    );
    let shown = exec(&mut tasks(cwd.path(), &server.base_url,
        &["--token", &admin, "--task", &id, "--format", "json"]));
    assert_eq!(shown.code, 0, "{shown:?}");
    let json: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(json["token"], task.as_str(), "{json}");
    assert_eq!(json["status"], "completed", "{json}");
    // Another project's admin does not learn that the task exists.
    let shown = exec(&mut tasks(cwd.path(), &server.base_url, &["--token", &other_admin, "--task", &id]));
    assert_eq!(shown.code, 1, "{shown:?}");
    assert!(shown.stderr.contains("HTTP 404"), "{shown:?}");

    // Lists show each task's token to its admins.
    let listed = exec(&mut tasks(cwd.path(), &server.base_url, &["--token", &admin]));
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(listed.stdout.lines().nth(1).unwrap().contains(&task), "{listed:?}");
});

storage_test!(
fn cancelling_an_ended_task_says_so_and_fails(db) {
    let server = TestServer::start(&db);
    let token = create_token(&db, "shop", Scope::Upload);
    let admin = create_token(&db, "shop", Scope::Admin);
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "a.xml", REPORT_A);
    let ran = exec(&mut upload(cwd.path(), &server.base_url, &token, &["a.xml"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    let (task, id) = (announced_token(&ran), summary_id(&ran));

    for name in [&task, &id] {
        let ran = exec(&mut tasks(cwd.path(), &server.base_url,
            &["--token", &admin, "--task", name, "--cancel"]));
        assert_eq!(ran.code, 1, "{ran:?}");
        assert!(
            ran.stderr.contains(&format!("task {id} already ended (completed); there is nothing to cancel")),
            "{ran:?}"
        );
    }
    assert_eq!(task_json(&server, &task)["status"], "completed");

    // Without a token the CLI says which flag to set, before asking the server.
    let ran = exec(&mut tasks(cwd.path(), &server.base_url, &["--task", &task, "--cancel"]));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("cancelling a task needs an API token with the admin scope: pass --token or set FLAKEWATCH_TOKEN"), "{ran:?}");
});

storage_test!(
fn the_task_list_pages_on_with_a_cursor(db) {
    let server = TestServer::start(&db);
    let token = create_token(&db, "shop", Scope::Upload);
    let admin = create_token(&db, "shop", Scope::Admin);
    let cwd = tempfile::tempdir().unwrap();
    let mut uploaded = Vec::new();
    for (file, report) in [("a.xml", REPORT_A), ("b.xml", REPORT_B), ("c.xml", BROKEN_REPORT)] {
        write(cwd.path(), file, report);
        let ran = exec(&mut upload(cwd.path(), &server.base_url, &token, &["--detach", file]));
        assert_eq!(ran.code, 0, "{ran:?}");
        uploaded.push(ran.stdout.trim().to_owned());
    }
    // On SQLite a detached upload reaches the task list from the spool a moment after its
    // answer (spooled uploads are not listed yet).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while common::api::count(&db, "store_tasks WHERE kind = 'store'") < 3 {
        assert!(std::time::Instant::now() < deadline, "the uploads never reached the queue");
    }

    let first = exec(&mut tasks(cwd.path(), &server.base_url, &["--token", &admin, "--limit", "2"]));
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(first.stdout.lines().count(), 3, "a header and two tasks: {first:?}");
    let cursor = first
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("flakewatch: more tasks match; the next page: --cursor "))
        .unwrap_or_else(|| panic!("no cursor: {first:?}"))
        .to_owned();
    let second = exec(&mut tasks(cwd.path(), &server.base_url,
        &["--token", &admin, "--limit", "2", "--cursor", &cursor]));
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(second.stdout.lines().count(), 2, "a header and the last task: {second:?}");
    assert!(!second.stderr.contains("--cursor"), "no page after the last: {second:?}");
    // Newest first, each task once: the pages hold the three uploads in reverse order.
    let listed: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|ran| ran.stdout.lines().skip(1).map(|l| l.split_whitespace().nth(1).unwrap().to_owned()))
        .collect();
    let mut newest_first = uploaded.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    let json = exec(&mut tasks(cwd.path(), &server.base_url,
        &["--token", &admin, "--limit", "2", "--cursor", &cursor, "--format", "json"]));
    let json: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["next"], Value::Null, "{json}");
    let bad = exec(&mut tasks(cwd.path(), &server.base_url, &["--token", &admin, "--cursor", "yesterday"]));
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("field `cursor`"), "{bad:?}");
});

#[test]
fn without_a_token_the_cli_names_the_flag_and_the_variable() {
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "a.xml", REPORT_A);
    let runs = [
        (
            "flaky",
            vec!["flaky", "--server", NO_SERVER, "--project", "shop"],
            "read or admin",
        ),
        (
            "listing tasks",
            vec!["tasks", "--server", NO_SERVER],
            "admin",
        ),
        (
            "upload",
            vec![
                "upload",
                "--server",
                NO_SERVER,
                "--project",
                "shop",
                "--branch",
                "main",
                "--commit",
                "abc",
                "a.xml",
            ],
            "upload or admin",
        ),
    ];
    for (what, args, scope) in runs {
        let ran = exec(flakewatch(cwd.path()).args(&args));
        assert_eq!(ran.code, 1, "{ran:?}");
        let expected = format!("error: {what} needs an API token with the {scope} scope: pass --token or set FLAKEWATCH_TOKEN");
        assert!(ran.stderr.starts_with(&expected), "{ran:?}");
        assert!(
            !ran.stderr.contains("Authorization"),
            "no HTTP talk: {ran:?}"
        );
    }
    // Each command's help names the scope it needs.
    for (command, scope) in [
        ("flaky", "read or admin scope"),
        ("upload", "upload or admin scope"),
        ("tasks", "admin scope"),
    ] {
        let ran = exec(flakewatch(cwd.path()).args([command, "--help"]));
        assert_eq!(ran.code, 0, "{ran:?}");
        let help = ran.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            help.contains(&format!("API token of the project with the {scope}")),
            "{command}: {help}"
        );
    }
}

#[test]
fn a_server_address_must_be_a_web_address() {
    let cwd = tempfile::tempdir().unwrap();
    let ran = exec(&mut tasks(
        cwd.path(),
        "ftp://127.0.0.1:1",
        &["--task", "fwt_x"],
    ));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("use http:// or https://"), "{ran:?}");
}

storage_test!(
fn a_server_without_scheme_or_behind_a_path_prefix_is_reached(db) {
    let server = TestServer::start(&db);
    let token = create_token(&db, "shop", Scope::Upload);
    let admin = create_token(&db, "shop", Scope::Admin);
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "a.xml", REPORT_A);
    write(cwd.path(), "b.xml", REPORT_B);

    let bare = server.base_url.trim_start_matches("http://");
    let ran = exec(&mut upload(cwd.path(), bare, &token, &["a.xml"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stderr.contains(&format!("to {}", server.base_url)), "read as http://: {ran:?}");

    // Behind a proxy at /flakewatch: every client call goes below the prefix.
    let proxy = common::proxy::PrefixProxy::start(&server.base_url, "/flakewatch");
    let behind = format!("{}/", proxy.base_url);
    let ran = exec(&mut upload(cwd.path(), &behind, &token, &["b.xml"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.starts_with("completed: 3 test results stored"), "{ran:?}");
    let task = announced_token(&ran);
    let id = summary_id(&ran);
    let ran = exec(&mut tasks(cwd.path(), &behind, &["--task", &task, "--await"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    let ran = exec(&mut tasks(cwd.path(), &behind, &["--token", &admin, "--task", &id]));
    assert_eq!(ran.code, 0, "{ran:?}");
    let ran = exec(&mut tasks(cwd.path(), &behind, &["--token", &admin]));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(ran.stdout.lines().count(), 3, "{ran:?}");
    let ran = exec(flakewatch(cwd.path()).args([
        "flaky", "--server", &behind, "--token", &admin, "--project", "shop", "--status", "all",
    ]));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stdout.contains("auth.Login::ok"), "{ran:?}");
    let ran = exec(&mut tasks(cwd.path(), &behind, &["--token", &admin, "--task", &id, "--cancel"]));
    assert_eq!(ran.code, 1, "{ran:?}");
    assert!(ran.stderr.contains("already ended"), "{ran:?}");
    // The proxy serves nothing outside its prefix, so a call that lost it would fail.
    let outside = http().get(format!("{}/healthz", proxy.base_url.trim_end_matches("/flakewatch"))).call().unwrap();
    assert_eq!(outside.status(), 404);
});

/// A pytest report in which two tests appear three times each, not next to each other.
const REPEATS: &str = r#"<testsuites><testsuite name="pytest" tests="6">
  <testcase classname="t.Repeat" name="a"/><testcase classname="t.Repeat" name="b"/>
  <testcase classname="t.Repeat" name="a"/><testcase classname="t.Repeat" name="b"/>
  <testcase classname="t.Repeat" name="a"/><testcase classname="t.Repeat" name="b"/>
</testsuite></testsuites>"#;

storage_test!(
fn notes_are_not_warnings_and_repeated_warnings_are_counted(db) {
    let server = TestServer::start(&db);
    let token = create_token(&db, "shop", Scope::Upload);
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "repeats.xml", REPEATS);

    let ran = exec(&mut upload(cwd.path(), &server.base_url, &token, &["repeats.xml"]));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(ran.stderr.contains("flakewatch: repeats.xml: report written by pytest"), "{ran:?}");
    assert!(!ran.stderr.contains("warning: dialect_detected"), "{ran:?}");
    let repeats: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: duplicate_identity: "))
        .collect();
    assert_eq!(repeats.len(), 4, "three shown, the rest counted: {ran:?}");
    assert!(repeats[3].contains(" more of this kind"), "{ran:?}");
    // The count covers every repeat the server listed.
    let listed = task_json(&server, &announced_token(&ran))["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "duplicate_identity")
        .count();
    assert!(repeats[3].ends_with(&format!("and {} more of this kind", listed - 3)), "{ran:?}");
});

storage_test!(
fn without_a_job_nothing_empty_is_named_and_a_repeat_is_already_stored(db) {
    let server = TestServer::start(&db);
    let token = create_token(&db, "shop", Scope::Upload);
    let cwd = tempfile::tempdir().unwrap();
    write(cwd.path(), "a.xml", REPORT_A);
    let no_job = || {
        let mut command = flakewatch(cwd.path());
        command.args(["upload", "--server", &server.base_url, "--token", &token,
                      "--project", "shop", "--branch", "main", "--commit", "0123abcd", "a.xml"]);
        command
    };

    let first = exec(&mut no_job());
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.stdout.contains("branch main, commit 0123abcd; queued"), "{first:?}");
    assert!(!first.stdout.contains("job"), "{first:?}");

    let again = exec(&mut no_job());
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.starts_with("already stored: 2 test results (2 seen) for project shop"), "{again:?}");
    assert!(again.stderr.contains("already has this upload"), "{again:?}");
    assert!(again.stderr.contains("stored once, not again"), "{again:?}");
    assert_eq!(summary_id(&first), summary_id(&again));
});
