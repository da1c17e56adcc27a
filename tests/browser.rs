//! The dashboard as a person meets it: a real headless Chromium clicking through the pages
//! of a real server. One backend is enough here; the pages' data is tested on both in
//! analysis_api.rs.

mod common;

use common::api::{await_task, token, upload_ok};
use common::browser::Browser;
use common::{TestDb, TestServer};
use flakewatch::store::tokens::Scope;

fn report(retry_failed_first: bool, total_fails: bool) -> String {
    let retry = if retry_failed_first {
        "<flakyFailure message=\"timed out after 30 ms\"/>"
    } else {
        ""
    };
    let total = if total_fails {
        "<failure message=\"expected 30 but was 0\"/>"
    } else {
        ""
    };
    format!(
        "<testsuite name=\"app\">\
         <testcase classname=\"app.Cart\" name=\"adds_items\"/>\
         <testcase classname=\"app.Cart\" name=\"survives_retry\">{retry}</testcase>\
         <testcase classname=\"app.Cart\" name=\"totals\">{total}</testcase>\
         </testsuite>"
    )
}

#[test]
fn a_person_finds_the_flaky_test_and_why() {
    let db = TestDb::sqlite();
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    for run in 0..8 {
        let body = report([2, 5].contains(&run), run == 6);
        let task = upload_ok(
            &server,
            &upload,
            &format!("branch=main&commit=c{run}&job=unit"),
            body.as_bytes(),
        );
        assert_eq!(await_task(&server, &task)["status"], "completed");
    }

    let browser = Browser::start();
    browser.open(&server.url("/"));
    assert_eq!(browser.title(), "Projects · flakewatch");
    browser.click_link("shop");
    assert_eq!(browser.title(), "shop · flakewatch");
    let project = browser.text();
    assert!(project.contains("Flaky tests"), "{project}");
    assert_eq!(browser.count("tr.red"), 1, "the one red run is marked");

    browser.click_link("app.Cart::survives_retry");
    assert!(
        browser.title().starts_with("survives_retry"),
        "{}",
        browser.title()
    );
    let test = browser.text();
    assert_eq!(
        browser.count("p > span.status-flaky"),
        1,
        "labelled flaky: {test}"
    );
    assert!(
        test.contains("passed on an in-run retry"),
        "the evidence says why: {test}"
    );
    assert!(
        test.contains("timed out after"),
        "the failure mode is shown: {test}"
    );

    browser.click_link("Store tasks");
    assert_eq!(browser.title(), "Store tasks · flakewatch");
    assert_eq!(browser.count("span.status-completed"), 8);
}
