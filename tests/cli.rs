//! The `flakewatch` binary as an operator meets it: serve, migrate, and bad configuration.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::http;
use common::process::{flakewatch, Served, BINARY};
use flakewatch::db::Backend;

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

/// `migrate --create`: the way to start a new SQLite database on purpose.
fn migrate_creating(cwd: &Path, database_url: &str) -> Output {
    flakewatch(cwd)
        .args(["migrate", "--create", "--database-url", database_url])
        .output()
        .unwrap()
}

storage_test!(fn migrate_twice_is_a_no_op_the_second_time(db) {
    let cwd = tempfile::tempdir().unwrap();
    let first = migrate_creating(cwd.path(), &db.url);
    assert!(first.status.success(), "{first:?}");
    let second = migrate(cwd.path(), &db.url);
    assert!(second.status.success(), "{second:?}");
    let said = String::from_utf8(second.stdout).unwrap();
    assert!(said.contains("schema is up to date, nothing to apply"), "{said}");
    if db.backend == Backend::Sqlite {
        let said = String::from_utf8(first.stdout).unwrap();
        let count = std::fs::read_dir("migrations/sqlite").unwrap().count();
        assert!(said.contains(&format!("applied {count} migrations: ")), "{said}");
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
    let output = migrate_creating(cwd.path(), "not-a-folder/flakewatch.db");
    assert_clear_failure(&output, &["not-a-folder/flakewatch.db", "writable"]);
}

storage_test!(fn port_in_use_is_one_clear_error(db) {
    let cwd = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = flakewatch(cwd.path())
        .args(["serve", "--bind", &addr, "--database-url", &db.url])
        .output()
        .unwrap();
    assert_clear_failure(&output, &[&format!("cannot listen on {addr}"), "--bind"]);
    // The port is checked first: no database is opened (or, on SQLite, created) and no
    // store worker starts and stops again (the logs are at `info` here, so they would say).
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("database ready"), "{stderr}");
    assert!(!stderr.contains("store workers"), "{stderr}");
    if db.backend == Backend::Sqlite {
        assert!(!Path::new(&db.url).exists(), "{stderr}");
    }
});

/// A command that works on the database, run from `cwd` with a clean environment and no
/// `RUST_LOG`, so its default log level shows.
fn database_command(cwd: &Path, db: &common::TestDb, args: &[&str]) -> Output {
    let mut command = flakewatch(cwd);
    command.env_remove("RUST_LOG").args(args);
    if db.backend == Backend::Postgres {
        command.env("DATABASE_URL", &db.url);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

storage_test!(fn database_commands_create_no_database_unasked_and_name_theirs(db) {
    let cwd = tempfile::tempdir().unwrap();
    let here = cwd.path().canonicalize().unwrap().join("flakewatch.db");
    let named = match db.backend {
        Backend::Sqlite => format!("flakewatch: database: sqlite file {}", here.display()),
        Backend::Postgres => format!("flakewatch: database: {}", flakewatch::db::redact(&db.url)),
    };
    let create = ["token", "create", "--project", "demo", "--scope", "upload"];

    if db.backend == Backend::Sqlite {
        // From a folder without a database: no new file, and a message that says which
        // file was looked for and how to make one.
        for args in [&create[..], &["token", "list"], &["rescore", "--project", "demo"], &["migrate"]] {
            let output = database_command(cwd.path(), &db, args);
            assert_clear_failure(&output, &[
                &format!("there is no SQLite database at {}", here.display()),
                "--database-url",
                "DATABASE_URL",
                "--create",
            ]);
            assert!(!here.exists(), "{args:?} created {}", here.display());
        }
        // --create, also after the subcommand, makes it and says it is new.
        let mut with_create = create.to_vec();
        with_create.push("--create");
        let output = database_command(cwd.path(), &db, &with_create);
        assert!(output.status.success(), "{output:?}");
        assert!(text(&output.stderr).contains(&format!("{named} (new)")), "{output:?}");
        assert!(here.is_file());
    } else {
        let output = database_command(cwd.path(), &db, &create);
        assert!(output.status.success(), "{output:?}");
    }

    // Each names its database on stderr, keeps stdout for its answer, and logs nothing
    // below a warning by default.
    for args in [&create[..], &["token", "list"], &["rescore", "--project", "demo"], &["migrate"]] {
        let output = database_command(cwd.path(), &db, args);
        assert!(output.status.success(), "{args:?}: {output:?}");
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        assert!(stderr.lines().any(|l| l == named), "{args:?} should name {named:?}: {stderr}");
        assert!(!stdout.contains("flakewatch: database"), "{stdout}");
        assert!(!stderr.contains(" INFO "), "{args:?} logs information: {stderr}");
    }
    let output = database_command(cwd.path(), &db, &["rescore", "--project", "demo"]);
    assert!(text(&output.stdout).starts_with("rescored demo: 0 runs, 0 results, 0 tests"), "{output:?}");

    // They exit cleanly every time: a PostgreSQL connection still being made in the pool's
    // background when the process exited used to crash one run in five.
    for _ in 0..15 {
        let output = database_command(cwd.path(), &db, &["token", "list"]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }
});

// ---- The README's quick start ------------------------------------------------------------

/// The commands, links and sample output of the README's "Quick start" section.
struct QuickStart {
    commands: Vec<String>,
    links: Vec<String>,
    samples: Vec<String>,
}

impl QuickStart {
    fn read() -> QuickStart {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .expect("read README.md");
        let start = readme
            .find("\n## Quick start\n")
            .expect("README has a Quick start section");
        let section = &readme[start + 1..];
        let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
        let mut quick = QuickStart {
            commands: Vec::new(),
            links: Vec::new(),
            samples: Vec::new(),
        };
        let mut block: Option<&str> = None;
        for line in section[..end].lines() {
            let trimmed = line.trim();
            if let Some(language) = trimmed.strip_prefix("```") {
                block = match block {
                    Some(_) => None,
                    None => Some(language),
                };
                continue;
            }
            match block {
                Some("sh") if !trimmed.is_empty() && !trimmed.starts_with('#') => {
                    quick.commands.push(trimmed.to_owned());
                }
                Some("text") if !trimmed.is_empty() => quick.samples.push(trimmed.to_owned()),
                Some(_) => {}
                None => {
                    for piece in line.split('<').skip(1) {
                        let link = piece.split('>').next().unwrap_or_default();
                        if link.starts_with("http://127.0.0.1:8080") {
                            quick.links.push(link.to_owned());
                        }
                    }
                }
            }
        }
        quick
    }
}

/// Copies the folder `from` into `to`, as a clone of the repository would hold it.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// What one command of the quick start printed.
struct Step {
    command: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

const STEP_MARK: &str = "@@quick-start-step";
const EXIT_MARK: &str = "@@quick-start-exit";

/// Runs `commands` one after the other in one shell (so `export` carries over, as in a
/// terminal) and splits what they printed by command.
fn run_in_one_shell(cwd: &Path, env: &[(&str, String)], commands: &[String]) -> Vec<Step> {
    let mut script = String::new();
    for (index, command) in commands.iter().enumerate() {
        script.push_str(&format!(
            "printf '\\n{STEP_MARK} {index}\\n'; printf '\\n{STEP_MARK} {index}\\n' >&2\n{command}\necho \"{EXIT_MARK} $?\"\n"
        ));
    }
    let script_path = cwd.join("quick-start.sh");
    std::fs::write(&script_path, script).unwrap();
    let mut shell = Command::new("bash");
    shell.arg(&script_path).current_dir(cwd).env_clear();
    for (key, value) in env {
        shell.env(key, value);
    }
    let output = shell.output().expect("run bash");
    let split = |text: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(text)
            .split(STEP_MARK)
            .skip(1)
            .map(|chunk| {
                chunk
                    .split_once('\n')
                    .map_or("", |(_, rest)| rest)
                    .to_owned()
            })
            .collect()
    };
    let (outs, errs) = (split(&output.stdout), split(&output.stderr));
    assert_eq!(outs.len(), commands.len(), "{output:?}");
    commands
        .iter()
        .zip(outs.into_iter().zip(errs))
        .map(|(command, (out, err))| {
            let (stdout, code) = out
                .rsplit_once(EXIT_MARK)
                .expect("each step ends with its exit code");
            Step {
                command: command.clone(),
                code: code.trim().parse().unwrap(),
                stdout: stdout.trim_end_matches('\n').to_owned() + "\n",
                stderr: err,
            }
        })
        .collect()
}

storage_test!(fn readme_quick_start(db) {
    let quick = QuickStart::read();
    // The shape the checks below expect; a README edit that changes it must change them.
    let expected = [
        "flakewatch serve",
        "export FLAKEWATCH_SERVER=http://127.0.0.1:8080",
        "export FLAKEWATCH_TOKEN=$(flakewatch token create --project demo --scope admin)",
        "flakewatch upload --project demo --branch main --commit 4f2c9e1 --job unit tests/fixtures/quick-start/run-1",
        "flakewatch upload --project demo --branch main --commit 4f2c9e1 --job unit --attempt 2 tests/fixtures/quick-start/run-2",
        "flakewatch flaky --project demo",
        "flakewatch tasks",
    ];
    assert_eq!(quick.commands, expected, "the README's quick start changed; update this test with it");
    assert_eq!(quick.links, ["http://127.0.0.1:8080", "http://127.0.0.1:8080/projects/demo"]);

    // A fresh folder holding what a clone has, and the built binary on PATH.
    let cwd = tempfile::tempdir().unwrap();
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"), &cwd.path().join("tests/fixtures"));
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(BINARY, bin.path().join("flakewatch")).unwrap();
    let mut env = vec![
        ("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin", bin.path().display())),
        ("HOME", cwd.path().display().to_string()),
    ];
    if db.backend == Backend::Postgres {
        env.push(("DATABASE_URL", db.url.clone()));
    }

    // `flakewatch serve`, as written, on a free port instead of 8080 (which another
    // program may hold), with no RUST_LOG: it says where it listens.
    let mut serve = Command::new(bin.path().join("flakewatch"));
    serve.args(quick.commands[0].split_whitespace().skip(1)).current_dir(cwd.path()).env_clear();
    for (key, value) in &env {
        serve.env(key, value);
    }
    serve.env("FLAKEWATCH_BIND", "127.0.0.1:0");
    let served = Served::start(serve);
    let address = served.base_url.trim_start_matches("http://").to_owned();
    let local = |text: &str| text.replace("127.0.0.1:8080", &address);

    let commands: Vec<String> = quick.commands[1..].iter().map(|c| local(c)).collect();
    let steps = run_in_one_shell(cwd.path(), &env, &commands);
    for step in &steps {
        assert_eq!(step.code, 0, "{step:?}");
        assert!(!step.stderr.contains("warning:") && !step.stderr.contains(" INFO "), "{step:?}");
    }

    let [server, token, first, second, flaky, tasks] = &steps[..] else { unreachable!() };
    assert_eq!((server.stdout.trim(), server.stderr.trim()), ("", ""), "{server:?}");

    let database = match db.backend {
        Backend::Sqlite => format!("sqlite file {}", cwd.path().canonicalize().unwrap().join("flakewatch.db").display()),
        Backend::Postgres => flakewatch::db::redact(&db.url),
    };
    assert!(token.stderr.contains(&format!("flakewatch: database: {database}\n")), "{token:?}");
    assert!(token.stderr.contains("created admin token 1 for project demo"), "{token:?}");

    let sample = &quick.samples[0];
    let sample_head = &sample[..sample.find("; queued").expect("the sample shows queue time")];
    for (upload, run) in [(first, 1), (second, 2)] {
        assert_eq!(upload.stdout.lines().count(), 1, "{upload:?}");
        assert!(upload.stdout.starts_with(&format!("{sample_head}; queued ")), "as the README shows: {upload:?}");
        // Task ids count every job of the queue (scoring too), so only runs count uploads.
        assert!(upload.stdout.ends_with(&format!("), run {run}\n")), "{upload:?}");
        let task = upload.stderr.split("accepted as task ").nth(1).and_then(|t| t.split_whitespace().next());
        let task = task.unwrap_or_else(|| panic!("no task token: {upload:?}"));
        let id = upload.stdout.split("(id ").nth(1).and_then(|t| t.split(')').next());
        let id = id.unwrap_or_else(|| panic!("no task id: {upload:?}"));
        assert!(id.parse::<i64>().is_ok(), "{upload:?}");
        assert!(upload.stdout.contains(&format!("; task {task} (id {id})")), "{upload:?}");
        assert!(upload.stderr.contains("flakewatch: 2 report files stored as one run"), "{upload:?}");
        assert!(upload.stderr.contains("report written by pytest"), "{upload:?}");
    }

    // The pages the README sends the reader to.
    for link in &quick.links {
        let mut page = http().get(local(link)).call().unwrap();
        assert_eq!(page.status(), 200, "{link}");
        let html = page.body_mut().read_to_string().unwrap();
        if link.ends_with("/projects/demo") {
            assert!(html.contains("tests.test_cart::<wbr>test_apply_coupon"), "{html}");
        }
    }

    assert_eq!(flaky.stdout, "tests.test_cart::test_apply_coupon\n", "{flaky:?}");
    let rows: Vec<&str> = tasks.stdout.lines().collect();
    assert_eq!(rows.len(), 3, "a header and the two uploads: {tasks:?}");
    assert!(rows[1..].iter().all(|r| r.contains("fwt_") && r.contains("completed")), "{tasks:?}");
    assert!(served.terminate().success());
});

storage_test!(fn backup_while_serving_then_restore_round_trip(db) {
    use common::api::{await_task, count, get_json, token, upload_ok};
    use flakewatch::store::tokens::Scope;

    let server = common::TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let read_token = token(&db, "shop", Scope::Read);
    let report = common::reports::junit("t", 3, 1);
    let first = upload_ok(&server, &upload_token, "branch=main&commit=a", report.as_bytes());
    assert_eq!(await_task(&server, &first)["status"], "completed");

    let cwd = tempfile::tempdir().unwrap();
    let file = cwd.path().join("flakewatch.backup");
    let file_arg = file.to_str().unwrap();
    let run = |args: &[&str], url: &str| {
        flakewatch(cwd.path()).args(args).args(["--database-url", url]).output().unwrap()
    };
    // Taken while the server runs; what is uploaded after it is not in it.
    let backup = run(&["backup", file_arg], &db.url);
    assert!(backup.status.success(), "{backup:?}");
    assert!(text(&backup.stdout).contains("backed up"), "{backup:?}");
    let second = upload_ok(&server, &upload_token, "branch=main&commit=b", report.as_bytes());
    assert_eq!(await_task(&server, &second)["status"], "completed");
    assert_clear_failure(&run(&["backup", file_arg], &db.url), &["exists already"]);

    // A database that exists is only overwritten when asked.
    let restored = match db.backend {
        Backend::Sqlite => common::TestDb::sqlite(),
        Backend::Postgres => common::TestDb::postgres().unwrap(),
    };
    drop(restored.open());
    let refused = run(&["restore", file_arg], &restored.url);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(text(&refused.stderr).contains(match db.backend {
        Backend::Sqlite => "pass --replace",
        Backend::Postgres => "pg_restore failed",
    }), "{refused:?}");
    let restore = run(&["restore", file_arg, "--replace"], &restored.url);
    assert!(restore.status.success(), "{restore:?}");

    assert_eq!(count(&restored, "runs"), 1);
    assert_eq!(count(&restored, "results"), 4);
    let server = common::TestServer::start(&restored);
    let (status, tests) = get_json(&server, &read_token, "/api/v1/projects/shop/tests?status=all");
    assert_eq!(status, 200, "{tests}");
    assert_eq!(tests["tests"].as_array().unwrap().len(), 4, "{tests}");
});

/// SQLite: uploads accepted while the database's write lock was held wait in the spool
/// beside it; a backup taken then keeps them, and a restored server stores them.
#[test]
fn a_sqlite_backup_keeps_the_uploads_still_spooled() {
    use common::api::{await_task, count, task, token, upload_ok};
    use diesel::connection::SimpleConnection;
    use flakewatch::store::tokens::Scope;

    let db = common::TestDb::sqlite();
    let server = common::TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    // Holding the write lock, as a long store does: the upload stays in the spool.
    let mut lock = db.connect();
    lock.batch_execute("BEGIN IMMEDIATE").unwrap();
    let report = common::reports::junit("t", 3, 1);
    let spooled = upload_ok(
        &server,
        &upload_token,
        "branch=main&commit=a",
        report.as_bytes(),
    );
    let waiting = task(&server, &spooled);
    assert_eq!(
        (waiting["status"].as_str(), waiting["id"].as_i64()),
        (Some("enqueued"), Some(0)),
        "{waiting}"
    );
    let metrics = http()
        .get(server.url("/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("flakewatch_uploads_spooled 1\n"),
        "{metrics}"
    );

    let cwd = tempfile::tempdir().unwrap();
    let file = cwd.path().join("flakewatch.backup");
    let file_arg = file.to_str().unwrap();
    let run = |args: &[&str], url: &str| {
        flakewatch(cwd.path())
            .args(args)
            .args(["--database-url", url])
            .output()
            .unwrap()
    };
    let backup = run(&["backup", file_arg], &db.url);
    assert!(backup.status.success(), "{backup:?}");
    assert!(
        text(&backup.stdout).contains("backed up the upload spool to"),
        "{backup:?}"
    );
    assert!(cwd.path().join("flakewatch.backup.spool").is_file());
    lock.batch_execute("COMMIT").unwrap();
    assert_eq!(await_task(&server, &spooled)["status"], "completed");
    server.shut_down();

    // Restored, the upload is in the spool again, and the server stores it.
    let restored = common::TestDb::sqlite();
    let restore = run(&["restore", file_arg], &restored.url);
    assert!(restore.status.success(), "{restore:?}");
    assert_eq!(count(&restored, "uploads"), 0);
    let server = common::TestServer::start(&restored);
    let done = await_task(&server, &spooled);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        (count(&restored, "runs"), count(&restored, "results")),
        (1, 4)
    );
}

// ---- serve --demo --------------------------------------------------------------------------

/// The command of the README's "See it first" section.
fn readme_demo_command() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let section = readme
        .split("\n## See it first: demo data\n")
        .nth(1)
        .expect("README has a demo section");
    let block = section.split("```sh\n").nth(1).expect("with a command");
    block.lines().next().unwrap().trim().to_owned()
}

impl Served {
    /// Waits for a log line containing `wanted`, failing on a panic or after `seconds`.
    fn wait_for_log(&self, wanted: &str, seconds: u64) -> String {
        self.process
            .wait_for_line_within(wanted, std::time::Duration::from_secs(seconds))
    }

    fn get_text(&self, path: &str) -> (u16, String) {
        let mut response = http()
            .get(format!("{}{path}", self.base_url))
            .call()
            .unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    }
}

#[test]
fn serve_demo_fills_an_empty_database_and_leaves_a_full_one_alone() {
    let command = readme_demo_command();
    assert_eq!(command, "flakewatch serve --demo --database-url demo.db");
    let cwd = tempfile::tempdir().unwrap();
    let start = || {
        let mut serve = flakewatch(cwd.path());
        serve
            .args(command.split_whitespace().skip(1))
            .env("FLAKEWATCH_BIND", "127.0.0.1:0");
        Served::start(serve)
    };
    let served = start();
    served.wait_for_log("demo data: storing a simulated project", 60);
    let progress = served.wait_for_log("% stored (", 300);
    assert!(
        progress.ends_with(" runs)"),
        "progress counts the runs: {progress}"
    );
    let ready = served.wait_for_log("demo data ready", 300);
    assert!(ready.contains("/projects/webshop"), "{ready}");
    assert!(!ready.contains(" 0 flaky"), "{ready}");

    let (status, home) = served.get_text("/");
    assert_eq!(status, 200);
    assert!(home.contains("href=\"/projects/webshop\""), "{home}");
    let (status, project) = served.get_text("/projects/webshop");
    assert_eq!(status, 200);
    assert!(
        project.contains("<h1>Webshop (demo data)</h1>"),
        "{project}"
    );
    let flaky = project
        .split("<h2>Flaky tests, costliest first</h2>")
        .nth(1)
        .and_then(|rest| rest.split("<h2>").next())
        .unwrap();
    assert!(
        flaky.matches("href=\"/projects/webshop/tests/").count() >= 5,
        "flaky tests are listed: {flaky}"
    );
    // The runs end now, so the default window is the last 30 days up to today (or up to
    // yesterday, just after midnight UTC, when the newest run started before it).
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    assert!(
        project.contains(&format!(" to {today}</h2>"))
            || project.contains(&format!(" to {yesterday}</h2>")),
        "{project}"
    );
    assert!(
        project.contains("<title id=\"red-runs-title\">"),
        "{project}"
    );
    assert!(served.terminate().success());

    let again = start();
    let left = again.wait_for_log("--demo added nothing", 60);
    assert!(left.contains("holds 1 project"), "{left}");
    let (_, project) = again.get_text("/projects/webshop");
    assert!(
        project.contains("<h1>Webshop (demo data)</h1>"),
        "the data is still there"
    );
    assert!(again.terminate().success());
}
