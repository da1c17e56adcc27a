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

    assert_no_console_errors(&browser);

    // The red run: whose fault is it? Then to the failing test and back.
    browser.click("tr.red td:first-child a");
    assert!(browser.title().starts_with("Run #"), "{}", browser.title());
    let run = browser.text();
    assert!(run.contains("1 test failed"), "counts first: {run}");
    assert!(run.contains("expected 30 but was 0"), "the message: {run}");
    assert_no_console_errors(&browser);
    browser.click_link("app.Cart::totals");
    assert!(browser.title().starts_with("totals"), "{}", browser.title());
    assert_no_console_errors(&browser);
    browser.back();
    assert!(
        browser.title().starts_with("Run #"),
        "back on the run: {}",
        browser.title()
    );

    // The window and the filters are in the address, so a view can be shared.
    browser.click_link("shop");
    browser.click_link("7 days");
    assert!(
        browser.url().ends_with("/projects/shop?days=7"),
        "{}",
        browser.url()
    );
    assert_eq!(
        browser.count("figure.chart svg title"),
        2,
        "two titled charts"
    );
    assert_no_console_errors(&browser);
    browser.click("a.card[href$='status=flaky']");
    assert_eq!(browser.title(), "Tests · shop · flakewatch");
    assert_eq!(browser.count("tbody tr"), 1, "the one flaky test");
    browser.click("select[name=status] option[value='']");
    browser.click("select[name=sort] option[value=name]");
    browser.click("form.filters button[type=submit]");
    browser.wait_for_page("sort=name");
    assert_eq!(browser.count("tbody tr"), 3, "every test, by name");
    assert_no_console_errors(&browser);
    browser.back();
    browser.back();
    browser.back();
    assert_eq!(browser.title(), "shop · flakewatch");

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

    browser.open(&server.url("/projects/shop/runs/999999"));
    assert_eq!(browser.title(), "Not found · flakewatch");
    browser.click_link("Back to the runs of this project");
    assert_eq!(browser.title(), "Runs · shop · flakewatch");
}

/// Fails the test on any console error of the page shown (a 404 for a stylesheet, a
/// script error, a refused inline style).
fn assert_no_console_errors(browser: &Browser) {
    let errors = browser.console_errors();
    assert!(
        errors.is_empty(),
        "console errors on {}: {errors:?}",
        browser.url()
    );
}
