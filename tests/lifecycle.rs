//! Verdicts in repository shapes beyond the happy path, end to end on both backends: a
//! default branch that is not `main` (named by CI or set by an admin, with a rescore), the
//! status lifecycle (fixed, skipped, inactive), skip-then-failure test cases, run times
//! taken from the reports, reruns paired without a pipeline id, impact ranking, literal
//! search, and the project settings API and CLI.

mod common;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use common::api::{await_task, get_json as get, token, upload, upload_ok};
use common::{http, TestDb, TestServer};
use diesel::prelude::*;
use flakewatch::db::schema::runs;
use flakewatch::db::DbConnection;
use flakewatch::store::tokens::Scope;
use serde_json::Value;

/// How one test did in one run.
#[derive(Clone, Copy)]
enum Did {
    Pass,
    Fail,
    /// Failed, then passed on an in-run retry.
    RetryPass,
    Skip,
    /// `<skipped/>` then `<failure>` in one test case.
    SkipThenFail,
}

/// One uploaded run.
struct Run<'a> {
    branch: &'a str,
    commit: String,
    at: NaiveDateTime,
    /// Extra query parameters, e.g. `&default_branch=master`.
    extra: String,
    /// Whether to send started_at/finished_at (4 minutes) with the upload.
    send_times: bool,
    tests: Vec<(&'a str, Did)>,
}

fn start() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 10, 1)
        .unwrap()
        .and_hms_opt(8, 0, 0)
        .unwrap()
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn report(tests: &[(&str, Did)], timestamp: Option<NaiveDateTime>) -> String {
    let stamp = timestamp.map_or(String::new(), |t| {
        format!(
            " timestamp=\"{}\" time=\"180\"",
            t.format("%Y-%m-%dT%H:%M:%S")
        )
    });
    let mut xml = format!("<testsuite name=\"app\"{stamp}>\n");
    for (name, did) in tests {
        let case = format!("<testcase classname=\"app.Cart\" name=\"{name}\" time=\"0.5\"");
        xml.push_str(&match did {
            Did::Pass => format!("{case}/>\n"),
            Did::Fail => format!("{case}><failure message=\"expected 3 items\"/></testcase>\n"),
            Did::RetryPass => {
                format!(
                    "{case}><flakyFailure message=\"timed out\" type=\"Timeout\"/></testcase>\n"
                )
            }
            Did::Skip => format!("{case}><skipped message=\"disabled\"/></testcase>\n"),
            Did::SkipThenFail => format!(
                "{case}><skipped/></testcase>\n{case}><failure message=\"boom\"/></testcase>\n"
            ),
        });
    }
    xml.push_str("</testsuite>\n");
    xml
}

fn store(server: &TestServer, upload_token: &str, run: &Run) {
    let mut query = format!(
        "branch={}&commit={}&job=unit&runner=linux{}",
        run.branch, run.commit, run.extra
    );
    if run.send_times {
        query.push_str(&format!(
            "&started_at={}&finished_at={}",
            rfc3339(run.at),
            rfc3339(run.at + Duration::minutes(4))
        ));
    }
    let task = upload_ok(
        server,
        upload_token,
        &query,
        report(&run.tests, None).as_bytes(),
    );
    let done = await_task(server, &task);
    assert_eq!(done["status"], "completed", "{done}");
}

/// `n` runs on `branch`, one commit each, an hour apart from `from`.
fn runs<'a>(
    branch: &'a str,
    from: NaiveDateTime,
    n: usize,
    mut tests: impl FnMut(usize) -> Vec<(&'a str, Did)>,
) -> Vec<Run<'a>> {
    (0..n)
        .map(|i| Run {
            branch,
            commit: format!("{branch}-{i:03}"),
            at: from + Duration::hours(i as i64),
            extra: String::new(),
            send_times: true,
            tests: tests(i),
        })
        .collect()
}

fn patch(server: &TestServer, token: &str, path: &str, body: &str) -> (u16, Value) {
    let mut response = http()
        .patch(server.url(path))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap();
    (
        response.status().as_u16(),
        response.body_mut().read_json().unwrap(),
    )
}

/// Every test of `project` by name.
fn tests_by_name(server: &TestServer, read: &str, project: &str) -> serde_json::Map<String, Value> {
    let (status, all) = get(
        server,
        read,
        &format!("/api/v1/projects/{project}/tests?status=all&limit=500"),
    );
    assert_eq!(status, 200, "{all}");
    all["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
        .collect()
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// A master-branch history: `steady` passes throughout; `regressed` breaks at run 10 and
/// stays broken.
fn master_history<'a>() -> Vec<Run<'a>> {
    runs("master", start(), 16, |i| {
        vec![
            ("steady", Did::Pass),
            ("regressed", if i >= 10 { Did::Fail } else { Did::Pass }),
        ]
    })
}

storage_test!(fn a_default_branch_named_by_ci_finds_broken_tests(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    for mut run in master_history() {
        // As `flakewatch upload` sends it from GitLab's CI_DEFAULT_BRANCH.
        run.extra = "&default_branch=master".into();
        store(&server, &upload_token, &run);
    }
    let read = token(&db, "shop", Scope::Read);
    let tests = tests_by_name(&server, &read, "shop");
    assert_eq!(tests["regressed"]["status"], "broken", "{}", tests["regressed"]);
    let admin = token(&db, "shop", Scope::Admin);
    let (status, project) = get(&server, &admin, "/api/v1/projects/shop");
    assert_eq!(status, 200, "{project}");
    assert_eq!(project["default_branch"], "master");
    assert_eq!(project["default_branch_source"], "ci");
});

storage_test!(fn setting_the_default_branch_rescores_and_sticks(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    for run in master_history() {
        store(&server, &upload_token, &run);
    }
    let read = token(&db, "shop", Scope::Read);
    // Nobody said `master` is the default branch: nothing can be called broken.
    assert_ne!(tests_by_name(&server, &read, "shop")["regressed"]["status"], "broken");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .args(["project", "set", "shop", "--default-branch", "master", "--database-url", &db.url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("rescored 16 runs"), "{stderr}");
    assert!(stdout.contains("default branch  master (set by an admin)"), "{stdout}");
    let tests = tests_by_name(&server, &read, "shop");
    assert_eq!(tests["regressed"]["status"], "broken", "{}", tests["regressed"]);
    assert_eq!(tests["steady"]["status"], "healthy");

    // An upload whose CI names another default branch no longer changes it.
    let mut late = runs("master", start() + Duration::days(1), 1, |_| vec![("steady", Did::Pass)]);
    late[0].extra = "&default_branch=main".into();
    store(&server, &upload_token, &late[0]);
    let admin = token(&db, "shop", Scope::Admin);
    let (_, project) = get(&server, &admin, "/api/v1/projects/shop");
    assert_eq!(project["default_branch"], "master", "{project}");
    assert_eq!(project["default_branch_source"], "setting", "{project}");
});

storage_test!(fn the_project_api_reads_and_changes_settings(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    for run in master_history() {
        store(&server, &upload_token, &run);
    }
    let admin = token(&db, "shop", Scope::Admin);
    let (status, answer) = patch(
        &server,
        &admin,
        "/api/v1/projects/shop",
        r#"{"display_name": "Shop (web)", "default_branch": "master", "runner_rates": {"linux": 0.008, "_default": 0.004}, "currency": "EUR"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["display_name"], "Shop (web)");
    assert_eq!(answer["rescored"]["runs"], 16, "{answer}");
    assert_eq!(answer["tests"]["broken"], 1, "{answer}");
    let rates = answer["runner_rates"].as_array().unwrap();
    assert_eq!(rates.len(), 2, "{answer}");
    assert!(rates.iter().all(|r| r["currency"] == "EUR"), "{answer}");
    // The same default branch again rescores nothing.
    let (_, again) = patch(&server, &admin, "/api/v1/projects/shop", r#"{"default_branch": "master"}"#);
    assert_eq!(again["rescored"], Value::Null, "{again}");

    // Bad input names the field; other scopes and projects are refused.
    for (body, field) in [
        (r#"{"runner_rates": {"linux": 1e308}}"#, "runner_rates"),
        (r#"{"runner_rates": {"linux": -1}}"#, "runner_rates"),
        (r#"{"default_branch": ""}"#, "default_branch"),
        (r#"{"currency": "US$"}"#, "currency"),
    ] {
        let (status, error) = patch(&server, &admin, "/api/v1/projects/shop", body);
        assert_eq!((status, error["error"]["field"].as_str()), (400, Some(field)), "{body}: {error}");
    }
    let (status, error) = patch(&server, &admin, "/api/v1/projects/shop", r#"{"colour": "red"}"#);
    assert_eq!(status, 400);
    assert!(error["error"]["message"].as_str().unwrap().contains("unknown field `colour`"), "{error}");
    let read = token(&db, "shop", Scope::Read);
    assert_eq!(get(&server, &read, "/api/v1/projects/shop").0, 403);
    let other = token(&db, "billing", Scope::Admin);
    assert_eq!(get(&server, &other, "/api/v1/projects/shop").0, 403);
});

storage_test!(fn project_commands_create_show_and_refuse_bad_names(db) {
    let flakewatch = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_flakewatch"))
            .args(args)
            .args(["--database-url", &db.url])
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let _migrated = db.open();
    let (ok, out, err) = flakewatch(&[
        "project", "create", "shop", "--default-branch", "trunk", "--runner-rate", "linux=0.008",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("default branch  trunk (set by an admin)"), "{out}");
    assert!(out.contains("runner price    linux = 0.008 USD a minute"), "{out}");
    let (ok, _, err) = flakewatch(&["project", "create", "shop"]);
    assert!(!ok && err.contains("project `shop` exists already"), "{err}");
    let (ok, _, err) = flakewatch(&["project", "create", "acme/shop"]);
    assert!(!ok && err.contains("cannot contain `/`: use `acme-shop`"), "{err}");
    let (ok, _, err) = flakewatch(&["token", "create", "--project", "acme/shop", "--scope", "read"]);
    assert!(!ok && err.contains("cannot contain `/`"), "{err}");
    let (ok, _, err) = flakewatch(&["project", "set", "shop", "--runner-rate", "linux=cheap"]);
    assert!(!ok && err.contains("not a price"), "{err}");
    let (ok, _, err) = flakewatch(&["project", "set", "nope", "--display-name", "x"]);
    assert!(!ok && err.contains("there is no project `nope`"), "{err}");
    let (ok, out, _) = flakewatch(&["project", "show", "shop", "--json"]);
    assert!(ok);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["default_branch"], "trunk");
    let (ok, out, _) = flakewatch(&["project", "list"]);
    assert!(ok && out.contains("shop") && out.contains("trunk"), "{out}");
});

storage_test!(fn the_status_lifecycle_moves_tests_on(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    // Over 80 hourly runs on main:
    // - `fixed` passes on retry every 4th run until run 30, then never fails again;
    // - `disabled` breaks at run 10, and is skipped from run 14 on;
    // - `always_skipped` never runs;
    // - `removed` passes until run 20 and is then no longer reported;
    // - `steady` passes throughout.
    let mut history = runs("main", start(), 80, |i| {
        let mut tests = vec![
            ("steady", Did::Pass),
            ("fixed", if i < 30 && i % 4 == 1 { Did::RetryPass } else { Did::Pass }),
            ("disabled", match i {
                0..=9 => Did::Pass,
                10..=13 => Did::Fail,
                _ => Did::Skip,
            }),
            ("always_skipped", Did::Skip),
        ];
        if i < 20 {
            tests.push(("removed", Did::Pass));
        }
        tests
    });
    // Over two weeks later the project is still running, without `removed`.
    history.extend(runs("main", start() + Duration::days(20), 2, |_| {
        vec![
            ("steady", Did::Pass),
            ("fixed", Did::Pass),
            ("disabled", Did::Skip),
            ("always_skipped", Did::Skip),
        ]
    }));
    for run in &history {
        store(&server, &upload_token, run);
    }
    let read = token(&db, "shop", Scope::Read);
    let tests = tests_by_name(&server, &read, "shop");
    assert_counts_are_kept(&db, "shop", &[("healthy", 2), ("inactive", 1), ("skipped", 2)]);

    let fixed = &tests["fixed"];
    assert_eq!(fixed["status"], "healthy", "{fixed}");
    let fixed_since = fixed["fixed_since"].as_str().expect("fixed since");
    // The first clean run after the last flaky one (run 29).
    assert_eq!(fixed_since, "2026-10-02T14:00:00.000Z", "{fixed}");
    assert!(fixed["evidence"].as_array().unwrap().iter().any(|e| e["kind"] == "flaky_cleared"), "{fixed}");

    assert_eq!(tests["disabled"]["status"], "skipped", "{}", tests["disabled"]);
    assert_eq!(tests["always_skipped"]["status"], "skipped", "{}", tests["always_skipped"]);
    let removed = &tests["removed"];
    assert_eq!(removed["status"], "inactive", "{removed}");
    // Inactive since 14 days after it was last reported (run 19, 2026-10-02 03:00).
    assert_eq!(removed["status_changed_at"], "2026-10-16T03:00:00.000Z", "{removed}");

    // Neither skipped nor inactive tests are on the flaky or broken lists.
    let (_, broken) = get(&server, &read, "/api/v1/projects/shop/tests?status=broken");
    assert!(names(&broken).is_empty(), "{broken}");
    let (_, flaky) = get(&server, &read, "/api/v1/projects/shop/tests?status=flaky");
    assert!(names(&flaky).is_empty(), "{flaky}");
    let (_, skipped) = get(&server, &read, "/api/v1/projects/shop/tests?status=skipped");
    assert_eq!(names(&skipped), ["always_skipped", "disabled"]);

    // `removed` is back: no longer inactive.
    let back = runs("main", start() + Duration::days(21), 1, |_| vec![("removed", Did::Pass)]);
    store(&server, &upload_token, &back[0]);
    let tests = tests_by_name(&server, &read, "shop");
    assert_eq!(tests["removed"]["status"], "healthy", "{}", tests["removed"]);
    assert_counts_are_kept(&db, "shop", &[("healthy", 3), ("skipped", 2)]);

    // Scoring the history again from scratch gives the same statuses, since the same times.
    let rescored = std::process::Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .args(["rescore", "--project", "shop", "--database-url", &db.url])
        .output()
        .unwrap();
    assert!(rescored.status.success(), "{}", String::from_utf8_lossy(&rescored.stderr));
    let again = tests_by_name(&server, &read, "shop");
    for (name, test) in &tests {
        for field in ["status", "status_changed_at", "fixed_since"] {
            assert_eq!(again[name][field], test[field], "{name} {field}");
        }
    }
    // A rescore deletes every score and writes them again: the counts follow.
    assert_counts_are_kept(&db, "shop", &[("healthy", 3), ("skipped", 2)]);
});

/// The project's test counts by status, as the database keeps them for the pages, are
/// `expected` and agree with a count of its scores.
fn assert_counts_are_kept(db: &TestDb, project: &str, expected: &[(&str, i64)]) {
    use flakewatch::db::schema::test_scores;
    use flakewatch::store::{projects, test_views};
    let mut conn = db.connect();
    let id = projects::find(&mut conn, project)
        .unwrap()
        .expect("project")
        .id;
    let kept = test_views::count_by_status(&mut conn, id).unwrap();
    let mut counted: Vec<(String, i64)> = test_scores::table
        .filter(test_scores::project_id.eq(id))
        .group_by(test_scores::status)
        .select((test_scores::status, diesel::dsl::count_star()))
        .load(&mut conn)
        .unwrap();
    counted.sort();
    let expected: Vec<(String, i64)> = expected.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    assert_eq!(kept, expected, "counts kept for the pages");
    assert_eq!(counted, expected, "scores counted one by one");
}

storage_test!(fn skip_then_failure_is_a_failure_not_a_retry(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let history = runs("main", start(), 8, |i| {
        vec![("odd", if i == 6 { Did::SkipThenFail } else { Did::Pass })]
    });
    for run in &history {
        store(&server, &upload_token, run);
    }
    let read = token(&db, "shop", Scope::Read);
    let odd = &tests_by_name(&server, &read, "shop")["odd"];
    assert_ne!(odd["status"], "flaky", "{odd}");
    assert!(
        !odd["evidence"].as_array().unwrap().iter().any(|e| e["kind"] == "retry_passed"),
        "{odd}"
    );
    let id = odd["id"].as_i64().unwrap();
    let (_, detail) = get(&server, &read, &format!("/api/v1/projects/shop/tests/{id}"));
    let last = &detail["history"][1];
    assert_eq!((last["outcome"].as_str(), last["attempts"].as_i64()), (Some("failed"), Some(1)), "{detail}");
});

fn timing_of(db: &TestDb) -> Vec<(String, i64)> {
    let mut conn = db.connect();
    let rows: Vec<(String, NaiveDateTime, NaiveDateTime)> = runs::table
        .order(runs::id)
        .select((runs::timing_source, runs::started_at, runs::finished_at))
        .load(&mut conn)
        .unwrap();
    rows.into_iter()
        .map(|(source, start, end)| (source, (end - start).num_seconds()))
        .collect()
}

storage_test!(fn run_times_come_from_the_reports_when_none_are_sent(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let tests = [("a", Did::Pass), ("b", Did::Pass)];
    let now = chrono::Utc::now().naive_utc();
    // A report with a testsuite timestamp and time (3 minutes), one with durations only,
    // one with neither, one with times sent.
    let stamped = report(&tests, Some(now - Duration::minutes(5)));
    let plain = report(&tests, None);
    let bare = "<testsuite name=\"app\"><testcase classname=\"app.Cart\" name=\"a\"/></testsuite>";
    for (commit, body, times) in [
        ("c1", stamped.as_str(), ""),
        ("c2", plain.as_str(), ""),
        ("c3", bare, ""),
        ("c4", plain.as_str(), "&started_at=2026-11-02T08:00:00Z&finished_at=2026-11-02T08:10:00Z"),
    ] {
        let task = upload_ok(&server, &upload_token, &format!("branch=main&commit={commit}{times}"), body.as_bytes());
        assert_eq!(await_task(&server, &task)["status"], "completed");
    }
    assert_eq!(
        timing_of(&db),
        [("report".into(), 180), ("durations".into(), 1), ("receipt".into(), 0), ("client".into(), 600)]
    );
    let read = token(&db, "shop", Scope::Read);
    let (_, metrics) = get(&server, &read, "/api/v1/projects/shop/metrics");
    assert!(metrics["cost"]["total"]["minutes"].as_f64().unwrap() > 13.0, "{metrics}");
});

storage_test!(fn reruns_pair_by_commit_and_job_without_a_pipeline(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    // `shaky` is flaky (passes on retry now and then); at commit r1 it fails, and the job is
    // rerun at the same commit: no pipeline id, no attempt number.
    let mut history = runs("main", start(), 12, |i| {
        vec![("steady", Did::Pass), ("shaky", if i % 3 == 0 { Did::RetryPass } else { Did::Pass })]
    });
    for (i, did) in [Did::Fail, Did::Pass].into_iter().enumerate() {
        history.push(Run {
            branch: "main",
            commit: "r1".into(),
            at: start() + Duration::hours(20 + i as i64),
            extra: String::new(),
            send_times: true,
            tests: vec![("steady", Did::Pass), ("shaky", did)],
        });
    }
    for run in &history {
        store(&server, &upload_token, run);
    }
    let read = token(&db, "shop", Scope::Read);
    let (_, metrics) = get(&server, &read, "/api/v1/projects/shop/metrics");
    assert_eq!(metrics["cost"]["reruns"]["minutes"].as_f64(), Some(4.0), "{metrics}");
    assert_eq!(metrics["cost"]["reruns_after_flaky"]["minutes"].as_f64(), Some(4.0), "{metrics}");
    // The rerun's minutes and the red run are charged to `shaky`, which ranks first.
    let (_, flaky) = get(&server, &read, "/api/v1/projects/shop/tests?status=flaky");
    let first = &flaky["tests"][0];
    assert_eq!(first["name"], "shaky", "{flaky}");
    assert_eq!(first["impact"]["red_runs"], 1, "{first}");
    assert_eq!(first["impact"]["rerun_minutes"].as_f64(), Some(4.0), "{first}");
});

storage_test!(fn flaky_lists_rank_by_impact(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    // Both are flaky with high scores; `costly` fails runs on its own, `cheap` only ever
    // passes on retry.
    let history = runs("main", start(), 30, |i| {
        vec![
            ("cheap", if i % 3 == 0 { Did::RetryPass } else { Did::Pass }),
            ("costly", match i % 5 {
                0 => Did::RetryPass,
                3 if i > 10 => Did::Fail,
                _ => Did::Pass,
            }),
        ]
    });
    for run in &history {
        store(&server, &upload_token, run);
    }
    let read = token(&db, "shop", Scope::Read);
    let (_, flaky) = get(&server, &read, "/api/v1/projects/shop/tests?status=flaky");
    let order: Vec<&str> = flaky["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(order, ["costly", "cheap"], "{flaky}");
    assert!(flaky["tests"][0]["impact"]["red_runs"].as_i64().unwrap() >= 3, "{flaky}");
    assert_eq!(flaky["tests"][1]["impact"]["red_runs"], 0, "{flaky}");
    // By score, the order is the score's.
    let (_, by_score) = get(&server, &read, "/api/v1/projects/shop/tests?status=flaky&sort=score");
    let scores: Vec<f64> = by_score["tests"].as_array().unwrap().iter().map(|t| t["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{by_score}");
});

storage_test!(fn search_takes_underscores_and_percents_literally(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let history = runs("main", start(), 1, |_| {
        vec![
            ("test_add_item", Did::Pass),
            ("testXaddXitem", Did::Pass),
            ("discount_50%_off", Did::Pass),
            ("discount_50X_off", Did::Pass),
        ]
    });
    store(&server, &upload_token, &history[0]);
    let read = token(&db, "shop", Scope::Read);
    for (search, expected) in [
        ("test_add", vec!["test_add_item"]),
        ("TEST_ADD_ITEM", vec!["test_add_item"]),
        ("50%", vec!["discount_50%_off"]),
        ("_50", vec!["discount_50%_off", "discount_50X_off"]),
    ] {
        let query = search.replace('%', "%25");
        let (status, list) = get(&server, &read, &format!("/api/v1/projects/shop/tests?search={query}"));
        assert_eq!(status, 200, "{list}");
        assert_eq!(names(&list), expected, "search {search}");
    }
});

storage_test!(fn search_reads_names_through_the_index_and_keeps_projects_apart(db) {
    let server = TestServer::start(&db);
    let shop_names = ["checkout_applies_coupon", "checkout_rejects_expired_card", "login_works", "ab"];
    let shop = runs("main", start(), 1, |_| shop_names.iter().map(|n| (*n, Did::Pass)).collect());
    store(&server, &token(&db, "shop", Scope::Upload), &shop[0]);
    let billing = runs("main", start(), 1, |_| vec![("checkout_applies_coupon", Did::Pass)]);
    store(&server, &token(&db, "billing", Scope::Upload), &billing[0]);
    // Enough other tests that the list is long and SQLite reads the name index instead of
    // walking every test (`test_search::WALK_IS_SHORT`).
    for project in ["shop", "billing"] {
        let bulk = common::reports::junit("bulk", 1_200, 0);
        let task = upload_ok(&server, &token(&db, project, Scope::Upload), "branch=main&commit=bulk&job=unit", bulk.as_bytes());
        assert_eq!(await_task(&server, &task)["status"], "completed");
    }

    let search = |project: &str, text: &str| {
        let read = token(&db, project, Scope::Read);
        let (status, list) = get(&server, &read, &format!("/api/v1/projects/{project}/tests?search={text}"));
        assert_eq!(status, 200, "{list}");
        names(&list)
    };
    // Through the index (3 characters or more), by name or by class name (`app.Cart`).
    assert_eq!(search("shop", "checkout"), ["checkout_applies_coupon", "checkout_rejects_expired_card"]);
    assert_eq!(search("shop", "COUPON"), ["checkout_applies_coupon"]);
    assert_eq!(search("shop", "app.cart"), ["ab", "checkout_applies_coupon", "checkout_rejects_expired_card", "login_works"]);
    // The full name as pages show it, `class::name`, copied from a page.
    assert_eq!(search("shop", "app.Cart::login_works"), ["login_works"]);
    assert_eq!(search("shop", "cart::checkout"), ["checkout_applies_coupon", "checkout_rejects_expired_card"]);
    assert_eq!(search("shop", "nothing-like-it"), Vec::<String>::new());
    // Too short for a trigram: every name is read instead.
    assert_eq!(search("shop", "ab"), ["ab"]);
    // Another project's test of the same name is never listed.
    assert_eq!(search("billing", "checkout"), ["checkout_applies_coupon"]);

    let mut conn = db.connect();
    match &mut conn {
        DbConnection::Sqlite(sqlite) => {
            // The index holds no text of its own: it must agree with `tests` after inserts
            // and after deletes (the check fails with "database disk image is malformed").
            let check = "INSERT INTO tests_search (tests_search) VALUES ('integrity-check')";
            diesel::sql_query(check).execute(sqlite).expect("index agrees after uploads");
            diesel::sql_query("DELETE FROM tests WHERE project_id = (SELECT id FROM projects WHERE name = 'shop')")
                .execute(sqlite)
                .unwrap();
            diesel::sql_query(check).execute(sqlite).expect("index agrees after deletes");
            assert_eq!(search("billing", "coupon"), ["checkout_applies_coupon"]);
        }
        DbConnection::Postgres(pg) => {
            #[derive(QueryableByName)]
            struct Found {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let found: Found = diesel::sql_query(
                "SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'tests_full_name_trigrams'",
            )
            .get_result(pg)
            .unwrap();
            assert_eq!(found.n, 1, "the trigram index exists where pg_trgm can be created");
        }
    }
});

storage_test!(fn an_upload_with_a_bad_default_branch_is_refused(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let long = "b".repeat(2000);
    let (status, answer) = upload(
        &server,
        &upload_token,
        &format!("branch=main&commit=c1&default_branch={long}"),
        report(&[("a", Did::Pass)], None).as_bytes(),
        &[],
    );
    assert_eq!((status, answer["error"]["field"].as_str()), (400, Some("default_branch")), "{answer}");
});

storage_test!(fn the_tests_list_pages_on_with_a_cursor(db) {
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let names = ["t1", "t2", "t3", "t4", "t5"];
    let history = runs("main", start(), 1, |_| names.iter().map(|n| (*n, Did::Pass)).collect());
    store(&server, &upload_token, &history[0]);
    let read = token(&db, "shop", Scope::Read);
    let mut seen = Vec::new();
    let mut path = "/api/v1/projects/shop/tests?status=all&sort=name&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = get(&server, &read, &path);
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(page["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/projects/shop/tests?status=all&sort=name&limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!((pages, seen), (3, names.map(str::to_owned).to_vec()));
    let (status, bad) = get(&server, &read, "/api/v1/projects/shop/tests?cursor=later");
    assert_eq!((status, bad["error"]["field"].as_str()), (400, Some("cursor")), "{bad}");
});
