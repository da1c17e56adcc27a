//! The verdict of a red run, in the job itself: a seeded history, then runs whose failures
//! are one known flaky test, one broken on the default branch, one quarantined and one new.
//! The verdict classes through the API, the lines and Markdown `flakewatch upload` writes,
//! every `--fail-on` exit code, quarantine through the CLI (and one that expires), owners
//! from CODEOWNERS, and the exclusion lists for test runners, on both backends.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use common::api::{await_task, get_json as get, token, upload_ok};
use common::{TestDb, TestServer};
use flakewatch::store::quarantines::{self, NewQuarantine};
use flakewatch::store::tokens::Scope;
use serde_json::Value;

#[derive(Clone, Copy, PartialEq)]
enum Did {
    Pass,
    Fail,
    RetryPass,
}

const TESTS: [&str; 5] = [
    "test_ok",
    "test_flaky",
    "test_broken",
    "test_muted",
    "test_new",
];

fn case(name: &str, did: Did) -> String {
    let head = format!(
        "<testcase classname=\"tests.test_cart\" name=\"{name}\" file=\"tests/test_cart.py\" time=\"0.1\""
    );
    match did {
        Did::Pass => format!("{head}/>"),
        Did::Fail => format!("{head}><failure message=\"{name} | failed `badly`\"/></testcase>"),
        Did::RetryPass => format!("{head}><flakyFailure message=\"timed out\"/></testcase>"),
    }
}

fn report(did: impl Fn(&str) -> Did) -> String {
    let cases: String = TESTS.iter().map(|name| case(name, did(name))).collect();
    format!("<testsuite name=\"cart\">{cases}</testsuite>")
}

fn at(hour: i64) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 2)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        + Duration::hours(hour)
}

/// 20 runs on main: `test_flaky` passes on retry now and then, `test_broken` fails from
/// run 15 on; the rest pass.
fn seed(server: &TestServer, upload: &str) {
    for i in 0..20 {
        let xml = report(|name| match name {
            "test_flaky" if i % 4 == 1 => Did::RetryPass,
            "test_broken" if i >= 15 => Did::Fail,
            _ => Did::Pass,
        });
        let start = at(i).format("%Y-%m-%dT%H:%M:%SZ");
        let query = format!("branch=main&commit=c{i:02}&job=unit&started_at={start}");
        let task = upload_ok(server, upload, &query, xml.as_bytes());
        assert_eq!(await_task(server, &task)["status"], "completed");
    }
}

fn flakewatch(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flakewatch"));
    command
        .current_dir(dir)
        .args(args)
        .env_remove("GITHUB_STEP_SUMMARY");
    for var in [
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "BUILDKITE",
        "CIRCLECI",
        "JENKINS_URL",
    ] {
        command.env_remove(var);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Setup {
    server: TestServer,
    upload: String,
    admin: String,
    dir: tempfile::TempDir,
}

/// A seeded project with `test_muted` quarantined through the CLI, a CODEOWNERS file in
/// the job's folder, and a PR report in which every test but `test_ok` fails.
fn setup(db: &TestDb) -> Setup {
    let server = TestServer::start(db);
    let upload = token(db, "shop", Scope::Upload);
    let admin = token(db, "shop", Scope::Admin);
    seed(&server, &upload);
    let dir = tempfile::tempdir().unwrap();
    let quarantined = flakewatch(
        dir.path(),
        &[
            "quarantine",
            "add",
            "--server",
            &server.base_url,
            "--token",
            &admin,
            "--project",
            "shop",
            "--test",
            "tests.test_cart::test_muted",
            "--reason",
            "waits on the payment sandbox",
            "--owner",
            "@ana",
            "--issue",
            "https://issues.example.com/PAY-12",
            "--days",
            "30",
        ],
        &[],
    );
    assert!(
        quarantined.status.success(),
        "{}",
        text(&quarantined.stderr)
    );
    assert!(text(&quarantined.stdout).starts_with("quarantined tests.test_cart::test_muted"));
    std::fs::create_dir_all(dir.path().join(".github")).unwrap();
    std::fs::write(
        dir.path().join(".github/CODEOWNERS"),
        "*  @acme/all\ntests/test_cart.py  @acme/cart\n",
    )
    .unwrap();
    let xml = report(|name| {
        if name == "test_ok" {
            Did::Pass
        } else {
            Did::Fail
        }
    });
    std::fs::write(dir.path().join("report.xml"), xml).unwrap();
    Setup {
        server,
        upload,
        admin,
        dir,
    }
}

fn upload_args<'a>(s: &'a Setup, commit: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "upload",
        "--server",
        &s.server.base_url,
        "--token",
        &s.upload,
        "--project",
        "shop",
        "--branch",
        "feature/cart",
        "--commit",
        commit,
        "--job",
        "unit",
    ];
    args.extend_from_slice(extra);
    args.push("report.xml");
    args
}

storage_test!(fn a_red_run_gets_its_verdict_in_the_job(db) {
    let s = setup(&db);
    let summary = s.dir.path().join("verdict.md");
    let step_summary = s.dir.path().join("step-summary.md");
    std::fs::write(&step_summary, "earlier step\n").unwrap();
    let summary_arg = summary.display().to_string();
    let ran = flakewatch(
        s.dir.path(),
        &upload_args(&s, "pr1", &["--summary", &summary_arg, "--dashboard-url", "https://fw.example/"]),
        &[("GITHUB_STEP_SUMMARY", step_summary.to_str().unwrap())],
    );
    let out = text(&ran.stderr);
    assert_eq!(ran.status.code(), Some(0), "--fail-on never: {out}");
    assert_eq!(text(&ran.stdout).lines().count(), 1, "stdout keeps one summary line");
    assert!(out.contains(
        "flakewatch verdict: 4 tests failed: 1 new (most likely this change), 1 already broken on main, 1 known flaky, 1 quarantined"
    ), "{out}");
    for line in [
        "  NEW         tests.test_cart::test_new (owner @acme/cart)",
        "  BROKEN      tests.test_cart::test_broken (owner @acme/cart)",
        "  FLAKY       tests.test_cart::test_flaky (owner @acme/cart)",
        "  QUARANTINED tests.test_cart::test_muted (owner @acme/cart)",
        "              quarantined by @ana until",
        "              test_new | failed `badly`",
    ] {
        assert!(out.contains(line), "missing {line:?} in {out}");
    }
    assert!(out.contains("https://fw.example/projects/shop/tests/"), "{out}");
    assert!(out.contains("already failing on main since commit c15"), "{out}");

    let markdown = std::fs::read_to_string(&summary).unwrap();
    assert!(markdown.starts_with("### flakewatch: 4 tests failed: 1 new"), "{markdown}");
    assert!(markdown.contains("| 1 | 1 | 1 | 1 |"), "{markdown}");
    assert!(markdown.contains("| **new** | [tests.test\\_cart::test\\_new](https://fw.example/projects/shop/tests/"), "{markdown}");
    assert!(markdown.contains("`test_new \\| failed 'badly'`"), "{markdown}");
    let step = std::fs::read_to_string(&step_summary).unwrap();
    assert!(step.starts_with("earlier step\n### flakewatch:"), "appended: {step}");

    // The API says the same; the uploading token may read its own run's verdict only.
    let read = token(&db, "shop", Scope::Read);
    let (_, tasks) = get(&s.server, &s.admin, "/api/v1/tasks?limit=1");
    let run_id = tasks["tasks"][0]["run_id"].as_i64().unwrap();
    // Both the job's log and the summary link the run's page.
    let run_page = format!("https://fw.example/projects/shop/runs/{run_id}");
    assert!(out.contains(&format!("  run page    {run_page}")), "{out}");
    assert!(markdown.contains(&format!("[Run {run_id} on the dashboard]({run_page})")), "{markdown}");
    let path = format!("/api/v1/projects/shop/runs/{run_id}/verdict");
    let (status, verdict) = get(&s.server, &read, &path);
    assert_eq!(status, 200, "{verdict}");
    let classes: Vec<&str> = verdict["failures"].as_array().unwrap().iter().map(|f| f["class"].as_str().unwrap()).collect();
    assert_eq!(classes, ["new", "broken", "flaky", "quarantined"]);
    assert_eq!(verdict["failures"][1]["broken_since_commit"], "c15", "{verdict}");
    assert_eq!(get(&s.server, &s.upload, &path).0, 200);
    let other_upload = token(&db, "shop", Scope::Upload);
    assert_eq!(get(&s.server, &other_upload, &path).0, 403);
    assert_eq!(get(&s.server, &token(&db, "billing", Scope::Read), &path).0, 403);
    assert_eq!(get(&s.server, &read, "/api/v1/projects/shop/runs/999999/verdict").0, 404);
    // The quarantine list is for reading tokens; an upload token only adds reports.
    assert_eq!(get(&s.server, &read, "/api/v1/projects/shop/quarantine").0, 200);
    assert_eq!(get(&s.server, &s.upload, "/api/v1/projects/shop/quarantine").0, 403);

    // Owners and quarantine show on the tests list too.
    let (_, list) = get(&s.server, &read, "/api/v1/projects/shop/tests?search=test_muted");
    assert_eq!(list["tests"][0]["owner"], "@acme/cart", "{list}");
    assert_eq!(list["tests"][0]["quarantine"]["owner"], "@ana", "{list}");
    // Owner is a filter: the last matching CODEOWNERS line gives the cart team every test.
    let (_, owned) = get(&s.server, &read, "/api/v1/projects/shop/tests?status=all&owner=@acme/cart");
    assert_eq!(owned["tests"].as_array().unwrap().len(), 5, "{owned}");
    let (_, others) = get(&s.server, &read, "/api/v1/projects/shop/tests?status=all&owner=@acme/all");
    assert_eq!(others["tests"].as_array().unwrap().len(), 0, "{others}");
});

storage_test!(fn fail_on_decides_the_exit_code(db) {
    let s = setup(&db);
    for (commit, fail_on, code) in [
        ("g1", "never", 0),
        ("g2", "new", 5),
        ("g3", "unquarantined", 5),
        ("g4", "any", 5),
    ] {
        let ran = flakewatch(s.dir.path(), &upload_args(&s, commit, &["--fail-on", fail_on]), &[]);
        assert_eq!(ran.status.code(), Some(code), "{fail_on}: {}", text(&ran.stderr));
        if code == 5 {
            assert!(text(&ran.stderr).contains(&format!("failing the job (--fail-on {fail_on})")));
        }
    }
    // Only known failures (flaky, broken, quarantined): `new` lets the job pass.
    let known = report(|name| match name {
        "test_flaky" | "test_broken" | "test_muted" => Did::Fail,
        _ => Did::Pass,
    });
    std::fs::write(s.dir.path().join("report.xml"), known).unwrap();
    for (commit, fail_on, code) in [("k1", "new", 0), ("k2", "unquarantined", 5), ("k3", "any", 5)] {
        let ran = flakewatch(s.dir.path(), &upload_args(&s, commit, &["--fail-on", fail_on]), &[]);
        assert_eq!(ran.status.code(), Some(code), "{fail_on}: {}", text(&ran.stderr));
    }
    // Only the quarantined test fails: `unquarantined` passes.
    let muted = report(|name| if name == "test_muted" { Did::Fail } else { Did::Pass });
    std::fs::write(s.dir.path().join("report.xml"), muted).unwrap();
    let ran = flakewatch(s.dir.path(), &upload_args(&s, "m1", &["--fail-on", "unquarantined"]), &[]);
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran.stderr));
    assert!(text(&ran.stderr).contains("1 test failed, none of them new: 1 quarantined"));
});

storage_test!(fn quarantine_ends_when_removed_or_expired(db) {
    let s = setup(&db);
    let base = ["--server", s.server.base_url.as_str(), "--token", s.admin.as_str(), "--project", "shop"];
    let list = |json: bool| {
        let mut args = vec!["quarantine", "list"];
        args.extend_from_slice(&base);
        if json {
            args.push("--json");
        }
        flakewatch(s.dir.path(), &args, &[])
    };
    let listed = text(&list(false).stdout);
    assert!(listed.contains("tests.test_cart::test_muted (test "), "{listed}");
    assert!(listed.contains("by @ana until 20"), "{listed}");
    assert!(listed.contains("waits on the payment sandbox <https://issues.example.com/PAY-12>"), "{listed}");

    let mut remove = vec!["quarantine", "remove", "--test", "tests.test_cart::test_muted"];
    remove.extend_from_slice(&base);
    let ran = flakewatch(s.dir.path(), &remove, &[]);
    assert!(ran.status.success(), "{}", text(&ran.stderr));
    let ran = flakewatch(s.dir.path(), &remove, &[]);
    assert!(!ran.status.success() && text(&ran.stderr).contains("is not quarantined"));
    assert!(text(&list(false).stderr).contains("no test of shop is quarantined"));

    // A quarantine made two hours ago for one hour has ended by itself.
    let mut conn = db.connect();
    let project = flakewatch::store::projects::find(&mut conn, "shop").unwrap().unwrap().id;
    let ids = quarantines::find_test(&mut conn, project, "tests.test_cart", "test_flaky").unwrap();
    let made = chrono::Utc::now().naive_utc() - Duration::hours(2);
    let expiring = NewQuarantine {
        reason: "short".into(),
        expires_at: Some(made + Duration::hours(1)),
        ..NewQuarantine::default()
    };
    quarantines::add(&mut conn, project, ids[0], &expiring, made).unwrap();
    let listed: Value = serde_json::from_slice(&list(true).stdout).unwrap();
    assert_eq!(listed["quarantine"], serde_json::json!([]), "{listed}");

    // Bad input: no reason, a bad link, an unknown test, a read token.
    let mut bad = vec!["quarantine", "add", "--test", "tests.test_cart::test_new", "--reason", "x", "--issue", "javascript:alert(1)"];
    bad.extend_from_slice(&base);
    let ran = flakewatch(s.dir.path(), &bad, &[]);
    assert!(text(&ran.stderr).contains("`issue_url` is an http or https link"), "{}", text(&ran.stderr));
    let mut unknown = vec!["quarantine", "add", "--test", "tests.test_cart::nope", "--reason", "x"];
    unknown.extend_from_slice(&base);
    assert!(text(&flakewatch(s.dir.path(), &unknown, &[]).stderr).contains("has no such test"));
    let read = token(&db, "shop", Scope::Read);
    let ran = flakewatch(s.dir.path(), &["quarantine", "add", "--server", &s.server.base_url, "--token", &read,
        "--project", "shop", "--test-id", "1", "--reason", "x"], &[]);
    assert!(!ran.status.success() && text(&ran.stderr).contains("HTTP 403"), "{}", text(&ran.stderr));
});

storage_test!(fn flaky_lists_each_runner_takes(db) {
    let s = setup(&db);
    let read = token(&db, "shop", Scope::Read);
    let flaky = |format: &str, status: &str| {
        let ran = flakewatch(s.dir.path(), &["flaky", "--server", &s.server.base_url, "--token", &read,
            "--project", "shop", "--status", status, "--format", format], &[]);
        assert!(ran.status.success(), "{format}: {}", text(&ran.stderr));
        text(&ran.stdout)
    };
    assert_eq!(flaky("names", "flaky"), "tests.test_cart::test_flaky\n");
    assert_eq!(
        flaky("names", "flaky,quarantined"),
        "tests.test_cart::test_flaky\ntests.test_cart::test_muted\n"
    );
    assert_eq!(flaky("pytest", "flaky"), "--deselect=tests/test_cart.py::test_flaky\n");
    assert_eq!(flaky("maven", "flaky"), "'-Dtest=!tests.test_cart#test_flaky'\n");
    assert_eq!(flaky("gradle", "flaky"), "excludeTestsMatching(\"tests.test_cart.test_flaky\")\n");
    assert_eq!(flaky("jest", "flaky"), "'--testNamePattern=^(?!(?:test_flaky)$)'\n");
    assert_eq!(flaky("go", "flaky"), "'-skip=^(test_flaky)$'\n");
    assert_eq!(flaky("nextest", "flaky"), "-E 'not (test(=test_flaky))'\n");
    let json: Value = serde_json::from_str(&flaky("json", "flaky")).unwrap();
    assert_eq!(json["tests"][0]["name"], "test_flaky");

    // The Jest and Go patterns are regular expressions that match exactly the tests to leave
    // out (checked with JavaScript's RegExp where Node.js is installed; Go's RE2 reads these
    // alternations the same way).
    if Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let unquote = |arg: &str, flag: &str| {
            arg.trim().trim_matches('\'').strip_prefix(flag).unwrap().to_owned()
        };
        let jest = unquote(&flaky("jest", "flaky"), "--testNamePattern=");
        let go = unquote(&flaky("go", "flaky"), "-skip=");
        let script = "const [jest, go] = process.argv.slice(1).map(p => new RegExp(p)); \
            const ok = !jest.test('test_flaky') && jest.test('test_ok') \
              && go.test('test_flaky') && !go.test('test_ok') && !go.test('test_flaky_more'); \
            process.exit(ok ? 0 : 1);";
        let ran = Command::new("node").args(["-e", script, &jest, &go]).output().unwrap();
        assert!(ran.status.success(), "{jest} / {go}: {}", text(&ran.stderr));
    }

    // The pytest list is an argument file pytest reads: the flaky test is deselected, the
    // others run (where pytest is installed; CI installs it).
    if Command::new("python3").args(["-m", "pytest", "--version"]).output().is_ok_and(|o| o.status.success()) {
        let project = s.dir.path().join("py");
        std::fs::create_dir_all(project.join("tests")).unwrap();
        std::fs::write(project.join("tests/test_cart.py"),
            "def test_ok():\n    pass\n\ndef test_flaky():\n    raise AssertionError('flaky')\n").unwrap();
        std::fs::write(project.join("deselect.txt"), flaky("pytest", "flaky")).unwrap();
        let ran = Command::new("python3")
            .current_dir(&project)
            .args(["-m", "pytest", "-p", "no:cacheprovider", "@deselect.txt", "tests"])
            .output()
            .unwrap();
        let said = text(&ran.stdout);
        assert!(ran.status.success(), "{said}{}", text(&ran.stderr));
        assert!(said.contains("1 passed, 1 deselected"), "{said}");
    } else {
        assert!(std::env::var("CI").is_err(), "CI must have pytest installed (.ci/services)");
    }
});
