//! Dashboard under load: the real `flakewatch serve` (release build) filled by
//! `--demo --demo-size large` (10,000 tests, about 3.3 million results over 90 days, stored
//! and scored by its own workers), then every page and the two busiest API reads each
//! loaded by `wrk` from a second process with 32 connections on loopback. Latencies are
//! wrk's; the baseline is the server's own static stylesheet under the same load in the
//! same run, so each page's p99 is also shown as a ratio to it.
//!
//! ```sh
//! cargo bench --bench dashboard_load                       # SQLite then PostgreSQL, 10 s a page
//! cargo bench --bench dashboard_load -- --postgres         # one backend (or --sqlite)
//! cargo bench --bench dashboard_load -- --size small       # the small demo (a quick check)
//! cargo bench --bench dashboard_load -- --wide             # also a project of 1,000,000 distinct tests
//! cargo bench --bench dashboard_load -- --seconds 20       # longer per page
//! cargo bench --bench dashboard_load -- --no-cold          # skip the page-cache-off tables
//! cargo bench --bench dashboard_load -- --live-every 2     # a CI run every 2 s in the live pass (5)
//! cargo bench --bench dashboard_load -- --no-live          # skip the pass with uploads
//! ```
//!
//! Each page set is loaded twice: through the seeding server, whose page cache computes a
//! URL once and then serves its kept data (cache hits), and through a second server on the
//! same database started with `--page-cache-entries 0`, which computes every request
//! (cold). The two tables must not be confused. A third pass loads the pages through the
//! seeding server again while a CI run of the project's own tests is uploaded every few
//! seconds (live): each run changes the project's data, so every URL misses the cache again
//! after each one, as in use.
//!
//! Needs `wrk` (Debian package `wrk`). On PostgreSQL the bench database logs the plan of
//! every statement slower than 20 ms (`auto_explain`) to the server's log, so slow pages
//! can be explained; during the live pass it also samples what PostgreSQL's backends wait
//! on (`pg_stat_activity`), and the bench prints the server's long waits for a pooled
//! connection. Goals are printed, never asserted.

#![forbid(unsafe_code)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "dashboard_load/live_uploads.rs"]
mod live_uploads;
#[path = "dashboard_load/pg_waits.rs"]
mod pg_waits;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::api::token;
use common::process::{flakewatch, Served};
use common::TestDb;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use flakewatch::store::tokens::Scope;
use live_uploads::LiveUploads;

const PROJECT: &str = "webshop";
const WIDE_PROJECT: &str = "wide";
const WIDE_TESTS: usize = 1_000_000;
const CONNECTIONS: u32 = 32;
/// The goals of the dashboard issue: p99 per page, and per page of a very wide project.
const GOAL_P99_MS: f64 = 50.0;
const GOAL_WIDE_MS: f64 = 200.0;

struct Options {
    backends: Vec<&'static str>,
    seconds: u32,
    size: String,
    wide: bool,
    /// Also load every page through a server without a page cache.
    cold: bool,
    /// Also load every page while a CI run is uploaded this often.
    live_every: Option<Duration>,
}

fn main() {
    let options = options();
    println!("{}", machine());
    for backend in &options.backends {
        let db = match *backend {
            "postgres" => match TestDb::postgres() {
                Some(db) => db,
                None => {
                    eprintln!("PostgreSQL is skipped (FLAKEWATCH_SKIP_PG): no PostgreSQL figures");
                    continue;
                }
            },
            _ => TestDb::sqlite(),
        };
        if *backend == "postgres" {
            log_slow_plans(&db);
        }
        run_backend(&db, backend, &options);
    }
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let backends = match (
        args.iter().any(|a| a == "--sqlite"),
        args.iter().any(|a| a == "--postgres"),
    ) {
        (true, false) => vec!["sqlite"],
        (false, true) => vec!["postgres"],
        _ => vec!["sqlite", "postgres"],
    };
    Options {
        backends,
        seconds: value("--seconds").map_or(10, |s| s.parse().expect("--seconds N")),
        size: value("--size").unwrap_or_else(|| "large".into()),
        wide: args.iter().any(|a| a == "--wide"),
        cold: !args.iter().any(|a| a == "--no-cold"),
        live_every: (!args.iter().any(|a| a == "--no-live")).then(|| {
            Duration::from_secs(
                value("--live-every").map_or(5, |s| s.parse().expect("--live-every S")),
            )
        }),
    }
}

fn run_backend(db: &TestDb, backend: &str, options: &Options) {
    let seeding = Instant::now();
    let mut command = flakewatch(Path::new("."));
    command
        .args(["serve", "--demo", "--demo-size", &options.size])
        .env("DATABASE_URL", &db.url)
        .env("FLAKEWATCH_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn,flakewatch=info");
    let served = Served::start(command);
    served
        .process
        .wait_for_line_within("demo data ready", Duration::from_secs(3 * 3600));
    let seeded_in = seeding.elapsed();
    let read = token(db, PROJECT, Scope::Read);
    let size = data_size(db, PROJECT);
    println!(
        "\n## {backend}: {} tests, {} runs, {} results (demo `{}` stored and scored in {:.0} s)\n",
        size.0,
        size.1,
        size.2,
        options.size,
        seeded_in.as_secs_f64()
    );

    if backend == "postgres" {
        print_hot_updates(db);
    }
    let pages = pages_of(PROJECT, &interesting_ids(db, PROJECT));
    println!("### page cache on: cache hits (each URL computed once, then kept)\n");
    let waits_before = pool_waits(&served);
    println!(
        "{}",
        load_pages(&served, &pages, &read, options, GOAL_P99_MS)
    );
    println!("{}", pool_waits(&served).since(&waits_before));
    if let Some(every) = options.live_every {
        live_pages(db, &served, &pages, &read, options, every);
    }
    if options.cold {
        cold_pages(db, &pages, &read, options, GOAL_P99_MS);
    }

    if options.wide {
        wide_project(db, &served, options);
    }
    served.terminate();
}

/// The same pages through the seeding server while CI uploads a run every `every`.
fn live_pages(
    db: &TestDb,
    served: &Served,
    pages: &[(&'static str, String, Auth)],
    read: &str,
    options: &Options,
    every: Duration,
) {
    let upload = token(db, PROJECT, Scope::Upload);
    let reports = live_uploads::job_reports(db, project_id(db, PROJECT));
    let sampler =
        (db.backend == flakewatch::db::Backend::Postgres).then(|| pg_waits::WaitSampler::start(db));
    let _ = served.process.logged();
    let waits_before = pool_waits(served);
    let live = LiveUploads::start(&served.base_url, &upload, reports, every);
    let table = load_pages(served, pages, read, options, GOAL_P99_MS);
    let uploaded = live.finish();
    if let Some(sampler) = sampler {
        println!("{}", sampler.finish());
    }
    println!("{}", pool_waits(served).since(&waits_before));
    let long_waits = served
        .process
        .logged()
        .into_iter()
        .filter(|line| line.contains("waited long for a database connection"))
        .collect::<Vec<_>>();
    println!(
        "The server logged {} wait(s) of a second or more for a pooled connection.\n",
        long_waits.len()
    );
    for line in long_waits.iter().take(5) {
        println!("    {line}");
    }
    let mut times = uploaded.stored_and_scored_ms;
    times.sort_by(f64::total_cmp);
    let at = |share: f64| times[((times.len() - 1) as f64 * share).round() as usize];
    println!(
        "### page cache on, live: a CI run uploaded every {} s meanwhile\n",
        every.as_secs()
    );
    println!(
        "{} runs uploaded while the pages were loaded, {} of them failed; upload to stored \
         and scored: p50 {:.0} ms, p99 {:.0} ms. Each changed the project's data, so each \
         URL missed the cache again after it.\n",
        times.len(),
        uploaded.failed,
        at(0.5),
        at(0.99)
    );
    println!("{table}");
}

/// The same pages through a second server on the same database with no page cache, so
/// every request is computed (cache misses).
fn cold_pages(
    db: &TestDb,
    pages: &[(&'static str, String, Auth)],
    read: &str,
    options: &Options,
    goal_ms: f64,
) {
    let mut command = flakewatch(Path::new("."));
    command
        .args(["serve", "--page-cache-entries", "0", "--workers", "0"])
        .env("DATABASE_URL", &db.url)
        .env("FLAKEWATCH_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn,flakewatch=info");
    let uncached = Served::start(command);
    println!("### page cache off (`--page-cache-entries 0`): cold, every request computed\n");
    println!("{}", load_pages(&uncached, pages, read, options, goal_ms));
    uncached.terminate();
}

/// A project whose one run has `WIDE_TESTS` distinct tests, uploaded through the API and
/// stored by the same server, then its pages under the same load.
fn wide_project(db: &TestDb, served: &Served, options: &Options) {
    let upload = token(db, WIDE_PROJECT, Scope::Upload);
    let read = token(db, WIDE_PROJECT, Scope::Read);
    let report = gzip(wide_report(WIDE_TESTS).as_bytes());
    let started = Instant::now();
    let url = format!(
        "{}/api/v1/uploads?branch=main&commit=wide1&job=unit",
        served.base_url
    );
    let mut answer = agent()
        .post(&url)
        .header("Authorization", &format!("Bearer {upload}"))
        .send(&report[..])
        .expect("upload the wide report");
    let status = answer.status().as_u16();
    let body: serde_json::Value = answer.body_mut().read_json().expect("upload answer");
    assert_eq!(status, 202, "the wide report was refused: {body}");
    let task = body["task"].as_str().expect("a task token").to_owned();
    let done = await_task(served, &task, &upload);
    assert_eq!(done["status"], "completed", "{done}");
    println!(
        "\n### {WIDE_PROJECT}: one run of {WIDE_TESTS} distinct tests, stored and scored in {:.0} s\n",
        started.elapsed().as_secs_f64()
    );
    let pages = pages_of(WIDE_PROJECT, &interesting_ids(db, WIDE_PROJECT));
    println!("#### {WIDE_PROJECT}, page cache on: cache hits\n");
    println!(
        "{}",
        load_pages(served, &pages, &read, options, GOAL_WIDE_MS)
    );
    if options.cold {
        cold_pages(db, &pages, &read, options, GOAL_WIDE_MS);
    }
}

/// Each page under wrk after the baseline, as a Markdown table.
fn load_pages(
    served: &Served,
    pages: &[(&'static str, String, Auth)],
    read: &str,
    options: &Options,
    goal_ms: f64,
) -> String {
    let base = &served.base_url;
    let baseline = wrk(base, "/static/flakewatch.css", None, options.seconds);
    let mut table = header();
    row(
        &mut table,
        "baseline: /static/flakewatch.css",
        &baseline,
        &baseline,
        goal_ms,
    );
    for (name, path, auth) in pages {
        let token = (*auth == Auth::Read).then_some(read);
        let figures = wrk(base, path, token, options.seconds);
        row(
            &mut table,
            &format!("{name}: `{path}`"),
            &figures,
            &baseline,
            goal_ms,
        );
    }
    table
}

/// The server's `flakewatch_db_pool_wait_seconds` histogram: (upper bound, count) per
/// bucket, cumulative as Prometheus writes them.
struct PoolWaits(Vec<(String, f64)>);

fn pool_waits(served: &Served) -> PoolWaits {
    let mut answer = agent()
        .get(&format!("{}/metrics", served.base_url))
        .call()
        .expect("scrape /metrics");
    let text = answer.body_mut().read_to_string().expect("metrics text");
    PoolWaits(
        text.lines()
            .filter_map(|line| line.strip_prefix("flakewatch_db_pool_wait_seconds_bucket{le=\""))
            .filter_map(|rest| rest.split_once("\"} "))
            .map(|(bound, count)| (bound.to_owned(), count.parse().unwrap_or(0.0)))
            .collect(),
    )
}

impl PoolWaits {
    /// The waits between `before` and now, as a sentence.
    fn since(&self, before: &PoolWaits) -> String {
        let counts: Vec<(&str, f64)> = self
            .0
            .iter()
            .zip(&before.0)
            .map(|((bound, now), (_, then))| (bound.as_str(), now - then))
            .collect();
        let total = counts.last().map_or(0.0, |(_, n)| *n);
        let mut text = format!("{total:.0} database calls took a pooled connection meanwhile");
        for (bound, within) in counts
            .iter()
            .filter(|(b, _)| ["0.005", "0.05", "0.25", "1"].contains(b))
        {
            let _ = write!(text, "; {:.0} waited over {bound} s", total - within);
        }
        text.push_str(".\n");
        text
    }
}

/// Waits for a task to end through the API's long poll (no sleeping in between).
fn await_task(served: &Served, task: &str, token: &str) -> serde_json::Value {
    loop {
        let url = format!("{}/api/v1/tasks/{task}?wait=600", served.base_url);
        let mut answer = agent()
            .get(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .expect("task status");
        let body: serde_json::Value = answer.body_mut().read_json().expect("task JSON");
        if matches!(
            body["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        ) {
            return body;
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(3600)))
        .build()
        .into()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

fn wide_report(tests: usize) -> String {
    let mut xml = String::with_capacity(tests * 90);
    xml.push_str("<testsuites><testsuite name=\"wide\">\n");
    for i in 0..tests {
        let _ = writeln!(
            xml,
            "<testcase classname=\"pkg{}.Case{}\" name=\"test_{i}\" time=\"0.001\"/>",
            i % 97,
            i % 1013
        );
    }
    xml.push_str("</testsuite></testsuites>\n");
    xml
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    None,
    Read,
}

struct Ids {
    flaky_test: i64,
    red_run: i64,
    commit: String,
}

/// Every dashboard page, with the ids of a real flaky test and red run, plus the two
/// busiest API reads.
fn pages_of(project: &str, ids: &Ids) -> Vec<(&'static str, String, Auth)> {
    let p = format!("/projects/{project}");
    vec![
        ("home", "/".into(), Auth::None),
        ("project, last 30 days of data", p.clone(), Auth::None),
        (
            "project, 90 days, job filter",
            format!("{p}?days=90&job=job-1"),
            Auth::None,
        ),
        ("tests", format!("{p}/tests"), Auth::None),
        (
            "tests, flaky, searched",
            format!("{p}/tests?status=flaky&search=test"),
            Auth::None,
        ),
        // Text that few names hold, and text that none does: without an index of the
        // names, each reads every name of the project.
        (
            "tests, searched: rare text",
            format!("{p}/tests?search=test_4242"),
            Auth::None,
        ),
        (
            "tests, searched: no match",
            format!("{p}/tests?search=nothing-like-it"),
            Auth::None,
        ),
        ("test", format!("{p}/tests/{}", ids.flaky_test), Auth::None),
        ("runs", format!("{p}/runs"), Auth::None),
        (
            "red runs of a branch",
            format!("{p}/runs?outcome=red&branch=main"),
            Auth::None,
        ),
        ("run", format!("{p}/runs/{}", ids.red_run), Auth::None),
        ("commit", format!("{p}/commits/{}", ids.commit), Auth::None),
        ("reports", format!("{p}/reports"), Auth::None),
        ("tasks", "/tasks".into(), Auth::None),
        (
            "API tests",
            format!("/api/v1/projects/{project}/tests?limit=100"),
            Auth::Read,
        ),
        (
            "API metrics",
            format!("/api/v1/projects/{project}/metrics"),
            Auth::Read,
        ),
    ]
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Sha {
    #[diesel(sql_type = Text)]
    commit_sha: String,
}

/// The project's costliest test (its flakiest, when it has flaky tests) and newest red run
/// (or newest run), and that run's commit.
fn interesting_ids(db: &TestDb, project: &str) -> Ids {
    let mut conn = db.connect();
    let project_id = project_id(db, project);
    let flaky_test = diesel::sql_query(format!(
        "SELECT t.id AS id FROM tests t JOIN test_scores s ON s.test_id = t.id \
         WHERE t.project_id = {project_id} \
         ORDER BY (s.status = 'flaky') DESC, s.score DESC, t.id LIMIT 1"
    ))
    .get_result::<Id>(&mut conn)
    .expect("a scored test")
    .id;
    let red_run = diesel::sql_query(format!(
        "SELECT id FROM runs WHERE project_id = {project_id} \
         ORDER BY (failed + errors > 0) DESC, started_at DESC LIMIT 1"
    ))
    .get_result::<Id>(&mut conn)
    .expect("a run")
    .id;
    let commit = diesel::sql_query(format!("SELECT commit_sha FROM runs WHERE id = {red_run}"))
        .get_result::<Sha>(&mut conn)
        .expect("its commit")
        .commit_sha;
    Ids {
        flaky_test,
        red_run,
        commit,
    }
}

fn project_id(db: &TestDb, project: &str) -> i64 {
    let mut conn = db.connect();
    diesel::sql_query("SELECT id FROM projects WHERE name = $1")
        .bind::<Text, _>(project)
        .get_result::<Id>(&mut conn)
        .expect("the project")
        .id
}

/// Tests, runs and results of a project.
fn data_size(db: &TestDb, project: &str) -> (i64, i64, i64) {
    let id = project_id(db, project);
    let count = |sql: String| common::api::count(db, &sql);
    (
        count(format!("tests WHERE project_id = {id}")),
        count(format!("runs WHERE project_id = {id}")),
        count(format!(
            "results WHERE run_id IN (SELECT id FROM runs WHERE project_id = {id})"
        )),
    )
}

/// How many updates of the scorer's tables were HOT (no index entries written): an index
/// on a column that changes at every run would show here as a falling share.
fn print_hot_updates(db: &TestDb) {
    #[derive(QueryableByName)]
    struct Updates {
        #[diesel(sql_type = Text)]
        relname: String,
        #[diesel(sql_type = BigInt)]
        updates: i64,
        #[diesel(sql_type = BigInt)]
        hot: i64,
    }
    let rows: Vec<Updates> = diesel::sql_query(
        "SELECT relname::text AS relname, n_tup_upd AS updates, n_tup_hot_upd AS hot \
         FROM pg_stat_user_tables WHERE relname IN ('test_scores', 'test_states') ORDER BY 1",
    )
    .load(&mut db.connect())
    .expect("read pg_stat_user_tables");
    for row in rows {
        let share = 100.0 * row.hot as f64 / row.updates.max(1) as f64;
        println!(
            "{}: {} updates, {} HOT ({share:.1} %)",
            row.relname, row.updates, row.hot
        );
    }
    println!();
}

/// Logs the plan of every statement slower than 20 ms in the bench database, so the
/// server's log shows where a slow page spends its time.
fn log_slow_plans(db: &TestDb) {
    let name = db.url.rsplit('/').next().expect("a database name");
    let mut conn = db.connect();
    for setting in [
        "session_preload_libraries = 'auto_explain'",
        "auto_explain.log_min_duration = '20ms'",
        "auto_explain.log_analyze = on",
    ] {
        diesel::sql_query(format!("ALTER DATABASE \"{name}\" SET {setting}"))
            .execute(&mut conn)
            .expect("auto_explain settings");
    }
}

/// What wrk measured for one URL.
struct Figures {
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

fn wrk(base: &str, path: &str, token: Option<&str>, seconds: u32) -> Figures {
    let mut command = Command::new("wrk");
    command.args([
        "-t2",
        &format!("-c{CONNECTIONS}"),
        &format!("-d{seconds}s"),
        "--latency",
        "--timeout",
        "10s",
    ]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let output = command
        .arg(format!("{base}{path}"))
        .output()
        .expect("run wrk (Debian package `wrk`)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    parse_wrk(&text)
}

/// Reads wrk's `--latency` summary: the 50% and 99% lines, Requests/sec, and every non-2xx
/// answer, socket error or timeout as an error.
fn parse_wrk(text: &str) -> Figures {
    let mut figures = Figures {
        requests_per_s: 0.0,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        errors: 0,
    };
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", latency] => figures.p50_ms = millis(latency),
            ["99%", latency] => figures.p99_ms = millis(latency),
            ["Requests/sec:", rate] => figures.requests_per_s = rate.parse().unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n] => figures.errors += n.parse().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                figures.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    figures
}

/// wrk's latency with its unit (`812.00us`, `3.21ms`, `1.20s`) in milliseconds.
fn millis(text: &str) -> f64 {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => f64::NAN,
    }
}

fn header() -> String {
    "| page | requests/s | p50 (ms) | p99 (ms) | p99 / baseline p99 | errors | goal |\n\
     |---|---:|---:|---:|---:|---:|---|\n"
        .to_owned()
}

fn row(table: &mut String, name: &str, f: &Figures, baseline: &Figures, goal_ms: f64) {
    // wrk prints zero latencies when no request was answered within its timeout.
    let verdict = if f.requests_per_s < 0.5 {
        "**no answer** (each over 10 s)".to_owned()
    } else if f.errors > 0 {
        "errors".to_owned()
    } else if f.p99_ms < goal_ms {
        format!("met (< {goal_ms} ms)")
    } else {
        format!("**not met** (< {goal_ms} ms)")
    };
    let _ = writeln!(
        table,
        "| {name} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {verdict} |",
        f.requests_per_s,
        f.p50_ms,
        f.p99_ms,
        f.p99_ms / baseline.p99_ms,
        f.errors
    );
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "# Dashboard load: {cores} cores, load average at start {}, {CONNECTIONS} wrk connections",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}
