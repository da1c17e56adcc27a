//! The dashboard as a person meets it: a real headless Chromium clicking through the pages
//! of a real server. One backend is enough here; the pages' data is tested on both in
//! analysis_api.rs and dashboard.rs. Screenshots of every page, wide and 400 px, go to
//! `target/screenshots/` (CI keeps that folder).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

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

/// Eight runs of project `shop`: `survives_retry` passes on a retry twice (flaky), `totals`
/// fails once (the one red run).
fn seeded() -> (TestDb, TestServer) {
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
    (db, server)
}

#[test]
fn a_person_finds_the_flaky_test_and_why() {
    let (_db, server) = seeded();

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
        5,
        "five titled charts"
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
    assert_eq!(browser.count("td span.status-completed"), 8);

    browser.open(&server.url("/projects/shop/runs/999999"));
    assert_eq!(browser.title(), "Not found · flakewatch");
    browser.click_link("Back to the runs of this project");
    assert_eq!(browser.title(), "Runs · shop · flakewatch");
}

#[test]
fn every_page_opens_clean_its_links_answer_and_it_is_photographed() {
    let (_db, server) = seeded();
    let browser = Browser::start();
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();

    // The pages behind ids are found as a person finds them: by following links.
    browser.open(&server.url("/projects/shop"));
    let first_link = |prefix: &str| {
        browser
            .links()
            .into_iter()
            .find(|href| {
                href.strip_prefix(&server.base_url)
                    .is_some_and(|path| path.starts_with(prefix))
            })
            .unwrap_or_else(|| panic!("no link to {prefix}"))
    };
    let run = first_link("/projects/shop/runs/");
    let test = first_link("/projects/shop/tests/");
    let commit = first_link("/projects/shop/commits/");
    let pages = [
        ("home", server.url("/")),
        ("project", server.url("/projects/shop")),
        (
            "project-7-days-unit",
            server.url("/projects/shop?days=7&job=unit"),
        ),
        ("tests", server.url("/projects/shop/tests")),
        ("test", test),
        ("runs", server.url("/projects/shop/runs")),
        ("run", run),
        ("commit", commit),
        ("reports", server.url("/projects/shop/reports")),
        ("tasks", server.url("/tasks")),
        ("login", server.url("/login")),
    ];
    let mut links = BTreeSet::new();
    for (name, url) in &pages {
        browser.resize(1280, 900);
        browser.open(url);
        assert!(!browser.title().starts_with("Not found"), "{name}: {url}");
        assert_no_console_errors(&browser);
        links.extend(
            browser
                .links()
                .into_iter()
                .filter(|href| href.starts_with(&server.base_url)),
        );
        // On a wide screen every table reads without scrolling sideways, but the store
        // queue's: its thirteen columns (tokens, timings, workers) scroll by design.
        if *name != "tasks" {
            let too_wide = browser.tables_wider_than_the_page();
            assert!(
                too_wide.is_empty(),
                "{name}: tables cut off at 1280 px: {too_wide:?}"
            );
        }
        browser.screenshot(&shots.join(format!("{name}-wide.png")));
        browser.resize(400, 900);
        // Tables scroll sideways on a phone, but the reports' downloads must not need to.
        if *name == "reports" {
            let too_wide = browser.tables_wider_than_the_page();
            assert!(
                too_wide.is_empty(),
                "reports: downloads cut off at 400 px: {too_wide:?}"
            );
        }
        browser.screenshot(&shots.join(format!("{name}-400px.png")));
        assert_no_console_errors(&browser);
    }
    for (name, _) in &pages {
        for width in ["wide", "400px"] {
            let png = std::fs::read(shots.join(format!("{name}-{width}.png"))).unwrap();
            assert!(png.starts_with(b"\x89PNG"), "{name}-{width} is a PNG");
        }
    }
    // No broken link anywhere: every address a page links to answers.
    assert!(links.len() > 20, "{links:?}");
    for href in &links {
        let status = common::http().get(href).call().unwrap().status().as_u16();
        assert_eq!(status, 200, "a broken link: {href}");
    }
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
