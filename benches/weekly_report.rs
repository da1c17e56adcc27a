//! The weekly report on a year of history: `flakewatch serve --demo --demo-size year`
//! stores and scores a simulated year (2,000 tests, about 2.5 million results) through its
//! own workers; then the real `flakewatch report weekly` command (a fresh process each
//! time, as a cron job or a user runs it) writes the last complete week and the whole year
//! in every format: the year once in whole days (read from the per-day rollups) and once to
//! the second (computed from its runs and results). Each is run three times; the median wall time is shown beside a
//! baseline measured in the same run on the same database: one plain SQL pass over the
//! period's results (count and total duration), the least any report of that period could
//! read if it scanned results.
//!
//! ```sh
//! cargo bench --bench weekly_report                 # SQLite then PostgreSQL
//! cargo bench --bench weekly_report -- --postgres   # one backend (or --sqlite)
//! cargo bench --bench weekly_report -- --size small # the small demo (a quick check)
//! ```
//!
//! The goal (a report of a year of history in under 2 s) is printed, never asserted.

#![forbid(unsafe_code)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, SecondsFormat};
use common::process::{flakewatch, Served};
use common::TestDb;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Timestamp};

const PROJECT: &str = "webshop";
const GOAL_MS: f64 = 2000.0;
const REPEATS: usize = 3;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size = args
        .iter()
        .position(|a| a == "--size")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "year".into());
    let backends = match (
        args.iter().any(|a| a == "--sqlite"),
        args.iter().any(|a| a == "--postgres"),
    ) {
        (true, false) => vec!["sqlite"],
        (false, true) => vec!["postgres"],
        _ => vec!["sqlite", "postgres"],
    };
    for backend in backends {
        let db = if backend == "postgres" {
            match TestDb::postgres() {
                Some(db) => db,
                None => {
                    eprintln!("PostgreSQL is skipped (FLAKEWATCH_SKIP_PG)");
                    continue;
                }
            }
        } else {
            TestDb::sqlite()
        };
        run_backend(&db, backend, &size);
    }
}

fn run_backend(db: &TestDb, backend: &str, size: &str) {
    let seeding = Instant::now();
    let mut command = flakewatch(Path::new("."));
    command
        .args(["serve", "--demo", "--demo-size", size])
        .env("DATABASE_URL", &db.url)
        .env("FLAKEWATCH_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn,flakewatch=info");
    let served = Served::start(command);
    served
        .process
        .wait_for_line_within("demo data ready", Duration::from_secs(3 * 3600));
    // The report reads the database alone: the server is stopped so nothing else runs.
    served.terminate();
    let (first, last, runs, results) = history(db);
    println!(
        "\n## {backend}: demo `{size}`, {runs} runs and {results} results from {} to {} \
         (stored and scored in {:.0} s)\n",
        first.format("%Y-%m-%d"),
        last.format("%Y-%m-%d"),
        seeding.elapsed().as_secs_f64()
    );

    let folder = tempfile::tempdir().expect("a temporary folder");
    let year_since = last - chrono::Duration::days(365);
    // The same year in whole days (midnight to midnight, UTC): read from the per-day
    // rollups; the one above, to the second, is computed from its runs and results.
    let midnight = |at: NaiveDateTime| at.date().and_time(chrono::NaiveTime::MIN);
    let days_since = midnight(year_since);
    let days_until = midnight(last) + chrono::Duration::days(1);
    let periods: [(&str, Vec<String>, NaiveDateTime); 3] = [
        (
            "last complete week",
            Vec::new(),
            last - chrono::Duration::days(14),
        ),
        (
            "the whole year, to the second",
            vec![
                "--since".into(),
                stamp(year_since),
                "--until".into(),
                stamp(last + chrono::Duration::seconds(1)),
            ],
            year_since,
        ),
        (
            "the whole year, whole days",
            vec![
                "--since".into(),
                stamp(days_since),
                "--until".into(),
                stamp(days_until),
            ],
            days_since,
        ),
    ];
    let mut table = String::from(
        "| period | format | median (ms) | file (KB) | baseline scan (ms) | ratio | goal |\n\
         |---|---|---:|---:|---:|---:|---|\n",
    );
    for (label, period_args, scan_since) in &periods {
        let baseline = median(|| scan(db, *scan_since, last));
        for format in ["html", "md", "csv", "json"] {
            let out = folder.path().join(format!("report.{format}"));
            let took = median(|| {
                let clock = Instant::now();
                let output = flakewatch(Path::new("."))
                    .env("DATABASE_URL", &db.url)
                    .env("RUST_LOG", "warn")
                    .args(["report", "weekly", "--project", PROJECT, "--format", format])
                    .args(period_args)
                    .arg("--out")
                    .arg(&out)
                    .output()
                    .expect("run flakewatch report");
                let elapsed = clock.elapsed();
                assert!(output.status.success(), "report failed: {output:?}");
                elapsed
            });
            let bytes = std::fs::metadata(&out).map_or(0, |m| m.len());
            let verdict = if ms(took) < GOAL_MS {
                "met (< 2 s)"
            } else {
                "**not met** (< 2 s)"
            };
            let _ = writeln!(
                table,
                "| {label} | {format} | {:.0} | {:.0} | {:.0} | {:.1} | {verdict} |",
                ms(took),
                bytes as f64 / 1024.0,
                ms(baseline),
                ms(took) / ms(baseline)
            );
        }
    }
    println!("{table}");
}

fn stamp(at: NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut measure: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..REPEATS).map(|_| measure()).collect();
    times.sort();
    times[REPEATS / 2]
}

#[derive(QueryableByName)]
struct History {
    #[diesel(sql_type = Timestamp)]
    first: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    last: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    runs: i64,
}

/// The demo's first and last run, and how many runs and results it holds.
fn history(db: &TestDb) -> (NaiveDateTime, NaiveDateTime, i64, i64) {
    let mut conn = db.connect();
    let h = diesel::sql_query(
        "SELECT min(started_at) AS first, max(started_at) AS last, count(*) AS runs FROM runs",
    )
    .get_result::<History>(&mut conn)
    .expect("the demo's runs");
    let results = common::api::count(db, "results");
    (h.first, h.last, h.runs, results)
}

#[derive(QueryableByName)]
struct Scan {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    total_ms: Option<i64>,
}

/// The baseline: one plain pass over the period's results, in a fresh connection (as the
/// report command opens one).
fn scan(db: &TestDb, since: NaiveDateTime, until: NaiveDateTime) -> Duration {
    let clock = Instant::now();
    let mut conn = db.connect();
    let scanned = diesel::sql_query(
        "SELECT count(*) AS n, CAST(sum(r.duration_ms) AS BIGINT) AS total_ms \
         FROM results r JOIN runs u ON u.id = r.run_id \
         WHERE u.started_at >= $1 AND u.started_at <= $2",
    )
    .bind::<Timestamp, _>(since)
    .bind::<Timestamp, _>(until)
    .get_result::<Scan>(&mut conn)
    .expect("scan the period's results");
    let took = clock.elapsed();
    assert!(
        scanned.n > 0 && scanned.total_ms.is_some(),
        "the period holds results"
    );
    took
}
