//! The per-day rollups that window figures are read from, on both backends: after real
//! uploads (jobs, reruns after false alarms, pipelines without an id, two branches, runs
//! on several days, uploads out of start order), the summary merged from the rollups is
//! the summary computed from the runs themselves, for every filter; the store tasks' times
//! and each test's passing durations likewise; a rescore writes the same rollups again;
//! the metrics API answers from them.

mod common;

use std::path::Path;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use common::api::{await_task, get_json, token, upload_ok};
use common::process::{flakewatch, Served};
use common::{TestDb, TestServer};
use diesel::prelude::*;
use flakewatch::analysis::summary::Summary;
use flakewatch::analysis::Params;
use flakewatch::store::ci_metrics::{self, Window};
use flakewatch::store::duration_days;
use flakewatch::store::task_rollups::{self, TaskHistograms};
use flakewatch::store::tokens::Scope;
use flakewatch::store::{impact, projects, retention, scores};

/// One job run to upload.
struct Job {
    pipeline: String,
    commit: String,
    branch: &'static str,
    job: &'static str,
    attempt: u32,
    runner: &'static str,
    start: NaiveDateTime,
    minutes: i64,
    /// Failed tests: `wobbly` (made flaky by retries) or `regressed` (broken).
    failing: &'static [&'static str],
}

fn day(n: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 10, n)
        .unwrap()
        .and_time(NaiveTime::MIN)
}

fn report(job: &Job) -> String {
    let mut xml = String::from("<testsuite name=\"app\">");
    for (index, name) in ["steady", "wobbly", "regressed"].into_iter().enumerate() {
        // Durations that differ by test and run, for the duration rollups.
        let seconds = 0.05 * (index as i64 + 1 + job.minutes % 7) as f64;
        let case = format!("<testcase classname=\"app.Suite\" name=\"{name}\" time=\"{seconds}\"");
        if job.failing.contains(&name) {
            xml.push_str(&format!("{case}><failure message=\"no\"/></testcase>"));
        } else if name == "wobbly" {
            // Passes on an in-run retry: evidence that makes it flaky.
            xml.push_str(&format!(
                "{case}><flakyFailure message=\"timed out\"/></testcase>"
            ));
        } else {
            xml.push_str(&format!("{case}/>"));
        }
    }
    xml.push_str("</testsuite>");
    xml
}

fn query(job: &Job) -> String {
    let time = |at: NaiveDateTime| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    format!(
        "branch={}&default_branch=main&commit={}&job={}&attempt={}&pipeline={}&runner={}\
         &started_at={}&finished_at={}",
        job.branch,
        job.commit,
        job.job,
        job.attempt,
        job.pipeline,
        job.runner,
        time(job.start),
        time(job.start + Duration::minutes(job.minutes)),
    )
}

/// Four days of pipelines with unit and e2e jobs; e2e sometimes fails on the flaky test
/// and is rerun, and from pipeline 8 on fails on the broken one; every third pipeline sends
/// no id (its commit groups its runs); pipeline 5 is on a feature branch; pipeline 7 runs
/// past midnight.
fn history() -> Vec<Job> {
    let mut jobs = Vec::new();
    for p in 0..12u32 {
        let start = day(1 + p / 3) + Duration::hours(9 + i64::from(p % 3) * 5);
        let start = if p == 7 {
            day(3) + Duration::minutes(23 * 60 + 50)
        } else {
            start
        };
        let pipeline = if p % 3 == 2 {
            String::new()
        } else {
            format!("pl-{p}")
        };
        let commit = format!("c{p:02}");
        let branch = if p == 5 { "feature/x" } else { "main" };
        let job = |name, attempt, offset, minutes, runner, failing| Job {
            pipeline: pipeline.clone(),
            commit: commit.clone(),
            branch,
            job: name,
            attempt,
            runner,
            start: start + Duration::minutes(offset),
            minutes,
            failing,
        };
        jobs.push(job("unit", 1, 0, 3 + i64::from(p % 4), "linux", &[]));
        // `regressed` breaks from pipeline 8 on: its reruns fail too.
        let (e2e_fails, rerun_fails): (&'static [&'static str], &'static [&'static str]) =
            match (p % 4, p >= 8) {
                (1, false) => (&["wobbly"], &[]),
                (1, true) => (&["wobbly", "regressed"], &["regressed"]),
                (_, true) => (&["regressed"], &["regressed"]),
                _ => (&[], &[]),
            };
        jobs.push(job(
            "e2e",
            1,
            1,
            12 + i64::from(p),
            "linux-large",
            e2e_fails,
        ));
        if !e2e_fails.is_empty() {
            jobs.push(job(
                "e2e",
                2,
                20 + i64::from(p),
                11,
                "linux-large",
                rerun_fails,
            ));
        }
    }
    jobs
}

/// The window's summary from the rollups (what pages read) and from its runs.
fn both_ways(db: &TestDb, project_id: i64, window: &Window) -> (Summary, Summary) {
    let mut conn = db.connect();
    let rolled = ci_metrics::summary(&mut conn, project_id, window).unwrap();
    let runs = ci_metrics::run_records(&mut conn, project_id, window).unwrap();
    (rolled, Summary::of_runs(&runs))
}

fn windows() -> Vec<(&'static str, Window)> {
    let whole = |since: Option<u32>, until: Option<u32>| Window {
        since: since.map(day),
        until: until.map(day),
        ..Window::default()
    };
    vec![
        ("every day", whole(None, None)),
        ("days 1 and 2", whole(Some(1), Some(3))),
        (
            "branch main",
            Window {
                branch: Some("main".into()),
                ..whole(None, None)
            },
        ),
        (
            "job e2e on main",
            Window {
                branch: Some("main".into()),
                job: Some("e2e".into()),
                ..whole(None, None)
            },
        ),
        (
            "job unit from day 4",
            Window {
                job: Some("unit".into()),
                ..whole(Some(4), None)
            },
        ),
    ]
}

storage_test!(fn window_figures_from_the_day_rollups_equal_those_from_the_runs(db) {
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    let mut jobs = history();
    // Day 2's first pipeline arrives after day 3's: scoring order is not start order.
    jobs.swap(5, 9);
    for job in &jobs {
        let task = upload_ok(&server, &upload, &query(job), report(job).as_bytes());
        assert_eq!(await_task(&server, &task)["status"], "completed");
    }
    let project_id = projects::find(&mut db.connect(), "shop")
        .unwrap()
        .unwrap()
        .id;
    let mut before_rescore = Vec::new();
    for (name, window) in windows() {
        let (rolled, exact) = both_ways(&db, project_id, &window);
        assert!(rolled.counts.runs > 0, "{name}: no runs");
        assert_eq!(rolled, exact, "{name}");
        before_rescore.push(rolled);
    }
    // What the figures hold: 12 pipelines, false alarms and broken runs, reruns after both.
    let (all, _) = both_ways(&db, project_id, &windows()[0].1);
    assert_eq!(all.counts.runs, jobs.len() as i64);
    assert_eq!(all.spans.feedback.count(), 12);
    let rerun_time = all.by_runner["linux-large"];
    assert!(rerun_time.rerun_ms > 0 && rerun_time.rerun_after_flaky_ms > 0);
    assert!(all.counts.red_flaky_only > 0 && all.counts.red_broken > 0, "{:?}", all.counts);

    // The store tasks' stage times, by the day they were received (today): the same from
    // the rollups as from the tasks, one of each time per upload.
    let tasks_rolled = task_times(&db, project_id);
    assert_eq!(tasks_rolled.queue.count(), jobs.len());
    assert_eq!(tasks_rolled.store.count(), jobs.len());
    assert_eq!(tasks_rolled.scoring.count(), jobs.len());
    let mut tasks_exact = TaskHistograms::default();
    for task in task_rollups::completed_tasks(&mut db.connect(), project_id, None, None).unwrap() {
        tasks_exact.add(&task);
    }
    assert_eq!(tasks_rolled, tasks_exact);

    // Each test's passing durations, from its days and from its results.
    let (first, last) = (day(1).date(), day(5).date());
    let durations = duration_days::from_days(&mut db.connect(), project_id, first, last).unwrap();
    let scanned = duration_days::from_results(&mut db.connect(), project_id, day(1), day(6)).unwrap();
    assert_eq!(durations.len(), 3, "{durations:?}");
    assert_eq!(durations, scanned);
    let noon = day(2) + Duration::hours(12);
    let from_noon = duration_days::from_results(&mut db.connect(), project_id, noon, day(6)).unwrap();
    let steady = test_id(&db, project_id, "steady");
    assert!(from_noon[&steady].1 < durations[&steady].1, "a period from noon has fewer");

    // A rescore drops the rollups and writes them again from the scored runs and tasks.
    let now = chrono::Utc::now().naive_utc();
    scores::rescore_project(&mut db.connect(), project_id, &Params::default(), now, |_, _| {})
        .unwrap();
    for ((name, window), before) in windows().into_iter().zip(before_rescore) {
        let (rolled, _) = both_ways(&db, project_id, &window);
        assert_eq!(rolled, before, "{name} after the rescore");
    }
    assert_eq!(task_times(&db, project_id), tasks_rolled, "task times after the rescore");
    let again = duration_days::from_days(&mut db.connect(), project_id, first, last).unwrap();
    assert_eq!(again, durations, "durations after the rescore");

    // The metrics API answers from the rollups for whole days, and from the runs for a
    // window that starts at another time: both count the same runs.
    let read = token(&db, "shop", Scope::Read);
    let (status, whole_days) = get_json(&server, &read, "/api/v1/projects/shop/metrics?since=2026-10-02T00:00:00Z&until=2026-10-04T00:00:00Z");
    assert_eq!(status, 200, "{whole_days}");
    let (status, from_noon) = get_json(&server, &read, "/api/v1/projects/shop/metrics?since=2026-10-01T12:00:00Z&until=2026-10-04T00:00:00Z");
    assert_eq!(status, 200, "{from_noon}");
    let runs_on = |first: u32, last: u32, from_hour: u32| {
        jobs.iter()
            .filter(|j| j.start >= day(first) + Duration::hours(from_hour.into()) && j.start < day(last + 1))
            .count()
    };
    assert_eq!(whole_days["runs"], runs_on(2, 3, 0), "{whole_days}");
    assert_eq!(from_noon["runs"], runs_on(1, 3, 12), "{from_noon}");
    assert_eq!(
        whole_days["promptness"]["minutes_per_pipeline"]["count"], 6,
        "{whole_days}"
    );
    // Every upload was received in the last hour: a window from an hour ago (not whole
    // days, so read from the tasks) holds each of them.
    let hour_ago = (chrono::Utc::now() - Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let (status, recent) = get_json(&server, &read, &format!("/api/v1/projects/shop/metrics?since={hour_ago}"));
    assert_eq!(status, 200, "{recent}");
    assert_eq!(recent["promptness"]["queue_ms"]["count"], jobs.len(), "{recent}");
});

fn test_id(db: &TestDb, project_id: i64, name: &str) -> i64 {
    use flakewatch::db::schema::tests;
    tests::table
        .filter(tests::project_id.eq(project_id))
        .filter(tests::name.eq(name))
        .select(tests::id)
        .first(&mut db.connect())
        .unwrap()
}

/// The project's store-task times over every day, from the rollups.
fn task_times(db: &TestDb, project_id: i64) -> TaskHistograms {
    ci_metrics::task_timings(&mut db.connect(), project_id, &Window::default()).unwrap()
}

storage_test!(fn a_database_from_before_the_rollups_gets_them_when_serve_starts(db) {
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    let jobs = history();
    for job in &jobs[..8] {
        let task = upload_ok(&server, &upload, &query(job), report(job).as_bytes());
        assert_eq!(await_task(&server, &task)["status"], "completed");
    }
    server.shut_down();
    let mut conn = db.connect();
    let project_id = projects::find(&mut conn, "shop").unwrap().unwrap().id;
    let filled = task_times(&db, project_id);
    let (summary, _) = both_ways(&db, project_id, &Window::default());
    // As the migration leaves a database scored before the rollups: none, and a rescore asked.
    for table in ["run_days", "span_days", "pipeline_spans", "task_days"] {
        diesel::sql_query(format!("DELETE FROM {table}")).execute(&mut conn).unwrap();
    }
    diesel::sql_query("UPDATE projects SET rescore_requested = TRUE").execute(&mut conn).unwrap();
    assert_eq!(task_times(&db, project_id), TaskHistograms::default());

    let mut command = flakewatch(Path::new("."));
    command
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("FLAKEWATCH_BIND", "127.0.0.1:0")
        .env("FLAKEWATCH_WORKERS", "1");
    let served = Served::start(command);
    served.process.wait_for_line("rescored the project's history");
    let (again, _) = both_ways(&db, project_id, &Window::default());
    assert_eq!(again, summary);
    assert_eq!(task_times(&db, project_id), filled);
    served.terminate();
});

/// Each run's red breakdown as scoring stored it, for runs started before `until`.
fn breakdowns(
    db: &TestDb,
    project_id: i64,
    until: NaiveDateTime,
) -> Vec<(i64, i32, i32, i32, i64)> {
    use flakewatch::db::schema::runs;
    runs::table
        .filter(runs::project_id.eq(project_id))
        .filter(runs::started_at.lt(until))
        .order(runs::id)
        .select((
            runs::id,
            runs::red_flaky,
            runs::red_broken,
            runs::red_other,
            runs::flaky_retry_ms,
        ))
        .load(&mut db.connect())
        .unwrap()
}

// Retention purges old results but keeps runs and rollups; a rescore then replays runs
// without their results. It must not zero what those runs had: their red breakdown, their
// days' window figures, impact and passing durations stay as scoring left them.
storage_test!(fn a_rescore_after_a_retention_purge_keeps_what_the_purged_runs_had(db) {
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    for job in &history() {
        let task = upload_ok(&server, &upload, &query(job), report(job).as_bytes());
        assert_eq!(await_task(&server, &task)["status"], "completed");
    }
    let project_id = projects::find(&mut db.connect(), "shop").unwrap().unwrap().id;
    let first_days = windows().into_iter().find(|(name, _)| *name == "days 1 and 2").unwrap().1;
    let (figures_before, _) = both_ways(&db, project_id, &first_days);
    let (first, last) = (day(1).date(), day(5).date());
    let durations_before = duration_days::from_days(&mut db.connect(), project_id, first, last).unwrap();
    let purged_days_impact = || impact::over_window(&mut db.connect(), project_id, first, Some(day(4).date())).unwrap();
    let impact_before = purged_days_impact();
    assert!(impact_before.values().any(|i| i.flaky_failures > 0), "{impact_before:?}");

    // Purge the results of every run started before noon of day 3 (part of a day).
    let cutoff = day(3) + Duration::hours(12);
    let purged_runs = breakdowns(&db, project_id, cutoff);
    let red: i32 = purged_runs.iter().map(|(_, flaky, broken, other, _)| flaky + broken + other).sum();
    assert!(red > 0, "the purged runs include red ones: {purged_runs:?}");
    let mut conn = db.connect();
    while retention::purge_results_step(&mut conn, project_id, cutoff).unwrap() > 0 {}
    assert_eq!(retention::newest_purged_day(&mut conn, project_id).unwrap(), Some(day(3).date()));

    let now = chrono::Utc::now().naive_utc();
    scores::rescore_project(&mut conn, project_id, &Params::default(), now, |_, _| {}).unwrap();
    assert_eq!(breakdowns(&db, project_id, cutoff), purged_runs, "the purged runs' breakdowns");
    assert_eq!(both_ways(&db, project_id, &first_days).0, figures_before, "days 1 and 2");
    let durations = duration_days::from_days(&mut db.connect(), project_id, first, last).unwrap();
    assert_eq!(durations, durations_before, "passing durations, purged days and later ones");
    assert_eq!(purged_days_impact(), impact_before, "impact of the days with purged results");
});
