//! The analyzer end to end: histories uploaded through the real API, verdicts read back
//! through the tests API, the metrics API and `flakewatch flaky`, on both backends.

mod common;

use common::api::{await_task, get_json as get, token, upload_ok};
use common::{http, TestDb, TestServer};
use flakewatch::store::tokens::Scope;
use serde_json::Value;

/// How one test did in one uploaded run.
#[derive(Clone, Copy)]
enum Did {
    Pass,
    /// Failed with this message.
    Fail(&'static str),
    /// Failed, then passed on an in-run retry.
    RetryPass,
    /// Failed, and failed again on every in-run retry.
    FailRetries(&'static str),
}

struct Run<'a> {
    commit: &'a str,
    branch: &'a str,
    attempt: u32,
    /// Minutes after the start of the history.
    minute: u32,
    tests: Vec<(&'a str, Did)>,
}

fn report(run: &Run) -> String {
    let mut xml = String::from("<testsuite name=\"app\">\n");
    for (name, did) in &run.tests {
        let case = format!("<testcase classname=\"app.Checkout\" name=\"{name}\" time=\"0.2\"");
        match did {
            Did::Pass => xml.push_str(&format!("{case}/>\n")),
            Did::Fail(message) => xml.push_str(&format!("{case}><failure message=\"{message}\"/></testcase>\n")),
            Did::RetryPass => xml.push_str(&format!(
                "{case}><flakyFailure message=\"timed out after 30 ms\" type=\"Timeout\"/></testcase>\n"
            )),
            Did::FailRetries(message) => xml.push_str(&format!(
                "{case}><failure message=\"{message}\"/><rerunFailure message=\"{message}\"/><rerunFailure message=\"{message}\"/></testcase>\n"
            )),
        }
    }
    xml.push_str("</testsuite>\n");
    xml
}

fn store(server: &TestServer, token: &str, run: &Run) {
    let start = format!(
        "2026-11-02T{:02}:{:02}:00Z",
        8 + run.minute / 60,
        run.minute % 60
    );
    let end_minute = run.minute + 4;
    let end = format!(
        "2026-11-02T{:02}:{:02}:00Z",
        8 + end_minute / 60,
        end_minute % 60
    );
    let query = format!(
        "branch={}&commit={}&job=unit&attempt={}&pipeline=p-{}&runner=linux-2c&started_at={start}&finished_at={end}",
        run.branch, run.commit, run.attempt, run.commit
    );
    let task = upload_ok(server, token, &query, report(run).as_bytes());
    let done = await_task(server, &task);
    assert_eq!(done["status"], "completed", "{done}");
}

const STABLE: [&str; 16] = [
    "s00", "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09", "s10", "s11", "s12",
    "s13", "s14", "s15",
];

/// Twelve commits on main. `retry` passes on retry now and then; `mixed` fails once per
/// some commits and passes on the job's rerun; `regressed` breaks at c07 for good, with
/// its retries failing too, and is fixed at c10; c05 is an outage: nearly everything
/// fails with one message.
fn history() -> Vec<Run<'static>> {
    const COMMITS: [&str; 12] = [
        "c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c10", "c11",
    ];
    let mut runs = Vec::new();
    for (i, commit) in COMMITS.iter().enumerate() {
        let outage = i == 5;
        let mut tests: Vec<(&str, Did)> = STABLE
            .iter()
            .map(|name| {
                (
                    *name,
                    if outage {
                        Did::Fail("connection refused: db:5432")
                    } else {
                        Did::Pass
                    },
                )
            })
            .collect();
        let retry = if [2, 6, 9].contains(&i) {
            Did::RetryPass
        } else {
            Did::Pass
        };
        let mixed_fails = [3, 8].contains(&i);
        let regressed = if (7..10).contains(&i) {
            Did::FailRetries("expected total 30 but was 0")
        } else {
            Did::Pass
        };
        tests.push((
            "retry",
            if outage {
                Did::Fail("connection refused: db:5432")
            } else {
                retry
            },
        ));
        tests.push((
            "mixed",
            if mixed_fails {
                Did::Fail("stale element reference")
            } else {
                Did::Pass
            },
        ));
        tests.push(("regressed", regressed));
        let minute = i as u32 * 10;
        runs.push(Run {
            commit,
            branch: "main",
            attempt: 1,
            minute,
            tests: tests.clone(),
        });
        if mixed_fails {
            // The job is rerun on the same commit and `mixed` passes.
            let rerun = tests
                .iter()
                .map(|(n, d)| (*n, if *n == "mixed" { Did::Pass } else { *d }))
                .collect();
            runs.push(Run {
                commit,
                branch: "main",
                attempt: 2,
                minute: minute + 5,
                tests: rerun,
            });
        }
    }
    runs
}

fn by_name(tests: &Value) -> std::collections::HashMap<String, Value> {
    tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
        .collect()
}

fn evidence_kinds(test: &Value) -> Vec<String> {
    test["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn stored_history(db: &TestDb) -> (TestServer, String) {
    let server = TestServer::start(db);
    let upload = token(db, "shop", Scope::Upload);
    for run in history() {
        store(&server, &upload, &run);
    }
    (server, token(db, "shop", Scope::Read))
}

storage_test!(fn failure_modes_group_messages_by_signature_with_first_and_last_seen(db) {
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    let outcomes = [
        Did::Fail("connection refused on port 5432"),
        Did::Fail("expected 3 items but got 2"),
        Did::Fail("connection refused on port 6543"),
        Did::RetryPass,
    ];
    for (i, did) in outcomes.into_iter().enumerate() {
        let commit = format!("c{i}");
        let run = Run { commit: &commit, branch: "main", attempt: 1, minute: i as u32 * 10, tests: vec![("db", did)] };
        store(&server, &upload, &run);
    }
    let read = token(&db, "shop", Scope::Read);
    let (_, list) = get(&server, &read, "/api/v1/projects/shop/tests?search=::db");
    let id = list["tests"][0]["id"].as_i64().unwrap();
    let (status, detail) = get(&server, &read, &format!("/api/v1/projects/shop/tests/{id}"));
    assert_eq!(status, 200, "{detail}");
    let modes = detail["failure_modes"].as_array().unwrap();
    assert_eq!(modes.len(), 3, "{detail}");
    // The two refusals differ only in a number: one signature, seen first and last in
    // the runs that had them, and never passed on retry.
    let refused = &modes[0];
    assert!(refused["signature"].as_str().unwrap().starts_with("connection refused on port"), "{refused}");
    assert_eq!(refused["occurrences"], 2, "{refused}");
    assert_eq!(refused["flaky_share"], 0.0, "{refused}");
    assert!(refused["first_seen"].as_str().unwrap().starts_with("2026-11-02T08:00"), "{refused}");
    assert!(refused["last_seen"].as_str().unwrap().starts_with("2026-11-02T08:20"), "{refused}");
    let retried = modes.iter().find(|m| m["signature"].as_str().unwrap().contains("timed out"));
    let retried = retried.unwrap_or_else(|| panic!("no mode for the retried failure: {detail}"));
    assert_eq!((retried["occurrences"].as_i64(), retried["flaky_share"].as_f64()), (Some(1), Some(1.0)), "{retried}");
});

storage_test!(fn verdicts_tell_flaky_from_broken_and_from_outages(db) {
    let (server, read) = stored_history(&db);
    let (status, all) = get(&server, &read, "/api/v1/projects/shop/tests?status=all&limit=100");
    assert_eq!(status, 200, "{all}");
    let tests = by_name(&all);
    assert_eq!(tests.len(), 19);

    let retry = &tests["retry"];
    assert_eq!(retry["status"], "flaky", "{retry}");
    assert!(evidence_kinds(retry).contains(&"retry_passed".to_owned()), "{retry}");
    assert!(retry["score"].as_f64().unwrap() > 0.5, "{retry}");
    assert!(retry["last_flaky_at"].is_string(), "{retry}");
    // Evidence is one line per kind, with its count and the runs it points at.
    let lines = retry["evidence"].as_array().unwrap();
    assert_eq!(lines.iter().filter(|e| e["kind"] == "retry_passed").count(), 1, "{retry}");
    assert!(lines[0]["count"].as_u64().unwrap() >= 1, "{retry}");
    assert!(lines[0]["first_run_id"].as_i64().unwrap() <= lines[0]["last_run_id"].as_i64().unwrap(), "{retry}");

    let mixed = &tests["mixed"];
    assert_eq!(mixed["status"], "flaky", "{mixed}");
    assert!(evidence_kinds(mixed).contains(&"same_commit_mixed".to_owned()), "{mixed}");

    // A regression that was fixed is not flaky, and says it was a regression.
    let regressed = &tests["regressed"];
    assert_ne!(regressed["status"], "flaky", "{regressed}");
    assert!(evidence_kinds(regressed).contains(&"regression".to_owned()), "{regressed}");

    // The outage made sixteen stable tests fail once, all with one message: not flaky.
    for name in STABLE {
        assert_ne!(tests[name]["status"], "flaky", "{name}: {}", tests[name]);
    }

    let (_, flaky) = get(&server, &read, "/api/v1/projects/shop/tests?status=flaky");
    let mut names: Vec<&str> = flaky["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["mixed", "retry"]);
});

storage_test!(fn a_regression_is_broken_while_it_lasts(db) {
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    // Only the first ten runs: `regressed` has failed with every retry since c07.
    for run in history().into_iter().filter(|r| r.commit < "c10") {
        store(&server, &upload, &run);
    }
    let read = token(&db, "shop", Scope::Read);
    let (_, broken) = get(&server, &read, "/api/v1/projects/shop/tests?status=broken");
    let names: Vec<&str> = broken["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["regressed"], "{broken}");
});

storage_test!(fn test_detail_shows_history_and_failure_modes(db) {
    let (server, read) = stored_history(&db);
    let (_, list) = get(&server, &read, "/api/v1/projects/shop/tests?search=MIXED");
    let id = list["tests"][0]["id"].as_i64().unwrap();
    let (status, detail) = get(&server, &read, &format!("/api/v1/projects/shop/tests/{id}?limit=5"));
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["name"], "mixed");
    assert_eq!(detail["history"].as_array().unwrap().len(), 5);
    assert_eq!(detail["history"][0]["commit"], "c11");
    let modes = detail["failure_modes"].as_array().unwrap();
    assert_eq!(modes.len(), 1, "{detail}");
    assert_eq!(modes[0]["occurrences"], 2);
    assert_eq!(modes[0]["signature"], "stale element reference");

    let (status, missing) = get(&server, &read, "/api/v1/projects/shop/tests/999999");
    assert_eq!(status, 404, "{missing}");
    let (status, other) = get(&server, &token(&db, "billing", Scope::Read), "/api/v1/projects/shop/tests");
    assert_eq!(status, 403, "{other}");
    let (status, bad) = get(&server, &read, "/api/v1/projects/shop/tests?status=wobbly");
    assert_eq!((status, bad["error"]["field"].as_str()), (400, Some("status")), "{bad}");
});

storage_test!(fn metrics_report_accuracy_promptness_and_cost(db) {
    let (server, read) = stored_history(&db);
    let admin = token(&db, "shop", Scope::Admin);
    let response = http()
        .patch(server.url("/api/v1/projects/shop"))
        .header("Authorization", &format!("Bearer {admin}"))
        .header("Content-Type", "application/json")
        .send(r#"{"runner_rates": {"linux-2c": 0.5}, "currency": "EUR"}"#)
        .unwrap();
    assert_eq!(response.status(), 200);

    let (status, metrics) = get(&server, &read, "/api/v1/projects/shop/metrics");
    assert_eq!(status, 200, "{metrics}");
    // 12 first runs and 2 reruns, 4 minutes each.
    assert_eq!(metrics["runs"], 14, "{metrics}");
    assert_eq!(metrics["cost"]["currency"], "EUR");
    assert_eq!(metrics["cost"]["total"]["minutes"].as_f64(), Some(56.0), "{metrics}");
    assert_eq!(metrics["cost"]["total"]["money"].as_f64(), Some(28.0), "{metrics}");
    assert_eq!(metrics["cost"]["reruns"]["minutes"].as_f64(), Some(8.0), "{metrics}");
    assert_eq!(metrics["promptness"]["minutes_per_job"]["unit"]["p50"].as_f64(), Some(4.0), "{metrics}");
    assert_eq!(metrics["promptness"]["store_ms"]["count"], 14);
    // Red runs: c03 (`mixed`), the outage (c05), and c07, c08 (twice: first run and
    // rerun) and c09 for the regression.
    assert_eq!(metrics["accuracy"]["red_runs"], 6, "{metrics}");
    let (_, window) = get(&server, &read, "/api/v1/projects/shop/metrics?since=2026-11-02T09:00:00Z&job=unit");
    // c06 to c11 and the rerun of c08.
    assert_eq!(window["runs"], 7, "{window}");
    // Red: c07 (the regression's first failure, not yet known as broken), both runs of c08
    // and c09 (by then broken).
    assert_eq!(window["accuracy"]["red_runs"], 4, "{window}");
    assert_eq!(window["accuracy"]["red_broken"], 3, "{window}");
    assert_eq!(window["accuracy"]["red_other"], 1, "{window}");
});

storage_test!(fn flaky_command_prints_one_test_per_line(db) {
    let (server, read) = stored_history(&db);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .args(["flaky", "--server", &server.base_url, "--token", &read, "--project", "shop"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let mut lines: Vec<String> = String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["app.Checkout::mixed", "app.Checkout::retry"]);
});

storage_test!(fn dashboard_pages_show_what_is_flaky_and_why(db) {
    let (server, _) = stored_history(&db);
    let page = |path: &str| {
        let mut response = http().get(server.url(path)).call().unwrap();
        (response.status().as_u16(), response.body_mut().read_to_string().unwrap())
    };
    let (status, home) = page("/");
    assert_eq!(status, 200);
    assert!(home.contains("href=\"/projects/shop\""), "{home}");

    let (status, project) = page("/projects/shop");
    assert_eq!(status, 200, "{project}");
    assert!(project.contains("app.Checkout::<wbr>retry") && project.contains("app.Checkout::<wbr>mixed"), "{project}");
    assert!(project.contains("passed on an in-run retry"), "evidence is shown: {project}");
    assert!(project.contains("No test is failing consistently."), "{project}");
    assert_eq!(project.matches("<tr class=\"red\">").count(), 6, "red runs are marked: {project}");

    let (_, list) = get(&server, &token(&db, "shop", Scope::Read), "/api/v1/projects/shop/tests?search=regressed");
    let id = list["tests"][0]["id"].as_i64().unwrap();
    let (status, test) = page(&format!("/projects/shop/tests/{id}"));
    assert_eq!(status, 200, "{test}");
    assert!(test.contains("expected total &#60;n&#62; but was &#60;n&#62;"), "failure mode signature, escaped: {test}");
    assert!(test.contains("(3 failed)"), "retries that failed too: {test}");

    let (status, _) = page("/projects/nope");
    assert_eq!(status, 404);
});

storage_test!(fn rescoring_from_scratch_gives_the_incremental_verdicts(db) {
    let (server, read) = stored_history(&db);
    let (_, before) = get(&server, &read, "/api/v1/projects/shop/tests?status=all&sort=name");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .args(["rescore", "--project", "shop", "--database-url", &db.url])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let said = String::from_utf8(output.stdout).unwrap();
    assert!(said.contains("14 runs, 266 results, 19 tests"), "{said}");
    assert!(String::from_utf8(output.stderr).unwrap().contains("100% (14 of 14 runs)"));
    let (_, after) = get(&server, &read, "/api/v1/projects/shop/tests?status=all&sort=name");
    let verdicts = |list: &Value| -> Vec<(String, String, String)> {
        list["tests"].as_array().unwrap().iter().map(|t| {
            (t["name"].as_str().unwrap().to_owned(), t["status"].as_str().unwrap().to_owned(), format!("{:.6}", t["score"].as_f64().unwrap()))
        }).collect()
    };
    assert_eq!(verdicts(&before), verdicts(&after));
});

storage_test!(fn a_test_reported_twice_in_one_run_is_scored_once(db) {
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    let twice = "<testsuites><testsuite name=\"a\"><testcase classname=\"x.Y\" name=\"t\"/></testsuite>\
                 <testsuite name=\"b\"><testcase classname=\"x.Y\" name=\"t\"><failure message=\"no\"/></testcase></testsuite></testsuites>";
    let task = upload_ok(&server, &upload, "branch=main&commit=c1", twice.as_bytes());
    let done = await_task(&server, &task);
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "duplicate_identity"), "{done}");
    let (_, tests) = get(&server, &token(&db, "shop", Scope::Read), "/api/v1/projects/shop/tests?status=all");
    assert_eq!(tests["tests"].as_array().unwrap().len(), 1, "{tests}");
    assert_eq!(tests["tests"][0]["runs_seen"], 2, "both results were observed: {tests}");
});

storage_test!(fn a_job_filter_keeps_the_tests_that_job_runs_now(db) {
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    let read = token(&db, "shop", Scope::Read);
    let upload_run = |job: &str, commit: usize, report: String| {
        let query = format!("branch=main&commit=c{commit}&job={job}");
        let task = upload_ok(&server, &upload, &query, report.as_bytes());
        await_task(&server, &task);
    };
    let names = |path: &str| -> Vec<String> {
        let (status, body) = get(&server, &read, path);
        assert_eq!(status, 200, "{body}");
        let mut names: Vec<String> = body["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| format!("{}::{}", t["classname"].as_str().unwrap(), t["name"].as_str().unwrap()))
            .collect();
        names.sort();
        names
    };
    // Two tests in the unit job, one in lint.
    upload_run("unit", 0, common::reports::junit("unit", 2, 0));
    upload_run("lint", 0, common::reports::junit("lint", 1, 0));
    let path = "/api/v1/projects/shop/tests?status=all&job=";
    assert_eq!(names(&format!("{path}lint")), ["lint.Suite::passes_0"]);
    assert_eq!(names(&format!("{path}unit")), ["unit.Suite::passes_0", "unit.Suite::passes_1"]);
    // unit's second test is removed; once it is in none of unit's 20 newest runs, the
    // filter no longer lists it (the unfiltered list still does).
    for commit in 1..=20 {
        upload_run("unit", commit, common::reports::junit("unit", 1, 0));
    }
    assert_eq!(names(&format!("{path}unit")), ["unit.Suite::passes_0"]);
    assert_eq!(names("/api/v1/projects/shop/tests?status=all").len(), 3);
    assert_eq!(names(&format!("{path}nightly")), Vec::<String>::new(), "an unknown job: none");
});
