//! Report delivery and notifications against real webhook receivers on loopback: a
//! finished week is produced once, written to the folder and POSTed to a generic and a
//! Slack webhook; a failing webhook is retried, then given up on, visibly; test events
//! arrive batched with dashboard links; a webhook that never answers blocks neither storing
//! nor scoring. Both backends.

mod common;

use std::time::Duration;

use common::api::{await_task, count, get_json, get_text, token, upload_ok};
use common::webhook::{Answer, Receiver};
use common::{no_delivery, ServerOptions, TestDb, TestServer};
use flakewatch::config::DeliverySettings;
use flakewatch::report::webhooks::Webhook;
use flakewatch::report::Period;
use flakewatch::store::tokens::Scope;
use flakewatch::tasks::{queue, JobKind};
use serde_json::Value;

const PUBLIC_URL: &str = "https://ci.example.com/fw";
const QUIET: &str =
    "store_tasks WHERE kind IN ('report', 'deliver') AND status IN ('enqueued', 'running')";

fn delivery(hooks: &[String]) -> DeliverySettings {
    DeliverySettings {
        webhooks: hooks.iter().map(|h| Webhook::parse(h).unwrap()).collect(),
        public_url: Some(PUBLIC_URL.into()),
        ..no_delivery()
    }
}

fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// Waits, without polling on a timer, until `done` holds: every task change (a claim, an
/// end) wakes it to look again. Fails after 60 s.
fn wait_until(server: &TestServer, what: &str, done: impl Fn() -> bool) {
    let mut changes = server.workers.signals.subscribe_changed();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let settled = async {
        while !done() {
            if let Err(tokio::sync::broadcast::error::RecvError::Closed) = changes.recv().await {
                panic!("the workers stopped while waiting for {what}");
            }
        }
    };
    let waited =
        runtime.block_on(async { tokio::time::timeout(Duration::from_secs(60), settled).await });
    waited.unwrap_or_else(|_| panic!("{what} did not happen within 60 s"));
}

/// Makes the project older than last week, so last week's report is due for it.
fn backdate_projects(db: &TestDb) {
    use diesel::RunQueryDsl;
    let mut conn = db.connect();
    diesel::sql_query("UPDATE projects SET created_at = '2026-01-01 00:00:00'")
        .execute(&mut conn)
        .unwrap();
}

/// What the lease keeper does at each tick for reports, then wakes the workers.
fn keeper_enqueues_reports(server: &TestServer, db: &TestDb) -> usize {
    let mut conn = db.connect();
    let added =
        flakewatch::jobs::report::enqueue_when_due(&mut conn, &server.workers.delivery, now())
            .unwrap();
    server.workers.signals.task_enqueued();
    added
}

fn deliveries(server: &TestServer, admin: &str) -> Vec<Value> {
    let (status, body) = get_json(server, admin, "/api/v1/projects/shop/deliveries");
    assert_eq!(status, 200, "{body}");
    body["deliveries"].as_array().unwrap().clone()
}

storage_test!(fn a_finished_week_is_produced_once_to_the_folder_and_both_webhooks(db) {
    let generic = Receiver::start(&[]);
    let slack = Receiver::start(&[]);
    let folder = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(&db, ServerOptions {
        delivery: DeliverySettings {
            report_dir: Some(folder.path().to_path_buf()),
            ..delivery(&[format!("json:{}", generic.url), format!("slack:{}", slack.url)])
        },
        ..Default::default()
    });
    let admin = token(&db, "shop", Scope::Admin);
    backdate_projects(&db);
    let week = Period::last_complete_week(now()).label;

    // Two keepers (or two ticks) at once: one report (counted below). The server's own
    // keeper ticks at start too, and under load that tick may come after the backdating
    // and enqueue the job first.
    keeper_enqueues_reports(&server, &db);
    keeper_enqueues_reports(&server, &db);
    assert!(count(&db, "store_tasks WHERE kind = 'report'") >= 1, "the report job was enqueued");

    let report = generic.next(60);
    assert_eq!(report["type"], "weekly_report");
    assert_eq!(report["project"], "shop");
    assert_eq!(report["week"], week.as_str());
    assert_eq!(report["link"], format!("{PUBLIC_URL}/projects/shop/reports"));
    assert_eq!(report["report"]["project"], "shop", "the full JSON report is inside");
    assert_eq!(report["report"]["period"]["label"], week.as_str());
    let message = slack.next(60);
    let text = message["text"].as_str().expect("a Slack body has `text`");
    assert!(text.starts_with(&format!("shop: CI quality of {week}")), "{text}");
    assert_eq!(message["blocks"][0]["type"], "section");
    let shown = message["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(shown.contains(&format!("<{PUBLIC_URL}/projects/shop/reports|The full report>")), "{shown}");

    for extension in ["html", "md", "csv", "json"] {
        let file = folder.path().join("shop").join(format!("{week}.{extension}"));
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{} was not written: {e}", file.display()));
        // CSV has a row per test (none this week) under its header; the others name the week.
        let expected = if extension == "csv" { "test_id" } else { week.as_str() };
        assert!(text.contains(expected), "{}: {text}", file.display());
    }

    // Every report job ends; none sent anything twice.
    wait_until(&server, "the report and delivery jobs to end", || count(&db, QUIET) == 0);
    assert_eq!(count(&db, "delivery_batches WHERE subject = 'weekly_report'"), 1);
    // Another replica's keeper enqueueing the same week again (after the dedupe index no
    // longer holds it back) produces nothing new.
    assert_eq!(keeper_enqueues_reports(&server, &db), 0, "the week is produced already");
    let mut conn = db.connect();
    let project_id: i64 = {
        use diesel::prelude::*;
        use flakewatch::db::schema::projects;
        projects::table.select(projects::id).first(&mut conn).unwrap()
    };
    let key = format!("report:{project_id}:{week}");
    assert!(queue::enqueue(&mut conn, JobKind::Report, Some(project_id), &key, now()).unwrap());
    server.workers.signals.task_enqueued();
    wait_until(&server, "the second report job to end", || {
        count(&db, "store_tasks WHERE kind = 'report' AND status = 'completed'") >= 2
            && count(&db, QUIET) == 0
    });
    assert_eq!(generic.rest(), Vec::<Value>::new(), "no second delivery");
    assert_eq!(slack.rest(), Vec::<Value>::new(), "no second delivery");

    let listed = deliveries(&server, &admin);
    assert_eq!(listed.len(), 2, "{listed:?}");
    for delivery in &listed {
        assert_eq!(delivery["subject"], "weekly_report");
        assert_eq!(delivery["label"], week.as_str());
        assert_eq!(delivery["status"], "delivered", "{delivery}");
        assert_eq!(delivery["attempts"], 1);
        assert!(delivery["delivered_at"].is_string());
        assert!(!delivery["webhook"].as_str().unwrap().contains("/hook"), "no URL shown");
    }
    // Only admins see deliveries.
    let reader = token(&db, "shop", Scope::Read);
    let (status, body) = get_json(&server, &reader, "/api/v1/projects/shop/deliveries");
    assert_eq!(status, 403, "{body}");
});

storage_test!(fn a_failing_webhook_is_retried_then_given_up_on_visibly(db) {
    // One answers 500 once, then 200; the other always 500.
    let recovers = Receiver::start(&[Answer::Status(500)]);
    let broken = Receiver::start(&[Answer::Status(503); 10]);
    let server = TestServer::start_with(&db, ServerOptions {
        delivery: DeliverySettings {
            webhook_attempts: 3,
            // Retry at once, so the test need not wait out a back-off.
            webhook_backoff_seconds: 0,
            ..delivery(&[format!("json:{}", recovers.url), format!("slack:{}", broken.url)])
        },
        ..Default::default()
    });
    let admin = token(&db, "shop", Scope::Admin);
    backdate_projects(&db);
    keeper_enqueues_reports(&server, &db);

    let first = recovers.next(60);
    let second = recovers.next(60);
    assert_eq!(first, second, "the retry sends the same body");
    for _ in 0..3 {
        assert!(broken.next(60)["text"].is_string());
    }
    wait_until(&server, "the deliveries to settle", || count(&db, QUIET) == 0);
    assert_eq!(recovers.rest().len(), 0, "delivered once, then never again");
    assert_eq!(broken.rest().len(), 0, "no try past the cap of 3");

    let listed = deliveries(&server, &admin);
    let by_kind = |kind: &str| {
        listed
            .iter()
            .find(|d| d["webhook"].as_str().unwrap().starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} delivery in {listed:?}"))
            .clone()
    };
    let ok = by_kind("json:");
    assert_eq!((ok["status"].as_str(), ok["attempts"].as_i64()), (Some("delivered"), Some(2)), "{ok}");
    assert_eq!(ok["last_error"], "answered HTTP 500");
    let failed = by_kind("slack:");
    assert_eq!((failed["status"].as_str(), failed["attempts"].as_i64()), (Some("failed"), Some(3)), "{failed}");
    assert_eq!(failed["last_error"], "answered HTTP 503");
    assert!(failed["delivered_at"].is_null() && failed["next_attempt_at"].is_null());
    assert_eq!(count(&db, "deliveries WHERE status = 'delivered'"), 1);

    // The reports page tells an admin the same, on the week's line (a run this week lists
    // the weeks; the open dashboard on loopback reads as an admin).
    let upload = token(&db, "shop", Scope::Upload);
    let task = upload_ok(&server, &upload, "branch=main&commit=c1&job=unit", flaky_run(&["t"]).as_bytes());
    await_task(&server, &task);
    let (status, page) = get_text(&server, &admin, "/projects/shop/reports");
    assert_eq!(status, 200, "{page}");
    let week = Period::last_complete_week(now()).label;
    let line = page
        .lines()
        .skip_while(|l| !l.contains(&format!("<span class=\"keep-whole\">{week}</span>")))
        .find(|l| l.contains("class=\"delivery"))
        .unwrap_or_else(|| panic!("no delivery cell for {week}: {page}"));
    assert!(line.contains("produced "), "{line}");
    let ok_line = format!("{}: delivered ", ok["webhook"].as_str().unwrap());
    assert!(line.contains(&ok_line) && line.contains("(2 attempts); last error: answered HTTP 500"), "{line}");
    let failed_line = format!(
        "{}: gave up after 3 attempts; last error: answered HTTP 503",
        failed["webhook"].as_str().unwrap()
    );
    assert!(line.contains(&failed_line), "{line}");
    assert!(page.contains("the week has not ended yet"), "this week's line says so: {page}");
});

/// A run where each named test failed, then passed on its retry.
fn flaky_run(names: &[&str]) -> String {
    let cases: String = names
        .iter()
        .map(|name| {
            format!(
                "<testcase classname=\"shop.Cart\" name=\"{name}\" time=\"0.5\">\
                 <flakyFailure message=\"timeout\" type=\"TimeoutError\">stack</flakyFailure></testcase>"
            )
        })
        .collect();
    format!(
        "<testsuite name=\"cart\" tests=\"{}\">{cases}</testsuite>",
        names.len()
    )
}

storage_test!(fn test_events_arrive_batched_with_dashboard_links(db) {
    let generic = Receiver::start(&[]);
    let slack = Receiver::start(&[]);
    let server = TestServer::start_with(&db, ServerOptions {
        delivery: delivery(&[format!("json:{}", generic.url), format!("slack:{}", slack.url)]),
        ..Default::default()
    });
    let upload = token(&db, "shop", Scope::Upload);
    let query = "branch=main&commit=a1&job=unit&pipeline=1";
    let task = upload_ok(&server, &upload, query, flaky_run(&["adds", "totals"]).as_bytes());
    assert_eq!(await_task(&server, &task)["status"], "completed");
    assert_eq!(count(&db, "test_scores WHERE status = 'flaky'"), 2, "both tests are flaky");

    let batch = generic.next(60);
    assert_eq!(batch["type"], "events");
    assert_eq!(batch["project"], "shop");
    let events = batch["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "one message for the scoring pass: {batch}");
    let mut names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["adds", "totals"]);
    for event in events {
        assert_eq!(event["event"], "flaky");
        assert_eq!(event["classname"], "shop.Cart");
        let id = event["test_id"].as_i64().unwrap();
        assert_eq!(event["link"], format!("{PUBLIC_URL}/projects/shop/tests/{id}"));
    }
    let message = slack.next(60);
    assert_eq!(message["text"], "shop: 2 test events");
    let shown = message["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(shown.contains(&format!("<{PUBLIC_URL}/projects/shop/tests/")), "{shown}");
    assert!(shown.contains("|shop.Cart.adds> became flaky"), "{shown}");

    // Still flaky in the next run: no news, nothing sent.
    let again = upload_ok(&server, &upload, "branch=main&commit=a2&job=unit&pipeline=2",
        flaky_run(&["adds", "totals"]).as_bytes());
    assert_eq!(await_task(&server, &again)["status"], "completed");
    wait_until(&server, "deliveries to settle", || count(&db, QUIET) == 0);
    assert_eq!(count(&db, "notification_events"), 2, "each change recorded once");
    assert_eq!(generic.rest(), Vec::<Value>::new());
    assert_eq!(slack.rest(), Vec::<Value>::new());
    assert_eq!(count(&db, "deliveries WHERE status = 'delivered'"), 2);
});

storage_test!(fn a_webhook_that_never_answers_blocks_neither_storing_nor_scoring(db) {
    let silent = Receiver::start(&[Answer::Hang]);
    let server = TestServer::start_with(&db, ServerOptions {
        workers: 2,
        delivery: DeliverySettings {
            // Far longer than the test: the delivery is in flight throughout.
            webhook_timeout_seconds: 300,
            ..delivery(&[format!("json:{}", silent.url)])
        },
        ..Default::default()
    });
    let upload = token(&db, "shop", Scope::Upload);
    let first = upload_ok(&server, &upload, "branch=main&commit=b1&job=unit",
        flaky_run(&["adds"]).as_bytes());
    assert_eq!(await_task(&server, &first)["status"], "completed");
    // The event's delivery reached the webhook, which holds it unanswered...
    assert_eq!(silent.next(60)["events"][0]["event"], "flaky");
    // ...while the next upload is stored and scored.
    let second = upload_ok(&server, &upload, "branch=main&commit=b2&job=unit",
        common::reports::junit("shop", 3, 1).as_bytes());
    let done = await_task(&server, &second);
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["scored_at"].is_string(), "{done}");
    assert_eq!(count(&db, "deliveries WHERE status = 'pending' AND attempts = 0"), 1,
        "the delivery is still in flight");
    // Dropping the receiver (before the server) closes the connection it holds.
    drop(silent);
});

storage_test!(fn an_expired_quarantine_is_announced_once(db) {
    use diesel::prelude::*;
    use flakewatch::db::schema::{quarantines, tests};

    let generic = Receiver::start(&[]);
    let server = TestServer::start_with(&db, ServerOptions {
        delivery: delivery(&[format!("json:{}", generic.url)]),
        ..Default::default()
    });
    let upload = token(&db, "shop", Scope::Upload);
    let task = upload_ok(&server, &upload, "branch=main&commit=q1&job=unit",
        common::reports::junit("shop", 2, 0).as_bytes());
    assert_eq!(await_task(&server, &task)["status"], "completed");
    let mut conn = db.connect();
    let (test_id, project_id): (i64, i64) = tests::table
        .select((tests::id, tests::project_id))
        .order(tests::id)
        .first(&mut conn)
        .unwrap();
    let expired_at = now() - chrono::Duration::minutes(5);
    diesel::insert_into(quarantines::table)
        .values((
            quarantines::project_id.eq(project_id),
            quarantines::test_id.eq(test_id),
            quarantines::owner.eq("ana"),
            quarantines::reason.eq("times out"),
            quarantines::issue_url.eq(""),
            quarantines::created_at.eq(expired_at - chrono::Duration::days(3)),
            quarantines::expires_at.eq(Some(expired_at)),
        ))
        .execute(&mut conn)
        .unwrap();

    // Two keeper ticks: the expiry is recorded once.
    for _ in 0..2 {
        flakewatch::jobs::deliver::enqueue_when_due(&mut conn, &server.workers.delivery, now())
            .unwrap();
        server.workers.signals.task_enqueued();
    }
    let batch = generic.next(60);
    assert_eq!(batch["events"].as_array().unwrap().len(), 1, "{batch}");
    assert_eq!(batch["events"][0]["event"], "quarantine_expired");
    assert_eq!(batch["events"][0]["test_id"], test_id);
    assert_eq!(batch["events"][0]["link"], format!("{PUBLIC_URL}/projects/shop/tests/{test_id}"));
    wait_until(&server, "deliveries to settle", || count(&db, QUIET) == 0);
    flakewatch::jobs::deliver::enqueue_when_due(&mut conn, &server.workers.delivery, now()).unwrap();
    assert_eq!(count(&db, "notification_events WHERE event = 'quarantine_expired'"), 1);
    assert_eq!(count(&db, QUIET), 0, "nothing left to deliver, no job enqueued");
    assert_eq!(generic.rest(), Vec::<Value>::new());
});

/// A run of one test, `shop.Pay.charges`, passing or failing.
fn pay_run(passes: bool) -> String {
    let outcome = if passes {
        ""
    } else {
        "<failure message=\"declined\">stack</failure>"
    };
    format!(
        "<testsuite name=\"pay\" tests=\"1\"><testcase classname=\"shop.Pay\" name=\"charges\" \
         time=\"0.2\">{outcome}</testcase></testsuite>"
    )
}

storage_test!(fn a_test_that_breaks_then_is_fixed_is_news_twice(db) {
    let generic = Receiver::start(&[]);
    let server = TestServer::start_with(&db, ServerOptions {
        delivery: delivery(&[format!("json:{}", generic.url)]),
        ..Default::default()
    });
    let upload = token(&db, "shop", Scope::Upload);
    let mut seen = Vec::new();
    let runs = [true, true, false, false, false, false, true, true, true];
    for (n, passes) in runs.into_iter().enumerate() {
        let query = format!("branch=main&commit=c{n}&job=unit&started_at=2026-11-2{n}T10:00:00Z");
        let task = upload_ok(&server, &upload, &query, pay_run(passes).as_bytes());
        assert_eq!(await_task(&server, &task)["status"], "completed");
        wait_until(&server, "deliveries to settle", || count(&db, QUIET) == 0);
        for batch in generic.rest() {
            for event in batch["events"].as_array().unwrap() {
                seen.push(event["event"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(seen, ["broken", "fixed"], "one event per change, in order");
});
