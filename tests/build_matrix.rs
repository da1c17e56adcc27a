//! A build matrix, on both backends: the same tests run in one job per platform at every
//! commit. A test that fails on one platform at every commit and passes on the other is
//! broken there, not flaky (it never passed and failed in one job at one commit), and a
//! red pull request is told which of its failures that breakage explains.

mod common;

use common::api::{await_task, get_json, token, upload_ok};
use common::TestServer;
use flakewatch::store::tokens::Scope;
use serde_json::Value;

const LINUX: &str = "test (linux)";
const WINDOWS: &str = "test (windows)";

/// A report of the two tests: `test_join` fails when `join_fails`, `test_sum` passes.
fn report(join_fails: bool) -> String {
    let join = if join_fails {
        "<failure message=\"expected a/b, got a\\b\"/>"
    } else {
        ""
    };
    format!(
        "<testsuite name=\"paths\">\
         <testcase classname=\"app.Paths\" name=\"test_join\" time=\"0.1\">{join}</testcase>\
         <testcase classname=\"app.Paths\" name=\"test_sum\" time=\"0.1\"/></testsuite>"
    )
}

/// Uploads one job's run and waits until it is scored; its task's JSON.
fn store_run(
    server: &TestServer,
    upload: &str,
    branch: &str,
    commit: &str,
    job: &str,
    join_fails: bool,
) -> Value {
    let job = job
        .replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29");
    let query = format!("branch={branch}&default_branch=main&commit={commit}&job={job}");
    let task = upload_ok(server, upload, &query, report(join_fails).as_bytes());
    let done = await_task(server, &task);
    assert_eq!(done["status"], "completed", "{done}");
    done
}

fn test_json(server: &TestServer, read: &str, name: &str) -> Value {
    let (status, list) = get_json(server, read, "/api/v1/projects/shop/tests?status=all");
    assert_eq!(status, 200, "{list}");
    list["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no {name}: {list}"))
        .clone()
}

fn verdict_of(server: &TestServer, read: &str, task: &Value) -> Value {
    let run_id = task["run_id"].as_i64().unwrap();
    let (status, verdict) = get_json(
        server,
        read,
        &format!("/api/v1/projects/shop/runs/{run_id}/verdict"),
    );
    assert_eq!(status, 200, "{verdict}");
    verdict["failures"][0].clone()
}

storage_test!(fn a_test_failing_on_one_platform_is_broken_there_not_flaky(db) {
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    let read = token(&db, "shop", Scope::Read);
    // Both platforms pass at c0 to c2; from c3 on, Windows fails at every commit.
    for i in 0..8 {
        let commit = format!("c{i}");
        store_run(&server, &upload, "main", &commit, LINUX, false);
        store_run(&server, &upload, "main", &commit, WINDOWS, i >= 3);
    }
    let join = test_json(&server, &read, "test_join");
    assert_eq!(join["status"], "broken", "{join}");
    let evidence: Vec<&str> = join["evidence"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert!(evidence.iter().any(|e| e.contains("failing on main in job test (windows) since commit c3")), "{evidence:?}");
    assert!(!evidence.iter().any(|e| e.contains("both passed and failed")), "not flaky evidence: {evidence:?}");
    assert_eq!(test_json(&server, &read, "test_sum")["status"], "healthy");

    // A pull request fails test_join on both platforms: on Windows the breakage explains
    // it; on Linux, where main passes, it is this change.
    let windows = store_run(&server, &upload, "pr-7", "p1", WINDOWS, true);
    let failure = verdict_of(&server, &read, &windows);
    assert_eq!(failure["class"], "broken", "{failure}");
    assert!(failure["explanation"].as_str().unwrap().starts_with("already failing on main since commit c3"), "{failure}");
    let linux = store_run(&server, &upload, "pr-7", "p1", LINUX, true);
    let failure = verdict_of(&server, &read, &linux);
    assert_eq!(failure["class"], "new", "{failure}");
    assert_eq!(
        failure["explanation"],
        "failing on main only in job test (windows); nothing known explains it in test (linux): most likely this change",
    );

    // Linux passing keeps it broken; Windows passing twice fixes it.
    store_run(&server, &upload, "main", "c8", LINUX, false);
    store_run(&server, &upload, "main", "c9", LINUX, false);
    assert_eq!(test_json(&server, &read, "test_join")["status"], "broken");
    store_run(&server, &upload, "main", "c8", WINDOWS, false);
    store_run(&server, &upload, "main", "c9", WINDOWS, false);
    assert_eq!(test_json(&server, &read, "test_join")["status"], "healthy");
});
