//! A window's CI figures read from the per-day rollups against the same figures computed
//! from the window's runs (the way every page and the metrics API read them before the
//! rollups), on a project whose 30-day window holds many runs: time per read, bytes
//! allocated per read and the peak of live memory during it, in the same run on the same
//! database, shown as ratios. Also how long building the rollups takes (what a rescore
//! adds per run).
//!
//! ```sh
//! cargo bench --bench window_figures                          # both backends, 50,000 runs
//! cargo bench --bench window_figures -- --sqlite --runs 200000
//! ```
//!
//! Runs are written straight into the tables (four jobs per pipeline, some reruns, two
//! branches, 30 days), already scored; the rollups are then built from them through
//! `RollupBatch`, as scoring builds them. Goals are printed, never asserted; the two ways'
//! figures are compared and a difference is printed as an error.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[path = "../tests/common/mod.rs"]
mod common;

use chrono::{Duration, NaiveDateTime, NaiveTime};
use common::TestDb;
use diesel::prelude::*;
use flakewatch::analysis::metrics;
use flakewatch::analysis::summary::{RunRecord, Summary};
use flakewatch::db::schema::{runs, uploads};
use flakewatch::db::DbConnection;
use flakewatch::store::ci_metrics::{self, Window};
use flakewatch::store::projects;
use flakewatch::store::window_rollups::RollupBatch;

/// Counts the bytes allocated and the live bytes' peak, to measure what one read takes.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const JOBS: [(&str, i64); 4] = [("build", 4), ("unit", 7), ("e2e", 18), ("lint", 2)];
const DAYS: i64 = 30;
const READS: usize = 15;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--runs takes a number"))
        .unwrap_or(50_000);
    let sqlite = !args.iter().any(|a| a == "--postgres");
    let postgres = !args.iter().any(|a| a == "--sqlite");
    println!("# Window figures: per-day rollups against the runs ({runs} runs in 30 days)\n");
    if sqlite {
        measure("SQLite", TestDb::sqlite(), runs);
    }
    if postgres {
        match TestDb::postgres() {
            Some(db) => measure("PostgreSQL", db, runs),
            None => println!("PostgreSQL skipped (FLAKEWATCH_SKIP_PG)"),
        }
    }
}

/// The project's runs: pipelines of four jobs spread over the days, on main or a feature
/// branch; e2e fails one time in six, on a flaky test two times in three, and is rerun.
fn history(count: usize, first_day: NaiveDateTime) -> Vec<(RunRecord, String, i32)> {
    let mut records = Vec::with_capacity(count);
    let pipelines = count / 4;
    let mut pipeline = 0;
    while records.len() < count {
        let offset = Duration::seconds(pipeline as i64 * DAYS * 86_400 / pipelines.max(1) as i64);
        let start = first_day + offset;
        let branch = if pipeline % 5 == 0 {
            "feature/x"
        } else {
            "main"
        };
        for (index, (job, minutes)) in JOBS.iter().enumerate() {
            let started_at = start + Duration::seconds(index as i64 * 30);
            let red = *job == "e2e" && pipeline % 6 == 0;
            let flaky = red && pipeline % 18 != 0;
            let record = RunRecord {
                pipeline: format!("{pipeline}"),
                commit: format!("{:040x}", pipeline * 7919),
                job: (*job).to_owned(),
                runner: if *job == "e2e" { "large" } else { "small" }.to_owned(),
                started_at,
                finished_at: started_at + Duration::seconds(minutes * 60 + (pipeline % 97) as i64),
                red,
                red_flaky: i32::from(flaky),
                red_broken: i32::from(red && !flaky),
                red_other: 0,
                flaky_retry_ms: if flaky { 20_000 } else { 0 },
            };
            let rerun = red.then(|| RunRecord {
                started_at: record.finished_at + Duration::seconds(60),
                finished_at: record.finished_at + Duration::seconds(60 + minutes * 60),
                red: false,
                red_flaky: 0,
                red_broken: 0,
                flaky_retry_ms: 0,
                ..record.clone()
            });
            records.push((record, branch.to_owned(), 1));
            if let Some(rerun) = rerun {
                records.push((rerun, branch.to_owned(), 2));
            }
        }
        pipeline += 1;
    }
    records.truncate(count);
    records
}

fn insert_runs(conn: &mut DbConnection, project_id: i64, history: &[(RunRecord, String, i32)]) {
    for (chunk_index, chunk) in history.chunks(400).enumerate() {
        let first_id = (chunk_index * 400) as i64 + 1;
        let upload_rows: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, (r, _, _))| {
                (
                    uploads::id.eq(first_id + i as i64),
                    uploads::project_id.eq(project_id),
                    uploads::idempotency_key.eq(format!("k{}", first_id + i as i64)),
                    uploads::received_at.eq(r.finished_at),
                    uploads::content_type.eq("application/xml"),
                    uploads::body_bytes.eq(1_i64),
                )
            })
            .collect();
        flakewatch::per_backend!(conn, |c| diesel::insert_into(uploads::table)
            .values(&upload_rows)
            .execute(c))
        .expect("insert uploads");
        let run_rows: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, (r, branch, attempt))| {
                let id = first_id + i as i64;
                (
                    (
                        runs::id.eq(id),
                        runs::project_id.eq(project_id),
                        runs::upload_id.eq(id),
                        runs::branch.eq(branch.clone()),
                        runs::on_default_branch.eq(branch == "main"),
                        runs::commit_sha.eq(r.commit.clone()),
                        runs::job.eq(r.job.clone()),
                        runs::attempt.eq(*attempt),
                        runs::pipeline.eq(r.pipeline.clone()),
                        runs::build_url.eq(""),
                        runs::runner.eq(r.runner.clone()),
                        runs::started_at.eq(r.started_at),
                        runs::finished_at.eq(r.finished_at),
                        runs::stored_at.eq(r.finished_at),
                    ),
                    (
                        runs::tests.eq(200),
                        runs::passed.eq(200 - i32::from(r.red)),
                        runs::failed.eq(i32::from(r.red)),
                        runs::errors.eq(0),
                        runs::skipped.eq(0),
                        runs::flaky_in_run.eq(0),
                        runs::test_time_ms.eq(r.duration_ms()),
                        runs::red_flaky.eq(r.red_flaky),
                        runs::red_broken.eq(r.red_broken),
                        runs::red_other.eq(r.red_other),
                        runs::flaky_retry_ms.eq(r.flaky_retry_ms),
                        runs::scored_at.eq(Some(r.finished_at)),
                        runs::score_seq.eq(Some(id)),
                    ),
                )
            })
            .collect();
        flakewatch::per_backend!(conn, |c| diesel::insert_into(runs::table)
            .values(&run_rows)
            .execute(c))
        .expect("insert runs");
    }
}

/// Time, bytes allocated and peak live bytes (above the start) of one call.
fn measured<T>(work: impl FnOnce() -> T) -> (T, f64, usize, usize) {
    let allocated = ALLOCATED.load(Ordering::Relaxed);
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    let started = Instant::now();
    let value = work();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    (
        value,
        ms,
        ALLOCATED.load(Ordering::Relaxed) - allocated,
        PEAK.load(Ordering::Relaxed).saturating_sub(live),
    )
}

struct Reads {
    median_ms: f64,
    allocated: usize,
    peak: usize,
    summary: Summary,
}

fn reads(mut read: impl FnMut() -> Summary) -> Reads {
    let mut times = Vec::new();
    let (mut allocated, mut peak, mut summary) = (0, 0, Summary::default());
    for _ in 0..READS {
        let (value, ms, bytes, high) = measured(&mut read);
        times.push(ms);
        allocated = bytes;
        peak = peak.max(high);
        summary = value;
    }
    times.sort_by(f64::total_cmp);
    Reads {
        median_ms: times[times.len() / 2],
        allocated,
        peak,
        summary,
    }
}

fn measure(backend: &str, db: TestDb, count: usize) {
    drop(db.open()); // migrates
    let mut conn = db.connect();
    let today = chrono::Utc::now().date_naive();
    let first_day = (today - Duration::days(DAYS - 1)).and_time(NaiveTime::MIN);
    let now = chrono::Utc::now().naive_utc();
    let project_id = projects::find_or_create(&mut conn, "bench", now)
        .unwrap()
        .id;
    let history = history(count, first_day);
    let started = Instant::now();
    insert_runs(&mut conn, project_id, &history);
    let inserted = started.elapsed();
    let started = Instant::now();
    let mut batch = RollupBatch::from_scratch(project_id);
    for (record, branch, _) in &history {
        batch.add_run(&mut conn, record, branch).unwrap();
    }
    batch.write(&mut conn).unwrap();
    let built = started.elapsed();
    println!("## {backend}\n");
    println!(
        "{count} runs written in {:.1} s; rollups built from them in {:.1} s ({:.0} µs a run)\n",
        inserted.as_secs_f64(),
        built.as_secs_f64(),
        built.as_secs_f64() * 1e6 / count as f64
    );
    println!("| window | way | median (ms) | allocated (MiB) | peak live (MiB) | rollups / runs (time, peak) |");
    println!("|---|---|---:|---:|---:|---:|");
    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    let windows = [
        ("30 days", None),
        ("30 days, job e2e", Some("e2e".to_owned())),
    ];
    for (name, job) in windows {
        let window = Window {
            since: Some(first_day),
            until: Some((today + Duration::days(1)).and_time(NaiveTime::MIN)),
            branch: None,
            job,
        };
        let rolled = reads(|| ci_metrics::summary(&mut conn, project_id, &window).unwrap());
        let from_runs = reads(|| {
            let records = ci_metrics::run_records(&mut conn, project_id, &window).unwrap();
            Summary::of_runs(&records)
        });
        for (way, r) in [("runs", &from_runs), ("rollups", &rolled)] {
            let ratio = if way == "rollups" {
                format!(
                    "{:.3}, {:.3}",
                    rolled.median_ms / from_runs.median_ms,
                    rolled.peak as f64 / from_runs.peak.max(1) as f64
                )
            } else {
                "1".to_owned()
            };
            println!(
                "| {name} | {way} | {:.2} | {:.2} | {:.2} | {ratio} |",
                r.median_ms,
                mib(r.allocated),
                mib(r.peak)
            );
        }
        let same = metrics::accuracy(&rolled.summary) == metrics::accuracy(&from_runs.summary)
            && rolled.summary.spans.feedback.count() == from_runs.summary.spans.feedback.count();
        if !same {
            println!("\nERROR: {name}: the rollups' figures differ from the runs'\n");
        }
    }
    println!();
}
