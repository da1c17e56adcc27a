//! Soak: the real `flakewatch serve` on a loopback port under mixed load for a bounded
//! time — uploads of reports and dashboard reads at once — recording throughput, p50/p99
//! latencies and errors per kind of request, and the server's memory over time.
//!
//! Each uploader behaves as a CI step that awaits its verdict: it uploads, then waits for
//! its task to end (a long poll), then uploads the next report. A `503`/`429` with
//! `Retry-After` is honoured and counted apart ("turned away"), not as an error.
//!
//! ```sh
//! cargo bench --bench soak                          # 20 minutes on SQLite
//! cargo bench --bench soak -- --seconds 180         # a short run
//! cargo bench --bench soak -- --postgres            # on PostgreSQL (TEST_DATABASE_URL)
//! cargo bench --bench soak -- --seconds 600 --uploads-for 300   # then reads alone
//! ```
//!
//! The goals (errors 0, memory flat) are printed as figures and ratios of the last window
//! against the first one of the same run, never asserted. The process exits 1 if any
//! request failed, so a scripted run notices.

#![forbid(unsafe_code)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::api::{count, token};
use common::process::{flakewatch, Served};
use common::TestDb;
use flakewatch::store::tokens::Scope;

const PROJECT: &str = "soak";
/// Test cases per uploaded report.
const CASES: usize = 200;
/// How often the server's memory is sampled, and the width of the first/last windows.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const UPLOADERS: usize = 4;
const READERS: usize = 2;
/// The pages and API reads a dashboard user goes round.
const READS: &[(&str, &str)] = &[
    ("page", "/"),
    ("page", "/projects/soak"),
    ("page", "/projects/soak/tests"),
    ("page", "/projects/soak/runs"),
    ("api", "/api/v1/projects/soak/tests?status=all&limit=100"),
    ("api", "/api/v1/projects/soak/metrics"),
];

/// One finished request: kind, when it ended (since the start), latency, and whether it
/// failed (anything but a 2xx answer).
struct Sample {
    kind: &'static str,
    at: Duration,
    latency: Duration,
    failed: Option<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().expect("--seconds takes a whole number"))
        .unwrap_or(20 * 60);
    let db = if args.iter().any(|a| a == "--postgres") {
        TestDb::postgres().expect("PostgreSQL is skipped (FLAKEWATCH_SKIP_PG)")
    } else {
        TestDb::sqlite()
    };
    let duration = Duration::from_secs(seconds);
    // Uploads may stop before the reads do, to see memory and latency on data that no
    // longer grows.
    let uploads_for = args
        .iter()
        .position(|a| a == "--uploads-for")
        .and_then(|i| args.get(i + 1))
        .map(|s| Duration::from_secs(s.parse().expect("--uploads-for takes a whole number")))
        .unwrap_or(duration);

    let mut command = flakewatch(Path::new("."));
    command
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("FLAKEWATCH_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn,flakewatch=info");
    let served = Served::start(command);
    let upload_token = token(&db, PROJECT, Scope::Upload);
    let read_token = token(&db, PROJECT, Scope::Read);
    eprintln!(
        "soak: {} s on {:?}, {UPLOADERS} uploaders ({CASES} cases a report), {READERS} readers, server {}",
        seconds, db.backend, served.base_url
    );

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let mut clients = Vec::new();
    for uploader in 0..UPLOADERS {
        let (base, token) = (served.base_url.clone(), upload_token.clone());
        let own_samples = samples.clone();
        clients.push(spawn_client(&stop, &samples, started, move |agent, i| {
            if started.elapsed() >= uploads_for {
                // From here on the reads go on alone.
                return Step::Done;
            }
            let url = format!(
                "{base}/api/v1/uploads?branch=main&job=soak-{uploader}&commit=c{uploader}-{i}"
            );
            let sent = Instant::now();
            let answer = agent
                .post(&url)
                .header("Authorization", &format!("Bearer {token}"))
                .send(report(i).as_bytes());
            let status = answer.as_ref().map(|r| r.status().as_u16()).ok();
            let asked_to_wait = answer
                .as_ref()
                .ok()
                .and_then(retry_after)
                .filter(|_| matches!(status, Some(503 | 429)));
            own_samples.lock().unwrap().push(Sample {
                kind: if asked_to_wait.is_some() {
                    "upload turned away"
                } else {
                    "upload (its 202)"
                },
                at: started.elapsed(),
                latency: sent.elapsed(),
                failed: match (&answer, asked_to_wait) {
                    (Ok(_), Some(_)) => None,
                    (Ok(r), None) if r.status().as_u16() == 202 => None,
                    (Ok(r), None) => Some(format!("HTTP {}", r.status())),
                    (Err(err), _) => Some(err.to_string()),
                },
            });
            if let Some(seconds) = asked_to_wait {
                // Told to come back later: a client that honours it waits, as asked.
                std::thread::sleep(Duration::from_secs(seconds));
                return Step::Recorded;
            }
            let Ok(mut response) = answer.map_err(drop).and_then(|r| {
                if r.status().as_u16() == 202 {
                    Ok(r)
                } else {
                    Err(())
                }
            }) else {
                return Step::Recorded;
            };
            let task: serde_json::Value = match response.body_mut().read_json() {
                Ok(task) => task,
                Err(err) => {
                    return Step::Finished("upload, stored and scored", Err(err.to_string()))
                }
            };
            let stored = await_completed(agent, &base, &task).map(|()| 200);
            Step::Finished("upload, stored and scored", stored)
        }));
    }
    for reader in 0..READERS {
        let (base, token) = (served.base_url.clone(), read_token.clone());
        clients.push(spawn_client(&stop, &samples, started, move |agent, i| {
            let (kind, path) = READS[(i + reader) % READS.len()];
            let answer = agent
                .get(format!("{base}{path}"))
                .header("Authorization", &format!("Bearer {token}"))
                .call()
                .and_then(|mut r| {
                    r.body_mut().read_to_vec()?;
                    Ok(r.status().as_u16())
                });
            Step::Finished(kind, answer.map_err(|err| err.to_string()))
        }));
    }

    // Memory over time: a measurement on a clock, not a wait for anything.
    let mut memory = Vec::new();
    while started.elapsed() < duration {
        memory.push((
            started.elapsed(),
            common::process::memory_kib(served.process.pid(), "VmRSS"),
        ));
        std::thread::sleep(SAMPLE_EVERY.min(duration.saturating_sub(started.elapsed())));
    }
    memory.push((
        started.elapsed(),
        common::process::memory_kib(served.process.pid(), "VmRSS"),
    ));
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().unwrap();
    }
    let elapsed = started.elapsed();

    // Everything accepted is stored before the figures are final.
    let drain = Instant::now();
    while count(&db, "store_tasks WHERE status IN ('enqueued', 'running')") > 0 {
        assert!(
            drain.elapsed() < Duration::from_secs(600),
            "the queue did not drain"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let failed_tasks = count(&db, "store_tasks WHERE status <> 'completed'");
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let errors = report_figures(&samples, &memory, elapsed, drain.elapsed(), failed_tasks);
    assert!(served.terminate().success(), "serve did not stop cleanly");
    if errors > 0 {
        std::process::exit(1);
    }
}

/// What one turn of a client did.
enum Step {
    /// A request of this kind ended (latency measured around the whole turn).
    Finished(&'static str, Result<u16, String>),
    /// The turn recorded its own samples.
    Recorded,
    /// This client has nothing more to do.
    Done,
}

/// A client on its own thread making requests one after another until `stop`.
fn spawn_client(
    stop: &Arc<AtomicBool>,
    samples: &Arc<Mutex<Vec<Sample>>>,
    started: Instant,
    turn: impl Fn(&ureq::Agent, usize) -> Step + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let (stop, samples) = (stop.clone(), samples.clone());
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        for i in 0.. {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let sent = Instant::now();
            let (kind, answer) = match turn(&agent, i) {
                Step::Finished(kind, answer) => (kind, answer),
                Step::Recorded => continue,
                Step::Done => break,
            };
            let failed = match answer {
                Ok(status) if (200..300).contains(&status) => None,
                Ok(status) => Some(format!("HTTP {status}")),
                Err(err) => Some(err),
            };
            samples.lock().unwrap().push(Sample {
                kind,
                at: started.elapsed(),
                latency: sent.elapsed(),
                failed,
            });
        }
    })
}

/// Waits (long polls) until the task ends; `Err` unless it ends `completed`.
fn await_completed(
    agent: &ureq::Agent,
    base: &str,
    task: &serde_json::Value,
) -> Result<(), String> {
    let token = task["task"].as_str().ok_or("no task token in the answer")?;
    loop {
        let mut response = agent
            .get(format!("{base}/api/v1/tasks/{token}?wait=60"))
            .call()
            .map_err(|e| e.to_string())?;
        let task: serde_json::Value = response.body_mut().read_json().map_err(|e| e.to_string())?;
        match task["status"].as_str() {
            Some("completed") => return Ok(()),
            Some("enqueued" | "running") => continue,
            other => return Err(format!("task ended {other:?}: {}", task["error"])),
        }
    }
}

fn retry_after(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A report of [`CASES`] cases, one of them failing in every fifth report.
fn report(i: usize) -> String {
    let mut xml = format!("<testsuite name=\"soak\" tests=\"{CASES}\">");
    for case in 0..CASES {
        if case == 0 && i % 5 == 0 {
            xml.push_str("<testcase classname=\"soak.A\" name=\"t0\"><failure message=\"flake\">at soak</failure></testcase>");
        } else {
            xml.push_str(&format!(
                "<testcase classname=\"soak.A\" name=\"t{case}\" time=\"0.01\"/>"
            ));
        }
    }
    xml.push_str("</testsuite>");
    xml
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn p99_ms(samples: &[&Sample]) -> f64 {
    let mut ms: Vec<f64> = samples
        .iter()
        .map(|s| s.latency.as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    percentile(&ms, 99.0)
}

/// Prints the Markdown tables for BENCHMARKS.md; returns the number of failed requests.
fn report_figures(
    samples: &[Sample],
    memory: &[(Duration, u64)],
    elapsed: Duration,
    drained_in: Duration,
    failed_tasks: i64,
) -> usize {
    let window = SAMPLE_EVERY * 6;
    let mut by_kind: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
    for sample in samples {
        by_kind.entry(sample.kind).or_default().push(sample);
    }
    println!("| requests | count | per second | p50 (ms) | p99 (ms) | p99 first {0} s | p99 last {0} s | last/first | errors |", window.as_secs());
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut errors = 0;
    for (kind, list) in &by_kind {
        let mut ms: Vec<f64> = list
            .iter()
            .map(|s| s.latency.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let first: Vec<&Sample> = list.iter().copied().filter(|s| s.at < window).collect();
        let last: Vec<&Sample> = list
            .iter()
            .copied()
            .filter(|s| s.at + window > elapsed)
            .collect();
        let failed = list.iter().filter(|s| s.failed.is_some()).count();
        errors += failed;
        println!(
            "| {kind} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {failed} |",
            list.len(),
            list.len() as f64 / elapsed.as_secs_f64(),
            percentile(&ms, 50.0),
            percentile(&ms, 99.0),
            p99_ms(&first),
            p99_ms(&last),
            p99_ms(&last) / p99_ms(&first).max(0.001),
        );
    }
    for sample in samples.iter().filter(|s| s.failed.is_some()).take(5) {
        println!(
            "error: {} at {:?}: {}",
            sample.kind,
            sample.at,
            sample.failed.as_deref().unwrap_or("")
        );
    }
    println!();
    println!("| time (s) | serve RSS (MiB) |");
    println!("|---:|---:|");
    let step = (memory.len() / 12).max(1);
    for (i, (at, kib)) in memory.iter().enumerate() {
        if i % step == 0 || i == memory.len() - 1 {
            println!("| {} | {:.1} |", at.as_secs(), *kib as f64 / 1024.0);
        }
    }
    let settled: Vec<u64> = memory
        .iter()
        .filter(|(at, _)| *at >= window)
        .map(|(_, k)| *k)
        .collect();
    if let (Some(first), Some(last)) = (settled.first(), settled.last()) {
        println!(
            "\nRSS after the first {} s: {:.1} MiB; at the end: {:.1} MiB (ratio {:.2}); peak {:.1} MiB",
            window.as_secs(),
            *first as f64 / 1024.0,
            *last as f64 / 1024.0,
            *last as f64 / (*first).max(1) as f64,
            settled.iter().max().copied().unwrap_or(0) as f64 / 1024.0
        );
    }
    println!(
        "Run: {:.0} s; the queue drained {:.1} s after the load stopped; store tasks not completed: {failed_tasks}.",
        elapsed.as_secs_f64(),
        drained_in.as_secs_f64()
    );
    errors + failed_tasks as usize
}
