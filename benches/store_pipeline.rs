//! Store-pipeline benchmarks: the real `flakewatch` binary (`serve`, `worker`, `upload`) on
//! a loopback port, against real databases (a fresh PostgreSQL database per scenario, a
//! temporary SQLite file). Goals are printed next to the figures, never asserted.
//!
//! ```sh
//! cargo bench --bench store_pipeline                 # full sizes (a few minutes)
//! cargo bench --bench store_pipeline -- --quick      # small sizes (or FLAKEWATCH_BENCH_QUICK=1)
//! cargo bench --bench store_pipeline -- throughput   # one scenario: await, throughput, burst, sqlite_lock, bodies
//! ```
//!
//! `FLAKEWATCH_BENCH_LOG=FILE` appends the `serve` and `worker` children's logs to FILE;
//! `FLAKEWATCH_BENCH_BIN=PATH` runs another `flakewatch` build (A/B comparisons).
//!
//! 1. **await**: wall time of `flakewatch upload` (default await mode) minus the task's
//!    `run_ms`, with a computed comparison to a client that polls every 5 s.
//! 2. **throughput**: one report of 1,000,000 test cases stored on PostgreSQL, against a
//!    plain binary `COPY` of the very same rows into the same `results` table.
//! 3. **burst**: 200 uploads of 2,000 test cases sent at once; queue and store times.
//! 4. **bodies**: six large bodies sent at once (streamed by the client); the server's peak
//!    memory growth against the bytes in flight, which a server buffering bodies must hold.
//!
//! Nothing waits on a timer: the server's address and a worker's readiness come from their
//! log lines, task ends from `?wait=` long polls, client runs from process exit.

#![forbid(unsafe_code)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use common::api::{count, token};
use common::TestDb;
use diesel::prelude::*;
use flakewatch::db::schema::results;
use flakewatch::store::results::NewResult;
use flakewatch::store::tokens::Scope;
use serde_json::Value;

/// The binary under test: this package's, or `FLAKEWATCH_BENCH_BIN` to compare builds.
fn bin() -> std::ffi::OsString {
    std::env::var_os("FLAKEWATCH_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_flakewatch").into())
}
const PROJECT: &str = "bench";
/// The CodeChecker client's poll period, for the computed comparison.
const POLL_PERIOD_MS: f64 = 5000.0;
/// Longest any single step may take before the bench gives up (a hang, not a figure).
const STEP_DEADLINE: Duration = Duration::from_secs(900);

struct Sizes {
    /// Size of each of the six bodies of the `bodies` scenario, plain XML.
    body_bytes: u64,
    await_uploads: usize,
    await_cases: usize,
    big_cases: usize,
    burst_uploads: usize,
    burst_cases: usize,
}

const FULL: Sizes = Sizes {
    body_bytes: 200_000_000,
    await_uploads: 20,
    await_cases: 200,
    big_cases: 1_000_000,
    burst_uploads: 200,
    burst_cases: 2_000,
};

const QUICK: Sizes = Sizes {
    body_bytes: 20_000_000,
    await_uploads: 5,
    await_cases: 200,
    big_cases: 100_000,
    burst_uploads: 40,
    burst_cases: 500,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var("FLAKEWATCH_BENCH_QUICK").is_ok_and(|v| v == "1");
    // `cargo bench` passes `--bench`; words without dashes pick scenarios.
    let picked: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let wants = |name: &str| picked.is_empty() || picked.contains(&name);
    let sizes = if quick { &QUICK } else { &FULL };
    if std::env::var("FLAKEWATCH_SKIP_PG").is_ok_and(|v| v == "1") {
        eprintln!("FLAKEWATCH_SKIP_PG=1: the PostgreSQL scenarios are skipped");
    }

    let started = Instant::now();
    let mut out = String::new();
    let _ = writeln!(out, "{}", machine(quick));

    if wants("await") {
        let mut rows = Vec::new();
        rows.push(await_overhead(&TestDb::sqlite(), "SQLite", sizes));
        if let Some(db) = TestDb::postgres() {
            rows.push(await_overhead(&db, "PostgreSQL", sizes));
        }
        out.push_str(&await_table(&rows, sizes));
    }
    if wants("throughput") {
        if let Some(db) = TestDb::postgres() {
            out.push_str(&throughput_table(&store_throughput(&db, sizes)));
        }
    }
    if wants("burst") {
        let mut rows = Vec::new();
        if let Some(db) = TestDb::postgres() {
            rows.push(burst(&db, "PostgreSQL, `serve` (2 workers)", 0, sizes));
        }
        if let Some(db) = TestDb::postgres() {
            rows.push(burst(
                &db,
                "PostgreSQL, `serve` + 2 `worker` processes (6 workers)",
                2,
                sizes,
            ));
        }
        rows.push(burst(
            &TestDb::sqlite(),
            "SQLite, `serve` (2 workers)",
            0,
            sizes,
        ));
        out.push_str(&burst_table(&rows, sizes));
    }
    if wants("sqlite_lock") {
        out.push_str(&sqlite_lock_table(&sqlite_lock(sizes), sizes));
    }
    if wants("bodies") {
        out.push_str(&bodies_table(&large_bodies(sizes)));
    }
    let _ = writeln!(
        out,
        "Bench wall time: {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    println!("{out}");
}

// ---------------------------------------------------------------------------------------
// 1. Await overhead

struct AwaitFigures {
    backend: &'static str,
    wall_ms: Vec<f64>,
    run_ms: Vec<f64>,
    queue_ms: Vec<f64>,
    overhead_ms: Vec<f64>,
    /// `overhead_ms` had the client slept 5 s between polls instead of long-polling.
    poll_overhead_ms: Vec<f64>,
}

fn await_overhead(db: &TestDb, backend: &'static str, sizes: &Sizes) -> AwaitFigures {
    eprintln!("await: {backend}, {} uploads", sizes.await_uploads);
    let upload_token = upload_token(db);
    let server = Proc::serve(db);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let report = dir.path().join("TEST-bench.xml");
    std::fs::write(&report, junit_report(sizes.await_cases, 0)).expect("write the report");
    let report = report.display().to_string();

    let mut figures = AwaitFigures {
        backend,
        wall_ms: Vec::new(),
        run_ms: Vec::new(),
        queue_ms: Vec::new(),
        overhead_ms: Vec::new(),
        poll_overhead_ms: Vec::new(),
    };
    // Upload 0 warms up the server (pool connections, page cache) and is not counted.
    for i in 0..=sizes.await_uploads {
        let commit = format!("await{i:04}");
        let clock = Instant::now();
        let output = Command::new(bin())
            .args(["upload", "--server", &server.base_url, "--project", PROJECT])
            .args(["--branch", "main", "--commit", &commit, "--job", "await"])
            .arg(&report)
            .env("FLAKEWATCH_TOKEN", &upload_token)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("run flakewatch upload");
        let wall = clock.elapsed().as_secs_f64() * 1000.0;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.starts_with("completed:"),
            "flakewatch upload failed: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let queue = summary_millis(&stdout, "queued ");
        let run = summary_millis(&stdout, "ran ");
        if i == 0 {
            continue;
        }
        // Accepted at ~enqueue; a polling client asks first 5 s after that, then every 5 s.
        let ended = queue + run;
        let polls = (ended / POLL_PERIOD_MS).floor() + 1.0;
        let poll_delay = polls * POLL_PERIOD_MS - ended;
        figures.wall_ms.push(wall);
        figures.run_ms.push(run);
        figures.queue_ms.push(queue);
        figures.overhead_ms.push(wall - run);
        figures.poll_overhead_ms.push(wall - run + poll_delay);
    }
    server.stop();
    figures
}

/// The milliseconds after `label` in the upload summary ("queued 3 ms, ran 41 ms").
fn summary_millis(summary: &str, label: &str) -> f64 {
    let rest = summary
        .split(label)
        .nth(1)
        .unwrap_or_else(|| panic!("no `{label}` in the summary: {summary}"));
    let mut words = rest.split_whitespace();
    let number: f64 = words
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{label}`: {summary}"));
    match words.next().map(|unit| unit.trim_end_matches([',', ';'])) {
        Some("ms") => number,
        Some("s") => number * 1000.0,
        other => panic!("unknown unit {other:?} in the summary: {summary}"),
    }
}

fn await_table(rows: &[AwaitFigures], sizes: &Sizes) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "### 1. Await overhead: `flakewatch upload` wall time minus `run_ms`\n\n\
         {} uploads of a {}-case report per backend (after one warm-up upload), each a new \
         `flakewatch upload` process awaiting its task with long polls. Goal: median under 20 ms.\n",
        sizes.await_uploads, sizes.await_cases
    );
    let _ = writeln!(
        t,
        "| backend | overhead p50 | overhead p95 | wall p50 | queue_ms p50 | run_ms p50 | goal < 20 ms |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let p50 = percentile(&r.overhead_ms, 50.0);
        let _ = writeln!(
            t,
            "| {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} ms | {:.0} ms | {} |",
            r.backend,
            p50,
            percentile(&r.overhead_ms, 95.0),
            percentile(&r.wall_ms, 50.0),
            percentile(&r.queue_ms, 50.0),
            percentile(&r.run_ms, 50.0),
            if p50 < 20.0 { "met" } else { "**not met**" }
        );
    }
    let _ = writeln!(
        t,
        "\nComputed comparison, not measured: a CodeChecker-style client that sleeps 5 s \
         between status polls learns of the end at its next poll. For an end at a random \
         point of the poll cycle that adds 2.5 s on average; for tasks this short (accepted \
         and stored within the first 5 s) the first poll, 5 s after acceptance, is the one \
         that sees it:\n"
    );
    let _ = writeln!(
        t,
        "| backend | long poll (measured) p50 | 5 s poll (computed) p50 | 5 s poll, random phase (expected) |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {:.1} ms | {:.0} ms | {:.0} ms |",
            r.backend,
            percentile(&r.overhead_ms, 50.0),
            percentile(&r.poll_overhead_ms, 50.0),
            percentile(&r.overhead_ms, 50.0) + POLL_PERIOD_MS / 2.0,
        );
    }
    t.push('\n');
    t
}

// ---------------------------------------------------------------------------------------
// 2. Store throughput on PostgreSQL against a plain COPY

struct ThroughputFigures {
    cases: usize,
    xml_bytes: usize,
    gzip_bytes: usize,
    accept_ms: f64,
    queue_ms: f64,
    /// Upload sent until the task answered completed (stored and scored).
    end_to_end_ms: f64,
    repeat_end_to_end_ms: f64,
    /// The two stages of each upload.
    store_ms: f64,
    scoring_ms: f64,
    repeat_store_ms: f64,
    repeat_scoring_ms: f64,
    copy_one_ms: f64,
    copy_batched_ms: f64,
}

fn store_throughput(db: &TestDb, sizes: &Sizes) -> ThroughputFigures {
    let cases = sizes.big_cases;
    eprintln!("throughput: generating a report of {cases} test cases");
    let upload_token = upload_token(db);
    let xml = junit_report(cases, 0);
    let xml_bytes = xml.len();
    let body = gzip(xml.as_bytes());
    drop(xml);
    let server = Proc::serve(db);
    let agent = agent();

    eprintln!(
        "throughput: uploading {:.1} MB gzip ({:.1} MB XML)",
        body.len() as f64 / 1e6,
        xml_bytes as f64 / 1e6
    );
    let clock = Instant::now();
    let task = post_upload(
        &agent,
        &server.base_url,
        &upload_token,
        "branch=main&commit=big1&job=throughput",
        &body,
    );
    let accept_ms = clock.elapsed().as_secs_f64() * 1000.0;
    let done = await_final(&agent, &server.base_url, &task);
    let end_to_end_ms = clock.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"]["records_stored"], cases as i64, "{done}");
    let run_ms = done["run_ms"].as_f64().expect("run_ms");
    let queue_ms = done["queue_ms"].as_f64().expect("queue_ms");
    let run_id = done["run_id"].as_i64().expect("run_id");
    eprintln!("throughput: stored in {run_ms} ms; again, with every test known");
    // The same suite from another job: every test identity exists already.
    let clock = Instant::now();
    let task = post_upload(
        &agent,
        &server.base_url,
        &upload_token,
        "branch=main&commit=big2&job=throughput",
        &body,
    );
    let again = await_final(&agent, &server.base_url, &task);
    let repeat_end_to_end_ms = clock.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(again["status"], "completed", "{again}");
    assert_eq!(again["progress"]["records_stored"], cases as i64, "{again}");
    let repeat_run_ms = again["run_ms"].as_f64().expect("run_ms");
    eprintln!("throughput: stored again in {repeat_run_ms} ms; now the COPY baseline");
    server.stop();

    // The baseline writes exactly the rows the task wrote: same run, tests, outcomes,
    // durations and failure messages, through the same `NewResult` and diesel binary COPY
    // the ingest path uses, into the same table with its indexes and foreign keys.
    let mut conn = PgConnection::establish(&db.url).expect("connect to PostgreSQL");
    let rows = stored_rows(&mut conn, run_id);
    assert_eq!(rows.len(), cases);
    let clock = Instant::now();
    conn.transaction::<_, diesel::result::Error, _>(|c| {
        diesel::copy_from(results::table)
            .from_insertable(&rows)
            .execute(c)
    })
    .expect("COPY the rows");
    let copy_one_ms = clock.elapsed().as_secs_f64() * 1000.0;
    let clock = Instant::now();
    conn.transaction::<_, diesel::result::Error, _>(|c| {
        for chunk in rows.chunks(1000) {
            diesel::copy_from(results::table)
                .from_insertable(chunk)
                .execute(c)?;
        }
        Ok(())
    })
    .expect("COPY the rows in batches");
    let copy_batched_ms = clock.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(
        count(db, &format!("results WHERE run_id = {run_id}")),
        3 * cases as i64
    );
    assert_eq!(count(db, "tests"), cases as i64);
    ThroughputFigures {
        cases,
        xml_bytes,
        gzip_bytes: body.len(),
        accept_ms,
        queue_ms,
        end_to_end_ms,
        repeat_end_to_end_ms,
        store_ms: done["store_ms"].as_f64().expect("store_ms"),
        scoring_ms: done["scoring_ms"].as_f64().expect("scoring_ms"),
        repeat_store_ms: again["store_ms"].as_f64().expect("store_ms"),
        repeat_scoring_ms: again["scoring_ms"].as_f64().expect("scoring_ms"),
        copy_one_ms,
        copy_batched_ms,
    }
}

type StoredRow = (i64, i64, String, Option<i64>, i32, i32, i64, Option<i64>);

fn stored_rows(conn: &mut PgConnection, run_id: i64) -> Vec<NewResult> {
    let rows: Vec<StoredRow> = results::table
        .filter(results::run_id.eq(run_id))
        .order(results::id)
        .select((
            results::run_id,
            results::test_id,
            results::outcome,
            results::duration_ms,
            results::attempts,
            results::failed_attempts,
            results::retry_ms,
            results::failure_message_id,
        ))
        .load(conn)
        .expect("read the stored results");
    rows.into_iter()
        .map(
            |(run_id, test_id, outcome, duration_ms, attempts, failed, retry_ms, failure)| {
                NewResult {
                    run_id,
                    test_id,
                    outcome: match outcome.as_str() {
                        "passed" => "passed",
                        "failed" => "failed",
                        "error" => "error",
                        "skipped" => "skipped",
                        other => panic!("unknown outcome {other}"),
                    },
                    duration_ms,
                    attempts,
                    failed_attempts: failed,
                    retry_ms,
                    failure_message_id: failure,
                }
            },
        )
        .collect()
}

fn throughput_table(f: &ThroughputFigures) -> String {
    let per_s = |ms: f64| f.cases as f64 / (ms / 1000.0);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "### 2. Store throughput on PostgreSQL: one report of {} test cases\n\n\
         The report: {:.1} MB of JUnit XML, {:.1} MB gzipped, in suites of 1,000 cases; \
         1 in 67 cases fails (one of 200 distinct messages), 1 in 50 is skipped. All its \
         tests are new to the database. Upload accepted in {:.0} ms, queued {:.0} ms. \
         End to end is from sending the upload to the task's `completed` answer (stored and \
         scored). Baseline: the same rows (read back from the run) written again with \
         diesel's binary `COPY` into the same `results` table, one transaction. Goal: end to \
         end at least 0.5x the single-COPY rate.\n",
        f.cases,
        f.xml_bytes as f64 / 1e6,
        f.gzip_bytes as f64 / 1e6,
        f.accept_ms,
        f.queue_ms,
    );
    let _ = writeln!(t, "| writer | time | results/s | ratio to one COPY |");
    let _ = writeln!(t, "|---|---:|---:|---:|");
    let ratio = f.copy_one_ms / f.end_to_end_ms;
    let repeat_ratio = f.copy_one_ms / f.repeat_end_to_end_ms;
    for (name, ms) in [
        (
            "upload to completed, end to end (new tests)",
            f.end_to_end_ms,
        ),
        (
            "- store stage (parse, new test identities, COPY, commit)",
            f.store_ms,
        ),
        ("- scoring stage (stored to scored)", f.scoring_ms),
        (
            "upload to completed, same report from another job (tests known)",
            f.repeat_end_to_end_ms,
        ),
        ("- store stage", f.repeat_store_ms),
        ("- scoring stage", f.repeat_scoring_ms),
        ("plain `COPY`, one statement (baseline)", f.copy_one_ms),
        ("plain `COPY`, batches of 1,000 rows", f.copy_batched_ms),
    ] {
        let _ = writeln!(
            t,
            "| {name} | {:.2} s | {:.0} | {:.2}x |",
            ms / 1000.0,
            per_s(ms),
            f.copy_one_ms / ms
        );
    }
    let _ = writeln!(
        t,
        "\nRatio end to end / plain COPY: **{ratio:.2}x** for the first upload (goal >= 0.5x: \
         {}); {repeat_ratio:.2}x once its tests are known. Incremental scoring cost: \
         {:.1} µs per result with every state new, {:.1} µs per result with every state read, \
         advanced and written back.\n",
        if ratio >= 0.5 { "met" } else { "not met" },
        f.scoring_ms * 1000.0 / f.cases as f64,
        f.repeat_scoring_ms * 1000.0 / f.cases as f64,
    );
    t
}

// ---------------------------------------------------------------------------------------
// 3. A burst of concurrent uploads

struct BurstFigures {
    setup: &'static str,
    uploads: usize,
    cases: usize,
    accept_ms: Vec<f64>,
    queue_ms: Vec<f64>,
    run_ms: Vec<f64>,
    store_ms: Vec<f64>,
    scoring_ms: Vec<f64>,
    wall_ms: f64,
    /// Lock waits of 10 ms or more in the database during the burst (PostgreSQL's
    /// `log_lock_waits`), when the server log can be read.
    lock_waits: Option<usize>,
}

fn burst(db: &TestDb, setup: &'static str, extra_workers: usize, sizes: &Sizes) -> BurstFigures {
    let (uploads, cases) = (sizes.burst_uploads, sizes.burst_cases);
    eprintln!("burst: {setup}, {uploads} uploads of {cases} cases");
    let upload_token = Arc::new(upload_token(db));
    // One suite uploaded by many jobs: the same tests each time, different failures.
    let bodies: Vec<Arc<Vec<u8>>> = (0..uploads)
        .map(|i| Arc::new(gzip(junit_report(cases, i * 7).as_bytes())))
        .collect();
    let lock_log = LockWaitLog::start(db);
    let server = Proc::serve(db);
    let workers: Vec<Proc> = (0..extra_workers).map(|_| Proc::worker(db)).collect();
    let base = Arc::new(server.base_url.clone());
    let agent = agent();

    let gate = Arc::new(Barrier::new(uploads + 1));
    let threads: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let (gate, agent, base, upload_token) = (
                gate.clone(),
                agent.clone(),
                base.clone(),
                upload_token.clone(),
            );
            std::thread::spawn(move || {
                gate.wait();
                let clock = Instant::now();
                let query = format!("branch=main&commit=burst{i:04}&job=burst");
                let task = post_upload(&agent, &base, &upload_token, &query, &body);
                let accept_ms = clock.elapsed().as_secs_f64() * 1000.0;
                let done = await_final(&agent, &base, &task);
                (accept_ms, done, Instant::now())
            })
        })
        .collect();
    gate.wait();
    let start = Instant::now();
    let mut figures = BurstFigures {
        setup,
        uploads,
        cases,
        accept_ms: Vec::new(),
        queue_ms: Vec::new(),
        run_ms: Vec::new(),
        store_ms: Vec::new(),
        scoring_ms: Vec::new(),
        wall_ms: 0.0,
        lock_waits: None,
    };
    let mut last = start;
    for thread in threads {
        let (accept_ms, done, ended) = thread.join().expect("an upload thread panicked");
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["progress"]["records_stored"], cases as i64, "{done}");
        figures.accept_ms.push(accept_ms);
        figures
            .queue_ms
            .push(done["queue_ms"].as_f64().expect("queue_ms"));
        figures
            .run_ms
            .push(done["run_ms"].as_f64().expect("run_ms"));
        figures
            .store_ms
            .push(done["store_ms"].as_f64().expect("store_ms"));
        figures
            .scoring_ms
            .push(done["scoring_ms"].as_f64().expect("scoring_ms"));
        last = last.max(ended);
    }
    figures.wall_ms = (last - start).as_secs_f64() * 1000.0;
    figures.lock_waits = lock_log.and_then(LockWaitLog::count);
    assert_eq!(count(db, "results"), (uploads * cases) as i64);
    assert_eq!(count(db, "runs"), uploads as i64);
    for worker in workers {
        worker.stop();
    }
    server.stop();
    figures
}

fn burst_table(rows: &[BurstFigures], sizes: &Sizes) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "### 3. {} concurrent uploads of {} test cases each\n\n\
         All uploads are sent at once (one thread each, gzipped bodies, same tests with \
         different failures, new commits) and each awaits its task with `?wait=`. Wall time \
         is from the release of the uploads to the last task's answer. All tasks completed \
         and every result was counted in the database.\n",
        sizes.burst_uploads, sizes.burst_cases
    );
    let _ = writeln!(
        t,
        "| setup | accept p50 / p95 | queue p50 / p95 / max | store stage p50 / p95 | scoring lag p50 / p95 | wall | results/s | lock waits |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {:.0} / {:.0} ms | {:.0} / {:.0} / {:.0} ms | {:.0} / {:.0} ms | {:.0} / {:.0} ms | {:.1} s | {:.0} | {} |",
            r.setup,
            percentile(&r.accept_ms, 50.0),
            percentile(&r.accept_ms, 95.0),
            percentile(&r.queue_ms, 50.0),
            percentile(&r.queue_ms, 95.0),
            percentile(&r.queue_ms, 100.0),
            percentile(&r.store_ms, 50.0),
            percentile(&r.store_ms, 95.0),
            percentile(&r.scoring_ms, 50.0),
            percentile(&r.scoring_ms, 95.0),
            r.wall_ms / 1000.0,
            (r.uploads * r.cases) as f64 / (r.wall_ms / 1000.0),
            r.lock_waits.map_or_else(|| "n/a".to_owned(), |n| n.to_string()),
        );
    }
    t.push('\n');
    t
}

/// Counts the lock waits PostgreSQL logs for one test database: `log_lock_waits` with a
/// 10 ms `deadlock_timeout`, set on the database before the burst's processes connect,
/// and the lines the server log gained meanwhile.
struct LockWaitLog {
    path: std::path::PathBuf,
    offset: u64,
    database: String,
}

impl LockWaitLog {
    fn start(db: &TestDb) -> Option<LockWaitLog> {
        if db.backend != flakewatch::db::Backend::Postgres {
            return None;
        }
        let database = db.url.rsplit('/').next()?.split('?').next()?.to_owned();
        let path = glob::glob("/var/log/postgresql/postgresql-*-main.log")
            .ok()?
            .flatten()
            .next()?;
        let offset = std::fs::metadata(&path).ok()?.len();
        let mut conn = PgConnection::establish(&db.url).ok()?;
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            &format!(
                "ALTER DATABASE \"{database}\" SET log_lock_waits = on; \
                 ALTER DATABASE \"{database}\" SET deadlock_timeout = '10ms'"
            ),
        )
        .ok()?;
        Some(LockWaitLog {
            path,
            offset,
            database,
        })
    }

    fn count(self) -> Option<usize> {
        use std::io::{Read, Seek};
        let mut file = std::fs::File::open(&self.path).ok()?;
        file.seek(std::io::SeekFrom::Start(self.offset)).ok()?;
        let mut text = String::new();
        file.read_to_string(&mut text).ok()?;
        let marker = format!("@{} ", self.database);
        Some(
            text.lines()
                .filter(|line| line.contains(&marker) && line.contains("still waiting for"))
                .count(),
        )
    }
}

// ---------------------------------------------------------------------------------------
// 5. SQLite: uploads and reads while a large report is stored

/// Uploads (and reads) sent one after another in each phase.
const LOCK_UPLOADS: usize = 50;

struct LockFigures {
    cases: usize,
    /// Accepting a 200-case upload with nothing being stored (the baseline, same run).
    idle_accept_ms: Vec<f64>,
    /// The same while the large report is stored, with `/readyz` and a tests read after each.
    busy_accept_ms: Vec<f64>,
    busy_readyz_ms: Vec<f64>,
    busy_read_ms: Vec<f64>,
    /// Answers other than 202 (uploads) or 200 (reads) while it is stored.
    errors: usize,
    /// Whether the large store was still running when the last of those was answered.
    still_running: bool,
    /// Uploads of the busy phase whose run was stored before the large one's.
    stored_before_large: usize,
    large_store_ms: f64,
    /// The large store's last step (run created from staging), the longest write-lock hold.
    publish_ms: f64,
}

fn sqlite_lock(sizes: &Sizes) -> LockFigures {
    let db = TestDb::sqlite();
    let cases = sizes.big_cases;
    eprintln!("sqlite_lock: generating a report of {cases} test cases");
    let upload_token = upload_token(&db);
    let read_token = token(&db, PROJECT, Scope::Read);
    let large_body = gzip(junit_report(cases, 0).as_bytes());
    let small_body = gzip(junit_report(200, 1).as_bytes());
    let server = Proc::serve(&db);
    let base = server.base_url.clone();
    let agent = agent();
    let timed = |request: ureq::RequestBuilder<ureq::typestate::WithoutBody>| -> (f64, u16) {
        let clock = Instant::now();
        let status = request.call().map_or(0, |r| r.status().as_u16());
        (clock.elapsed().as_secs_f64() * 1000.0, status)
    };
    let upload = |commit: String| -> (f64, u16, Option<String>) {
        let clock = Instant::now();
        let answer = agent
            .post(format!(
                "{base}/api/v1/uploads?branch=main&commit={commit}&job=small"
            ))
            .header("Authorization", &format!("Bearer {upload_token}"))
            .send(&small_body[..]);
        let ms = clock.elapsed().as_secs_f64() * 1000.0;
        match answer {
            Ok(mut r) => {
                let status = r.status().as_u16();
                let json: Value = r.body_mut().read_json().unwrap_or(Value::Null);
                (ms, status, json["task"].as_str().map(str::to_owned))
            }
            Err(_) => (ms, 0, None),
        }
    };

    let mut idle_accept_ms = Vec::new();
    for i in 0..LOCK_UPLOADS {
        let (ms, status, task) = upload(format!("idle{i}"));
        assert_eq!(status, 202, "an upload on an idle server");
        idle_accept_ms.push(ms);
        await_final(&agent, &base, &task.expect("a task token"));
    }

    eprintln!("sqlite_lock: storing the large report while uploading and reading");
    let large = post_upload(
        &agent,
        &base,
        &upload_token,
        "branch=main&commit=large&job=large",
        &large_body,
    );
    // Until a worker has started storing it.
    let _ = agent
        .get(format!("{base}/api/v1/tasks/{large}?wait=300&while=queued"))
        .call();
    let (mut busy_accept_ms, mut busy_readyz_ms, mut busy_read_ms) =
        (Vec::new(), Vec::new(), Vec::new());
    let (mut errors, mut busy_tasks) = (0, Vec::new());
    for i in 0..LOCK_UPLOADS {
        let (ms, status, task) = upload(format!("busy{i}"));
        busy_accept_ms.push(ms);
        errors += usize::from(status != 202);
        busy_tasks.extend(task);
        let (ms, status) = timed(agent.get(format!("{base}/readyz")));
        busy_readyz_ms.push(ms);
        errors += usize::from(status != 200);
        let (ms, status) = timed(
            agent
                .get(format!(
                    "{base}/api/v1/projects/{PROJECT}/tests?status=all&limit=20"
                ))
                .header("Authorization", &format!("Bearer {read_token}")),
        );
        busy_read_ms.push(ms);
        errors += usize::from(status != 200);
    }
    let now: Value = agent
        .get(format!("{base}/api/v1/tasks/{large}"))
        .call()
        .expect("ask for the large task")
        .body_mut()
        .read_json()
        .expect("a JSON task");
    let still_running = now["status"] == "running" && now["stage"] == "storing";
    let done = await_final(&agent, &base, &large);
    assert_eq!(done["status"], "completed", "{done}");
    let large_stored_at = done["stored_at"].as_str().unwrap_or_default().to_owned();
    let stored_before_large = busy_tasks
        .iter()
        .filter(|task| {
            let small = await_final(&agent, &base, task);
            small["stored_at"].as_str().unwrap_or_default() < large_stored_at.as_str()
        })
        .count();
    let wanted = format!("results={cases} ");
    let publish_ms = loop {
        let line = server.wait_for("run published from staging");
        if line.contains(&wanted) {
            break line
                .split("publish_ms=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|ms| ms.parse::<f64>().ok())
                .expect("publish_ms in the log line");
        }
    };
    server.stop();
    LockFigures {
        cases,
        idle_accept_ms,
        busy_accept_ms,
        busy_readyz_ms,
        busy_read_ms,
        errors,
        still_running,
        stored_before_large,
        large_store_ms: done["store_ms"].as_f64().unwrap_or(f64::NAN),
        publish_ms,
    }
}

fn sqlite_lock_table(f: &LockFigures, sizes: &Sizes) -> String {
    let _ = sizes;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "### 5. SQLite: {LOCK_UPLOADS} uploads and reads while a report of {} test cases is stored\n\n\
         `serve` with its default workers on a SQLite file. Baseline: {LOCK_UPLOADS} uploads of \
         200 cases, one after another, each awaited, with nothing else stored. Then the large \
         report is uploaded and, once its store has started, {LOCK_UPLOADS} such uploads one \
         after another, each followed by `/readyz` and a tests read. Errors (not 202/200) \
         while it was stored: {}. The large store was {} when the last was answered; {} of \
         the {LOCK_UPLOADS} were stored before it.\n",
        f.cases,
        f.errors,
        if f.still_running { "still running" } else { "already over" },
        f.stored_before_large,
    );
    let _ = writeln!(
        t,
        "| request | p50 | p99 | max | p50 ratio to idle upload |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|");
    let idle = percentile(&f.idle_accept_ms, 50.0);
    for (name, values) in [
        ("upload, nothing stored (baseline)", &f.idle_accept_ms),
        ("upload, large report being stored", &f.busy_accept_ms),
        ("`/readyz`, large report being stored", &f.busy_readyz_ms),
        ("tests read, large report being stored", &f.busy_read_ms),
    ] {
        let _ = writeln!(
            t,
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2}x |",
            percentile(values, 50.0),
            percentile(values, 99.0),
            percentile(values, 100.0),
            percentile(values, 50.0) / idle
        );
    }
    let _ = writeln!(
        t,
        "\nThe large store took {:.1} s; its last step (the run created from the staged rows, \
         the write lock's longest hold) {:.1} s, {:.1}% of it.\n",
        f.large_store_ms / 1000.0,
        f.publish_ms / 1000.0,
        100.0 * f.publish_ms / f.large_store_ms
    );
    t
}

// ---------------------------------------------------------------------------------------
// Processes, HTTP and reports

/// A `flakewatch serve` or `flakewatch worker` child and the lines it logs.
struct Proc {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    base_url: String,
}

impl Proc {
    /// `flakewatch serve` on a free loopback port with its default workers; returns once
    /// it logs the address it listens on.
    fn serve(db: &TestDb) -> Proc {
        Proc::serve_with(db, &[])
    }

    fn serve_with(db: &TestDb, env: &[(&str, &str)]) -> Proc {
        let mut process = Proc::spawn_with(&["serve", "--bind", "127.0.0.1:0"], db, env);
        let line = process.wait_for("flakewatch is listening on http://");
        let addr = line
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("an address in the listening line")
            .to_owned();
        process.base_url = format!("http://{addr}");
        process
    }

    /// A `flakewatch worker` process with its default worker count, once it is running.
    fn worker(db: &TestDb) -> Proc {
        let process = Proc::spawn(&["worker"], db);
        process.wait_for("flakewatch worker is running");
        process
    }

    fn spawn(args: &[&str], db: &TestDb) -> Proc {
        Proc::spawn_with(args, db, &[])
    }

    fn spawn_with(args: &[&str], db: &TestDb, env: &[(&str, &str)]) -> Proc {
        let mut child = Command::new(bin())
            .args(args)
            .envs(env.iter().copied())
            .env("DATABASE_URL", &db.url)
            .env("RUST_LOG", "info")
            // The burst is many CI jobs of one project sharing its token, all at once.
            .env("FLAKEWATCH_UPLOADS_PER_TOKEN", "10000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start flakewatch");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        // FLAKEWATCH_BENCH_LOG=FILE keeps the children's logs, e.g. to look at slow tasks.
        let mut log = std::env::var_os("FLAKEWATCH_BENCH_LOG").map(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("open FLAKEWATCH_BENCH_LOG")
        });
        // Keeps reading after nobody listens, so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(log) = &mut log {
                    let _ = writeln!(log, "{line}");
                }
                let _ = tx.send(line);
            }
        });
        Proc {
            child: Some(child),
            lines,
            base_url: String::new(),
        }
    }

    fn wait_for(&self, text: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.contains(text) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("flakewatch never logged {text:?}; it logged {seen:#?}"),
            }
        }
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        let mut child = self.child.take().expect("a running child");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait()));
        let exit = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("flakewatch did not exit within 60 s of SIGTERM")
            .expect("wait for flakewatch");
        assert!(exit.success(), "flakewatch exited with {exit}");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. Large bodies at once

const BODIES: usize = 6;

struct BodyFigures {
    kind: &'static str,
    memory_mib: &'static str,
    report_bytes: u64,
    sent_bytes: u64,
    baseline_kib: u64,
    peak_kib: u64,
    seconds: f64,
}

/// Six bodies at once, each streamed by its client (never whole in the bench's memory):
/// plain XML (stored gzip-compressed) and gzip (stored as sent), each held whole only while
/// written to the database, within `--upload-memory-mib` (the default, then 64 MiB).
/// SQLite, no workers: only accepting is measured.
fn large_bodies(sizes: &Sizes) -> Vec<BodyFigures> {
    let mut rows = Vec::new();
    for (kind, memory_mib) in [
        ("xml", "512"),
        ("gzip", "512"),
        ("xml", "64"),
        ("gzip", "64"),
    ] {
        let db = TestDb::sqlite();
        let token = upload_token(&db);
        let server = Proc::serve_with(
            &db,
            &[
                ("FLAKEWATCH_WORKERS", "0"),
                ("FLAKEWATCH_UPLOAD_MEMORY_MIB", memory_mib),
            ],
        );
        let pid = server.child.as_ref().expect("a running server").id();
        // One small upload first, so the baseline includes a warmed-up upload path.
        post_upload(
            &agent(),
            &server.base_url,
            &token,
            "branch=main&commit=warm",
            junit_report(10, 0).as_bytes(),
        );
        let baseline_kib = common::process::memory_kib(pid, "VmHWM");
        let started = Instant::now();
        let barrier = Arc::new(Barrier::new(BODIES));
        let sent: Vec<(u64, u64)> = std::thread::scope(|scope| {
            let senders: Vec<_> = (0..BODIES)
                .map(|i| {
                    let (base, token, barrier) = (&server.base_url, &token, barrier.clone());
                    scope.spawn(move || {
                        let mut body = StreamedReport::new(sizes.body_bytes, i);
                        barrier.wait();
                        let request = agent()
                            .post(format!("{base}/api/v1/uploads?branch=main&commit=big{i}"))
                            .header("Authorization", &format!("Bearer {token}"));
                        let (mut response, sent) = if kind == "gzip" {
                            let gzipped = flate2::read::GzEncoder::new(
                                &mut body,
                                flate2::Compression::fast(),
                            );
                            let mut wire = Counted {
                                inner: gzipped,
                                read: 0,
                            };
                            let response = request.send(ureq::SendBody::from_reader(&mut wire));
                            (response, wire.read)
                        } else {
                            let mut wire = Counted {
                                inner: &mut body,
                                read: 0,
                            };
                            let response = request.send(ureq::SendBody::from_reader(&mut wire));
                            (response, wire.read)
                        };
                        let response = response.as_mut().expect("send a large body");
                        let answer: Value = response.body_mut().read_json().expect("a JSON answer");
                        assert_eq!(response.status().as_u16(), 202, "refused: {answer}");
                        (body.produced, sent)
                    })
                })
                .collect();
            senders
                .into_iter()
                .map(|s| s.join().expect("a sender"))
                .collect()
        });
        rows.push(BodyFigures {
            kind,
            memory_mib,
            report_bytes: sent.iter().map(|(report, _)| report).sum(),
            sent_bytes: sent.iter().map(|(_, wire)| wire).sum(),
            baseline_kib,
            peak_kib: common::process::memory_kib(pid, "VmHWM"),
            seconds: started.elapsed().as_secs_f64(),
        });
        server.stop();
    }
    rows
}

fn bodies_table(rows: &[BodyFigures]) -> String {
    let mut out = String::from(
        "\n### Large bodies at once (SQLite, accepting only)\n\n\
         | bodies sent as | `--upload-memory-mib` | reports (6, XML) | bytes sent | serve peak RSS before (MiB) | peak after (MiB) | growth / bytes sent | wall time (s) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let growth = row.peak_kib.saturating_sub(row.baseline_kib) as f64 * 1024.0;
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} MB | {:.0} MB | {:.1} | {:.1} | {:.3} | {:.1} |",
            row.kind,
            row.memory_mib,
            row.report_bytes as f64 / 1e6,
            row.sent_bytes as f64 / 1e6,
            row.baseline_kib as f64 / 1024.0,
            row.peak_kib as f64 / 1024.0,
            growth / row.sent_bytes as f64,
            row.seconds
        );
    }
    out
}

/// Counts the bytes read through it (what went on the wire).
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// A JUnit report of about `bytes` bytes, written as it is read: distinct test names, so
/// it compresses about as well as real reports do.
struct StreamedReport {
    limit: u64,
    produced: u64,
    case: u64,
    seed: usize,
    pending: Vec<u8>,
    closed: bool,
}

impl StreamedReport {
    fn new(limit: u64, seed: usize) -> StreamedReport {
        StreamedReport {
            limit,
            produced: 0,
            case: 0,
            seed,
            pending: format!("<testsuite name=\"big{seed}\">\n").into_bytes(),
            closed: false,
        }
    }
}

impl std::io::Read for StreamedReport {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            if self.produced >= self.limit {
                if self.closed {
                    return Ok(0);
                }
                self.closed = true;
                self.pending = b"</testsuite>\n".to_vec();
            } else {
                self.case += 1;
                let case = self.case;
                let hash = case.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ self.seed as u64;
                self.pending = format!(
                    "  <testcase classname=\"pkg{}.Suite{}\" name=\"case_{case}_{hash:016x}\" time=\"0.{:03}\"/>\n",
                    case % 97,
                    case % 13,
                    case % 1000
                )
                .into_bytes();
            }
        }
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        self.produced += n as u64;
        Ok(n)
    }
}

/// Migrates the database (as `serve` would) and makes an upload token for the project.
fn upload_token(db: &TestDb) -> String {
    drop(db.open());
    token(db, PROJECT, Scope::Upload)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(STEP_DEADLINE))
        .max_idle_connections_per_host(256)
        .build()
        .into()
}

/// POSTs a gzipped report; returns the task token of the 202 answer.
fn post_upload(agent: &ureq::Agent, base: &str, token: &str, query: &str, body: &[u8]) -> String {
    let mut response = agent
        .post(format!("{base}/api/v1/uploads?{query}"))
        .header("Authorization", &format!("Bearer {token}"))
        .send(body)
        .expect("send the upload");
    let status = response.status().as_u16();
    let answer: Value = response.body_mut().read_json().expect("a JSON answer");
    assert_eq!(status, 202, "upload refused: {answer}");
    answer["task"].as_str().expect("a task token").to_owned()
}

/// Follows the task with long polls until it ends.
fn await_final(agent: &ureq::Agent, base: &str, task: &str) -> Value {
    let deadline = Instant::now() + STEP_DEADLINE;
    loop {
        let answer: Value = agent
            .get(format!("{base}/api/v1/tasks/{task}?wait=300"))
            .call()
            .expect("ask for the task")
            .body_mut()
            .read_json()
            .expect("a JSON task");
        let status = answer["status"].as_str().unwrap_or_default();
        if ["completed", "failed", "cancelled"].contains(&status) {
            return answer;
        }
        assert!(Instant::now() < deadline, "the task did not end: {answer}");
    }
}

/// A JUnit report of `cases` test cases in suites of 1,000 with 50 cases a class: about 1
/// in 67 fails with one of 200 messages, 1 in 50 is skipped, the rest pass. `variant`
/// shifts which cases fail, so reports of the same tests differ.
fn junit_report(cases: usize, variant: usize) -> String {
    let mut xml = String::with_capacity(cases * 100 + 1024);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for (suite, first) in (0..cases).step_by(1000).enumerate() {
        let last = (first + 1000).min(cases);
        let _ = writeln!(
            xml,
            "<testsuite name=\"module{suite}\" tests=\"{}\">",
            last - first
        );
        for i in first..last {
            let class = (i - first) / 50;
            let time = (i * 37 % 2000) as f64 / 1000.0;
            let _ = write!(
                xml,
                "  <testcase classname=\"com.example.module{suite}.Class{class}\" \
                 name=\"test_case_{i}\" time=\"{time:.3}\""
            );
            let k = i + variant;
            if k % 67 == 0 {
                let m = k / 67 % 200;
                let _ = writeln!(
                    xml,
                    "><failure message=\"expected {m} but was {}\" type=\"AssertionError\">\
                     at com.example.module{suite}.Class{class}.test(Class{class}.java:{m})\
                     </failure></testcase>",
                    m + 1
                );
            } else if k % 50 == 1 {
                xml.push_str("><skipped/></testcase>\n");
            } else {
                xml.push_str("/>\n");
            }
        }
        xml.push_str("</testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// Nearest-rank percentile (`p` = 100 is the maximum).
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What the figures were measured on.
fn machine(quick: bool) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let postgres = TestDb::postgres()
        .and_then(|db| {
            #[derive(QueryableByName)]
            struct Version {
                #[diesel(sql_type = diesel::sql_types::Text)]
                server_version: String,
            }
            let mut conn = PgConnection::establish(&db.url).ok()?;
            diesel::sql_query("SHOW server_version")
                .get_result::<Version>(&mut conn)
                .ok()
                .map(|v| v.server_version)
        })
        .unwrap_or_else(|| "not used".into());
    format!(
        "## Store pipeline: figures\n\nMachine: {cores} cores ({model}), PostgreSQL {postgres} \
         on the same machine (loopback), SQLite in WAL mode on a temporary file. Sizes: {}.\n",
        if quick { "quick (`--quick`)" } else { "full" }
    )
}
