//! Offline accuracy harness: simulated histories with known truth, fed run by run to
//! flakewatch's scorer and to three simple rules; prints markdown tables of accuracy and
//! the scorer's speed.
//!
//! Usage: accuracy [--set tune|holdout] [--seeds 1,2] [--scenarios standard,noisy]
//!                 [--param name=value]... [--quick] [--verbose] [--no-speed]
//!                 [--http [sqlite|postgres]] [--full]
//!
//! `--http` adds flakewatch behind its real API (see `accuracy/http.rs`): a server on a
//! loopback port with a fresh database, every run uploaded as JUnit XML, the labels read
//! back from the tests API. It uses the `--quick` sizes unless `--full` is given.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "accuracy/http.rs"]
mod http;

use std::time::Instant;

use flakewatch::analysis::evaluate::{evaluate, standard_detectors, Report};
use flakewatch::analysis::metrics::percentile;
use flakewatch::analysis::simulator::{generate, Scenario, SimHistory};
use flakewatch::analysis::{observe, observe_in_place, Params, TestResultObs, TestState};

/// Seeds the parameters were tuned on, and the held-out seeds results are reported on.
const TUNE_SEEDS: [u64; 3] = [1, 2, 3];
const HOLDOUT_SEEDS: [u64; 3] = [101, 102, 103];
const CHECKPOINTS: usize = 20;

struct Options {
    seeds: Vec<u64>,
    set: String,
    scenarios: Vec<String>,
    params: Params,
    quick: bool,
    verbose: bool,
    speed: bool,
    http: Option<http::Backend>,
    full: bool,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        seeds: HOLDOUT_SEEDS.to_vec(),
        set: "holdout".into(),
        scenarios: Scenario::PRESETS.iter().map(|s| s.to_string()).collect(),
        params: Params::default(),
        quick: false,
        verbose: false,
        speed: true,
        http: None,
        full: false,
    };
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--set" => {
                o.set = value()?;
                o.seeds = match o.set.as_str() {
                    "tune" => TUNE_SEEDS.to_vec(),
                    "holdout" => HOLDOUT_SEEDS.to_vec(),
                    other => return Err(format!("unknown set {other:?}: use tune or holdout")),
                };
            }
            "--seeds" => {
                o.set = "custom".into();
                o.seeds = value()?
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|_| format!("bad seed {s:?}")))
                    .collect::<Result<_, _>>()?;
            }
            "--scenarios" => {
                let names: Vec<String> = value()?.split(',').map(|s| s.trim().to_string()).collect();
                if let Some(bad) = names.iter().find(|n| Scenario::preset(n, 0).is_none()) {
                    return Err(format!("unknown scenario {bad:?}: use {}", Scenario::PRESETS.join(", ")));
                }
                o.scenarios = names;
            }
            "--param" => {
                let kv = value()?;
                let (k, v) = kv.split_once('=').ok_or(format!("--param wants name=value, got {kv:?}"))?;
                let mut json = serde_json::to_value(&o.params).map_err(|e| e.to_string())?;
                let parsed: serde_json::Value =
                    serde_json::from_str(v).map_err(|e| format!("bad value for {k}: {e}"))?;
                match json.get_mut(k) {
                    Some(slot) => *slot = parsed,
                    None => return Err(format!("unknown parameter {k:?}")),
                }
                o.params = serde_json::from_value(json).map_err(|e| format!("bad value for {k}: {e}"))?;
            }
            "--quick" => o.quick = true,
            // `cargo bench` adds this to every benchmark's arguments.
            "--bench" => {}
            "--verbose" => o.verbose = true,
            "--no-speed" => o.speed = false,
            "--http" => {
                // The backend is optional: `--http`, `--http sqlite`, `--http postgres`.
                let backend = match args.peek().map(String::as_str) {
                    Some(name) if !name.starts_with("--") => {
                        let name = args.next().unwrap_or_default();
                        http::Backend::parse(&name)
                            .ok_or(format!("unknown backend {name:?}: use sqlite or postgres"))?
                    }
                    _ => http::Backend::Sqlite,
                };
                o.http = Some(backend);
            }
            "--full" => o.full = true,
            "-h" | "--help" => {
                return Err("usage: accuracy [--set tune|holdout] [--seeds 1,2] [--scenarios standard,no-retries,noisy] \
                     [--param name=value]... [--quick] [--verbose] [--no-speed] [--http [sqlite|postgres]] [--full]"
                    .into())
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if o.http.is_some() && o.params != Params::default() {
        // The server scores with `Params::default()` (it has no setting for them), so its
        // labels would differ from the offline scorer's for a reason that is not a bug.
        return Err(
            "--param cannot be combined with --http: the server scores with the default parameters"
                .into(),
        );
    }
    Ok(o)
}

fn scenario(name: &str, seed: u64, quick: bool) -> Scenario {
    let sc = Scenario::preset(name, seed).expect("validated scenario name");
    if quick {
        Scenario {
            tests: 600,
            main_commits: 150,
            ..sc
        }
    } else {
        sc
    }
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.0}"))
}

fn print_table(title: &str, reports: &[Report]) {
    println!("\n### {title}\n");
    println!(
        "| detector | F1 end | precision end | recall end | F1 time-avg | precision time-avg | recall time-avg \
         | runs to flag p50 | p95 | never flagged | runs to clear after fix p50 | p95 | never cleared \
         | clean regressions labelled flaky | flaky-test regressions Broken |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in reports {
        let flagged = r.delays.len() as f64;
        let total = flagged + r.never_flagged as f64;
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} of {} | {} | {} | {} of {} | {} of {} ({:.1}%) | {} |",
            r.detector,
            r.end.f1(),
            r.end.precision(),
            r.end.recall(),
            r.time_averaged.f1(),
            r.time_averaged.precision(),
            r.time_averaged.recall(),
            fmt_opt(percentile(&r.delays, 50.0)),
            fmt_opt(percentile(&r.delays, 95.0)),
            r.never_flagged,
            total,
            fmt_opt(percentile(&r.clear_delays, 50.0)),
            fmt_opt(percentile(&r.clear_delays, 95.0)),
            r.never_cleared,
            r.clear_delays.len() as u64 + r.never_cleared,
            r.clean_regressions_flaky,
            r.clean_regressions,
            100.0 * r.clean_regressions_flaky_share(),
            r.flaky_regressions_broken
                .map_or("n/a".into(), |b| format!("{b} of {}", r.flaky_regressions)),
        );
    }
}

/// Broken and disabled tests at the end of history, for detectors that know "broken".
fn print_lifecycle(reports: &[Report]) {
    let known: Vec<&Report> = reports
        .iter()
        .filter(|r| r.broken_found.is_some())
        .collect();
    if known.is_empty() {
        return;
    }
    println!("\n| detector | broken at end: found | labelled broken wrongly | disabled tests labelled flaky or broken |");
    println!("|---|---|---|---|");
    for r in known {
        println!(
            "| {} | {} of {} | {} | {} of {} |",
            r.detector,
            r.broken_found.unwrap_or(0),
            r.broken_at_end,
            r.broken_false.unwrap_or(0),
            r.disabled_labelled,
            r.disabled_at_end,
        );
    }
}

fn print_strict(reports: &[Report]) {
    println!("\nStrict truth (a fixed test is not flaky from the fix on):\n");
    println!("| detector | F1 end | precision end | recall end | F1 time-avg | precision time-avg | recall time-avg |");
    println!("|---|---|---|---|---|---|---|");
    for r in reports {
        let (e, t) = (&r.end_strict, &r.time_averaged_strict);
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.detector,
            e.f1(),
            e.precision(),
            e.recall(),
            t.f1(),
            t.precision(),
            t.recall()
        );
    }
}

fn merge_into(total: &mut Vec<Report>, reports: &[Report]) {
    if total.is_empty() {
        *total = reports
            .iter()
            .map(|r| Report {
                detector: r.detector.clone(),
                ..Default::default()
            })
            .collect();
    }
    for (t, r) in total.iter_mut().zip(reports) {
        t.merge(r);
    }
}

fn main() {
    let mut o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if o.http.is_some() {
        // Every run goes through the server: the small histories unless asked otherwise,
        // and no scorer timings (they measure the scorer alone).
        o.quick = !o.full;
        o.speed = false;
    }
    println!(
        "Seeds: {} set {:?}; scenarios: {}; {} checkpoints{}{}",
        o.set,
        o.seeds,
        o.scenarios.join(", "),
        CHECKPOINTS,
        if o.quick {
            "; quick (600 tests, 150 main commits)"
        } else {
            ""
        },
        o.http.map_or(String::new(), |b| format!(
            "; flakewatch also over the HTTP API ({})",
            b.name()
        ))
    );
    let mut overall: Vec<Report> = Vec::new();
    let mut http_total = http::HttpStats::default();
    let mut first_history: Option<SimHistory> = None;
    for name in &o.scenarios {
        let mut per_scenario: Vec<Report> = Vec::new();
        for &seed in &o.seeds {
            let started = Instant::now();
            let h = generate(&scenario(name, seed, o.quick));
            let generated = started.elapsed();
            let mut detectors = standard_detectors(&o.params, h.tests.len());
            // A fresh server and database per history; dropped (PostgreSQL database
            // included) when the history is done.
            let instance = o
                .http
                .map(|backend| (backend, http::Instance::start(backend)));
            let stats = instance.as_ref().map(|(backend, instance)| {
                let (detector, stats) =
                    http::HttpDetector::new(instance, *backend, &h.scenario, &h.tests, &o.params);
                detectors.insert(1, Box::new(detector));
                stats
            });
            let reports = evaluate(&h, &mut detectors, CHECKPOINTS);
            drop(instance);
            if let Some(stats) = stats {
                let stats = stats.borrow();
                print_http_history(name, seed, &stats);
                http_total.add(&stats);
            }
            if o.verbose {
                let results: usize = h.runs.iter().map(|r| r.results.len()).sum();
                eprintln!(
                    "{name} seed {seed}: {} runs, {results} results, generated in {:.1}s, evaluated in {:.1}s",
                    h.runs.len(),
                    generated.as_secs_f64(),
                    started.elapsed().as_secs_f64() - generated.as_secs_f64()
                );
                let r = &reports[0];
                eprintln!(
                    "  flakewatch end: tp {} fp {} fn {}; misses {:?}",
                    r.end.tp, r.end.fp, r.end.fn_, r.misses
                );
            }
            merge_into(&mut per_scenario, &reports);
            if first_history.is_none() {
                first_history = Some(h);
            }
        }
        merge_into(&mut overall, &per_scenario);
        print_table(&format!("Scenario {name}"), &per_scenario);
        print_lifecycle(&per_scenario);
        if o.verbose {
            eprintln!("{name} flakewatch misses: {:?}", per_scenario[0].misses);
        }
    }
    print_table("All scenarios", &overall);
    print_lifecycle(&overall);
    print_strict(&overall);
    if o.http.is_some() {
        print_http_summary(&overall, &http_total);
    }
    if o.speed {
        if let Some(h) = first_history {
            speed(&h, &o.params);
        }
    }
}

fn print_http_history(name: &str, seed: u64, s: &http::HttpStats) {
    eprintln!(
        "{name} seed {seed}: {} runs over HTTP in {:.1} s; {} of {} labels differ from the offline scorer's",
        s.runs,
        (s.upload + s.store + s.read).as_secs_f64(),
        s.differences,
        s.compared
    );
    for d in &s.shown {
        eprintln!(
            "  run {} {}: offline {:?}, server {:?}",
            d.run, d.test, d.offline, d.server
        );
    }
}

/// The offline and HTTP flakewatch rows side by side, whether their labels ever differed,
/// and the throughput of the upload path.
fn print_http_summary(overall: &[Report], s: &http::HttpStats) {
    println!("\n### flakewatch offline and over the real API, same histories\n");
    println!("| detector | F1 end | precision end | recall end | F1 time-avg | precision time-avg | recall time-avg | runs to flag p50 | p95 | never flagged | clean regressions labelled flaky | flaky-test regressions Broken |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in overall.iter().take(2) {
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} of {} | {} of {} | {} |",
            r.detector,
            r.end.f1(),
            r.end.precision(),
            r.end.recall(),
            r.time_averaged.f1(),
            r.time_averaged.precision(),
            r.time_averaged.recall(),
            fmt_opt(percentile(&r.delays, 50.0)),
            fmt_opt(percentile(&r.delays, 95.0)),
            r.never_flagged,
            r.delays.len() as u64 + r.never_flagged,
            r.clean_regressions_flaky,
            r.clean_regressions,
            r.flaky_regressions_broken
                .map_or("n/a".into(), |b| format!("{b} of {}", r.flaky_regressions)),
        );
    }
    let same = overall.len() >= 2
        && overall[0]
            == Report {
                detector: overall[0].detector.clone(),
                ..overall[1].clone()
            };
    println!(
        "\nLabels compared after every run (status of each test in the run, offline scorer against the server): \
         {} of {} differ; reports {}.",
        s.differences,
        s.compared,
        if same { "identical" } else { "DIFFERENT" }
    );
    let secs = |d: std::time::Duration| d.as_secs_f64();
    let busy = secs(s.upload + s.store);
    println!("\n### Upload path throughput (sequential, one run at a time)\n");
    println!("| measurement | value |");
    println!("|---|---|");
    println!(
        "| runs uploaded | {} ({} results, {:.1} MB of JUnit XML) |",
        s.runs,
        s.results,
        s.report_bytes as f64 / 1e6
    );
    println!(
        "| time in POST /uploads | {:.1} s ({:.1} ms per run) |",
        secs(s.upload),
        1e3 * secs(s.upload) / s.runs.max(1) as f64
    );
    println!(
        "| time awaiting the store task (?wait=) | {:.1} s ({:.1} ms per run) |",
        secs(s.store),
        1e3 * secs(s.store) / s.runs.max(1) as f64
    );
    println!(
        "| time reading labels (GET /tests after each run) | {:.1} s ({:.1} ms per run) |",
        secs(s.read),
        1e3 * secs(s.read) / s.runs.max(1) as f64
    );
    println!(
        "| upload + store throughput | {:.1} runs/s, {:.0} results/s |",
        s.runs as f64 / busy,
        s.results as f64 / busy
    );
    println!(
        "| with the label reads | {:.1} runs/s, {:.0} results/s |",
        s.runs as f64 / (busy + secs(s.read)),
        s.results as f64 / (busy + secs(s.read))
    );
}

/// Times the scorer: a full replay of one history (observe_in_place and observe), and
/// storage's per-upload work for 5,000 test cases (state JSON in, observe, state and verdict
/// JSON out).
fn speed(h: &SimHistory, params: &Params) {
    let work: Vec<(usize, usize, TestResultObs)> = h
        .runs
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.results.iter().map(move |x| (i, x.test as usize, x.obs())))
        .collect();
    let n = work.len() as f64;

    let mut states = vec![TestState::default(); h.tests.len()];
    let t0 = Instant::now();
    for (run, test, obs) in &work {
        observe_in_place(&mut states[*test], &h.runs[*run].ctx, obs, params);
    }
    let in_place_ns = t0.elapsed().as_nanos() as f64 / n;

    let mut states2 = vec![TestState::default(); h.tests.len()];
    let t0 = Instant::now();
    let mut flaky = 0usize;
    for (run, test, obs) in &work {
        let s = std::mem::take(&mut states2[*test]);
        let (s, v) = observe(s, &h.runs[*run].ctx, obs, params);
        flaky += usize::from(v.status == flakewatch::analysis::Status::Flaky);
        states2[*test] = s;
    }
    let observe_ns = t0.elapsed().as_nanos() as f64 / n;

    // One upload of 5,000 test cases: tests in their end-of-history state, one run.
    let cases = 5_000;
    let jsons: Vec<String> = (0..cases)
        .map(|i| serde_json::to_string(&states[i % states.len()]).expect("state serialises"))
        .collect();
    let avg_json = jsons.iter().map(String::len).sum::<usize>() as f64 / cases as f64;
    let run = &h.runs[h.runs.len() - 1];
    let sample: Vec<TestResultObs> = (0..cases)
        .map(|i| work[(i * 7919) % work.len()].2.clone())
        .collect();
    let mut upload_ms = Vec::new();
    for _ in 0..10 {
        let t0 = Instant::now();
        let mut bytes = 0usize;
        for (json, obs) in jsons.iter().zip(&sample) {
            let s: TestState = serde_json::from_str(json).expect("state parses");
            let (s, v) = observe(s, &run.ctx, obs, params);
            bytes += serde_json::to_string(&s).expect("state").len();
            bytes += serde_json::to_string(&v).expect("verdict").len();
        }
        upload_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert!(bytes > 0);
    }
    let upload = percentile(&upload_ms, 50.0).unwrap_or(0.0);

    println!("\n### Speed (this machine, release build, one thread)\n");
    println!("| measurement | value |");
    println!("|---|---|");
    println!(
        "| results replayed | {} ({} flaky verdicts seen) |",
        work.len(),
        flaky
    );
    println!("| `observe_in_place` per call | {in_place_ns:.0} ns |");
    println!("| `observe` per call (with `Verdict`) | {observe_ns:.0} ns |");
    println!(
        "| projected rescore of 10M results (`observe_in_place`) | {:.1} s |",
        in_place_ns * 1e7 / 1e9
    );
    println!(
        "| projected rescore of 10M results (`observe`) | {:.1} s |",
        observe_ns * 1e7 / 1e9
    );
    println!(
        "| one upload of {cases} cases: state JSON parse + `observe` + state and verdict JSON (median of 10) | {upload:.1} ms |"
    );
    println!("| mean stored state size (end of history) | {avg_json:.0} bytes |");
}
