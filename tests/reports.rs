//! The weekly report: a seeded week through the API in all four formats (figures equal to
//! the metrics API's for that window), the CLI writing a file, an empty week, bad input,
//! and the HTML opening in headless Chromium with nothing fetched, on both backends.

mod common;

use std::process::Command;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use common::api::{await_task, get_text as get, token, upload_ok};
use common::TestServer;
use flakewatch::store::tokens::Scope;
use serde_json::Value;

fn at(day: u32, hour: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, day)
        .unwrap()
        .and_hms_opt(hour, 0, 0)
        .unwrap()
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Two weeks (2026-W44 and W45) of runs on main, 4 a day: `test_pay` passes on retry every
/// third run and, in W45, fails a run alone that is then rerun; `test_slow` gets slower.
fn seed(server: &TestServer, upload: &str) {
    let mut n = 0;
    for day in 26..=31 {
        seed_day(
            server,
            upload,
            NaiveDate::from_ymd_opt(2026, 10, day).unwrap(),
            &mut n,
        );
    }
    for day in 1..=8 {
        seed_day(
            server,
            upload,
            NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            &mut n,
        );
    }
}

fn seed_day(server: &TestServer, upload: &str, day: NaiveDate, n: &mut u32) {
    for hour in [9, 12, 15, 18] {
        *n += 1;
        let start = day.and_hms_opt(hour, 0, 0).unwrap();
        let late = day >= NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let pay = if *n % 3 == 0 {
            "<testcase classname=\"shop.Pay\" name=\"test_pay\" time=\"1\"><flakyFailure message=\"timeout\"/></testcase>"
        } else if late && hour == 18 && day.format("%d").to_string() == "04" {
            "<testcase classname=\"shop.Pay\" name=\"test_pay\" time=\"1\"><failure message=\"timeout\"/></testcase>"
        } else {
            "<testcase classname=\"shop.Pay\" name=\"test_pay\" time=\"1\"/>"
        };
        let slow = if late { "4.0" } else { "2.0" };
        let xml = format!(
            "<testsuite name=\"shop\">{pay}<testcase classname=\"shop.Cart\" name=\"test_slow\" time=\"{slow}\"/>\
             <testcase classname=\"shop.Cart\" name=\"test_|pipe`\" time=\"0.1\"/></testsuite>"
        );
        let query = format!(
            "branch=main&commit=c{n}&job=unit&runner=linux&started_at={}&finished_at={}",
            rfc3339(start),
            rfc3339(start + Duration::minutes(10))
        );
        let task = upload_ok(server, upload, &query, xml.as_bytes());
        assert_eq!(await_task(server, &task)["status"], "completed");
    }
}

storage_test!(fn the_weekly_report_in_every_format(db) {
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    seed(&server, &upload);
    let read = token(&db, "shop", Scope::Read);

    let (status, json) = get(&server, &read, "/api/v1/projects/shop/reports/weekly?week=2026-W45&format=json");
    assert_eq!(status, 200, "{json}");
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["schema"], 1);
    assert_eq!(report["period"]["label"], "2026-W45");
    assert_eq!(report["previous"]["label"], "2026-W44");
    // The headline is the metrics API's for the same window.
    let since = rfc3339(at(2, 0));
    let until = rfc3339(at(9, 0));
    let (_, metrics) = get(&server, &read, &format!("/api/v1/projects/shop/metrics?since={since}&until={until}"));
    let metrics: Value = serde_json::from_str(&metrics).unwrap();
    let h = &report["headline"];
    assert_eq!(h["runs"], metrics["runs"]);
    assert_eq!(h["runs"], 28);
    assert_eq!(h["red_runs"], metrics["accuracy"]["red_runs"]);
    assert_eq!(h["false_alarm_share"], metrics["accuracy"]["false_alarm_share"]);
    assert_eq!(h["cost_minutes"], metrics["cost"]["total"]["minutes"]);
    assert_eq!(h["pipeline_minutes_p50"], metrics["promptness"]["minutes_per_pipeline"]["p50"]);
    // W44 runs from Monday 26 October to Sunday 1 November: 7 days of 4 runs.
    assert_eq!(report["previous_headline"]["runs"], 28);
    let top = &report["top_flaky"][0];
    assert_eq!(top["name"], "test_pay", "{report}");
    assert_eq!(top["impact"]["red_runs"], 1, "{top}");
    assert_eq!(top["link"], format!("/projects/shop/tests/{}", top["test_id"]));
    let regression = &report["duration_regressions"][0];
    assert_eq!((regression["name"].as_str(), regression["mean_ms"].as_i64(), regression["previous_mean_ms"].as_i64()),
        (Some("test_slow"), Some(4000), Some(2000)), "{report}");

    let (_, md) = get(&server, &read, "/api/v1/projects/shop/reports/weekly?week=2026-W45&format=md");
    assert!(md.starts_with("## shop — CI quality, 2026-W45\n"), "{md}");
    assert!(md.contains("| runs | 28 | 28 | = |"), "{md}");
    assert!(md.contains("| red runs | 1 | 0 | +1.0 |"), "{md}");
    assert!(md.contains("### Top flaky tests by impact"), "{md}");
    assert!(md.contains("[shop.Cart::test\\_\\|pipe\\`]("), "escaped: {md}");

    let (_, csv) = get(&server, &read, "/api/v1/projects/shop/reports/weekly?week=2026-W45&format=csv");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("list,test_id,classname,name,owner,status,since,score,failure_rate,red_runs,wasted_minutes,wasted_money,mean_ms,previous_mean_ms,link"));
    assert!(csv.lines().any(|l| l.starts_with("top_flaky,") && l.contains(",test_pay,")), "{csv}");
    assert!(csv.contains(",test_|pipe`,"), "{csv}");
    let rows: Vec<usize> = csv.lines().map(|l| l.split(',').count()).collect();
    assert!(rows.iter().all(|&n| n == 15), "every row has the 15 columns: {csv}");
    assert!(csv.lines().any(|l| l.starts_with("duration_regressions,") && l.contains(",4000,2000,")), "{csv}");

    let (_, html) = get(&server, &read, "/api/v1/projects/shop/reports/weekly?week=2026-W45&format=html");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    for external in ["<link", "<script", "<img", "src=", "url(", "@import", "http://", "https://"] {
        assert!(!html.contains(external), "the report fetches nothing: found {external}");
    }
    assert!(html.contains("test_|pipe`"), "text escaped, not dropped");
    // It opens in headless Chromium, which renders its tables.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, &html).unwrap();
    if Command::new("chromium").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let profile = dir.path().join("profile");
        let dom = Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--no-first-run", "--disable-component-update", "--disable-sync"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--dump-dom")
            .arg(format!("file://{}", file.display()))
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&dom.stdout);
        assert!(dom.contains("Top flaky tests by impact") && dom.contains("test_pay"), "{dom}");
    } else {
        assert!(std::env::var("CI").is_err(), "CI installs Chromium");
    }
});

storage_test!(fn an_empty_week_is_a_valid_report_and_bad_input_is_named(db) {
    let server = TestServer::start(&db);
    let read = token(&db, "shop", Scope::Read);
    let (status, json) = get(&server, &read, "/api/v1/projects/shop/reports/weekly?week=2026-W10");
    assert_eq!(status, 200, "{json}");
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["headline"]["runs"], 0);
    assert_eq!(report["top_flaky"], serde_json::json!([]));
    let (_, md) = get(&server, &read, "/api/v1/projects/shop/reports/weekly?week=2026-W10&format=md");
    assert!(md.contains("_no test became flaky._"), "{md}");

    for (query, field) in [
        ("week=2026-47", "week"),
        ("week=2026-W60", "week"),
        ("format=pdf", "format"),
        ("since=2026-11-02T00:00:00Z", "week"),
        ("since=2026-11-09T00:00:00Z&until=2026-11-02T00:00:00Z", "until"),
    ] {
        let (status, body) = get(&server, &read, &format!("/api/v1/projects/shop/reports/weekly?{query}"));
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!((status, body["error"]["field"].as_str()), (400, Some(field)), "{query}: {body}");
    }
    let other = token(&db, "billing", Scope::Read);
    assert_eq!(get(&server, &other, "/api/v1/projects/shop/reports/weekly").0, 403);
    let upload = token(&db, "shop", Scope::Upload);
    assert_eq!(get(&server, &upload, "/api/v1/projects/shop/reports/weekly").0, 403);
});

storage_test!(fn the_cli_writes_a_report_file(db) {
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    seed(&server, &upload);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("week.md");
    let ran = Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .args(["report", "weekly", "--project", "shop", "--week", "2026-W45", "--format", "md",
            "--dashboard-url", "https://fw.example/", "--database-url", &db.url])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.contains("](https://fw.example/projects/shop/tests/"), "{md}");
    assert!(String::from_utf8_lossy(&ran.stderr).contains("md report of shop for 2026-W45 written to"));
    for (args, message) in [
        (vec!["--project", "shop", "--week", "W45"], "--week: `W45` is not an ISO week"),
        (vec!["--project", "nope"], "there is no project `nope`"),
    ] {
        let mut all = vec!["report", "weekly", "--database-url", &db.url];
        all.extend(args);
        let ran = Command::new(env!("CARGO_BIN_EXE_flakewatch")).args(&all).output().unwrap();
        assert!(!ran.status.success());
        assert!(String::from_utf8_lossy(&ran.stderr).contains(message), "{}", String::from_utf8_lossy(&ran.stderr));
    }
});

storage_test!(fn the_dashboard_lists_weeks_to_download(db) {
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    seed(&server, &upload);
    let page = |path: &str| {
        let mut response = common::http().get(server.url(path)).call().unwrap();
        let disposition = response
            .headers()
            .get("content-disposition")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status().as_u16(), disposition, response.body_mut().read_to_string().unwrap())
    };
    let (status, _, list) = page("/projects/shop/reports");
    assert_eq!(status, 200, "{list}");
    // The newest run is on 8 November: its week, 2026-W45, comes first; W44 has 28 runs.
    let w45 = list.find("<span class=\"keep-whole\">2026-W45</span>").expect("W45 listed");
    let w44 = list.find("<span class=\"keep-whole\">2026-W44</span>").expect("W44 listed");
    assert!(w45 < w44, "newest first");
    let w44_row = &list[w44..list[w44..].find("</tr>").map_or(list.len(), |end| w44 + end)];
    assert!(w44_row.contains("<td class=\"num\">28</td>"), "W44's runs: {w44_row}");
    // The first run is on 26 October: no week before it is listed.
    assert_eq!(list.matches("<span class=\"keep-whole\">2026-W").count(), 2, "only W45 and W44: {list}");
    assert!(list.contains("href=\"/projects/shop/reports/2026-W45/html\""), "{list}");
    // With no report folder or webhook, nothing was sent, and the admin is told how.
    assert!(list.contains("None of these weeks' reports was sent"), "{list}");
    assert!(!list.contains("<th>Delivery</th>"), "no column of empty cells: {list}");
    let (status, disposition, md) = page("/projects/shop/reports/2026-W45/md");
    assert_eq!(status, 200);
    assert_eq!(disposition.as_deref(), Some("attachment; filename=\"shop-2026-W45.md\""));
    assert!(md.starts_with("## shop — CI quality, 2026-W45"), "{md}");
    let (status, _, bad) = page("/projects/shop/reports/W45/md");
    assert_eq!(status, 400, "{bad}");
    assert_eq!(page("/projects/shop/reports/2026-W45/pdf").0, 404);
    assert_eq!(page("/projects/nope/reports").0, 404);

    // A run today: this week comes first, marked as not over; the ended weeks are not.
    let task = upload_ok(&server, &upload, "branch=main&commit=today&job=unit", b"<testsuite name=\"shop\"><testcase classname=\"shop.Pay\" name=\"test_pay\"/></testsuite>");
    assert_eq!(await_task(&server, &task)["status"], "completed");
    let (_, _, list) = page("/projects/shop/reports");
    let this_week = flakewatch::report::Period::last_complete_week(chrono::Utc::now().naive_utc() + Duration::days(7));
    let first_row = list.split("<tbody>").nth(1).and_then(|rows| rows.split("</tr>").next()).unwrap_or_default();
    assert!(first_row.contains(&format!("<span class=\"keep-whole\">{}</span> <span class=\"muted\">(in progress)</span></td>", this_week.label)), "{first_row}");
    assert_eq!(list.matches("(in progress)").count(), 1, "{list}");
});
