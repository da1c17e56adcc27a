//! Parser throughput against a bare quick-xml event loop over the same bytes (the
//! floor), and peak memory on a ~500 MB report streamed from a generator.
//!
//! `cargo bench --bench junit_throughput` (release). Prints a markdown table.
//! `-- --quick` skips the 1M-case sizes.

use flakewatch::junit::writer::JunitWriter;
use flakewatch::junit::{
    Captured, DeclaredCounts, Item, JunitReader, Outcome, ParseOptions, Suite, TestCase,
};
use std::io::{self, Read};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CASES_PER_SUITE: usize = 100;
const PEAK_CHILD_ARG: &str = "--peak-memory-child";
const PEAK_REPORT_BYTES: u64 = 500 * 1000 * 1000;

fn case(n: usize, with_output: bool) -> TestCase {
    let outcome = match n % 100 {
        0 | 1 => Outcome::Failed,
        2 => Outcome::Skipped,
        _ => Outcome::Passed,
    };
    let failing = outcome == Outcome::Failed;
    TestCase {
        suite_path: Arc::from(Vec::new()),
        classname: Some(format!("com.example.module{}.Class{}Test", n % 17, n / CASES_PER_SUITE)),
        name: format!("test_behaviour_{n}_does_what_it_should"),
        file: None,
        line: None,
        outcome,
        duration_ms: Some((n % 977) as i64),
        message: failing.then(|| format!("expected <{n}> but was <{}>", n + 1)),
        failure_type: failing.then(|| "java.lang.AssertionError".to_owned()),
        text: failing.then(|| Captured {
            text: "java.lang.AssertionError: boom\n\tat com.example.Foo.bar(Foo.java:42)\n\tat com.example.FooTest.test(FooTest.java:17)\n".to_owned(),
            truncated: false,
        }),
        system_out: with_output.then(|| Captured {
            text: format!("[main] INFO com.example.Service - started case {n} in 12 ms\n[main] DEBUG com.example.Repo - query took 3 ms & returned <4> rows\n"),
            truncated: false,
        }),
        system_err: None,
        properties: Vec::new(),
        attempts: Vec::new(),
        suite_level: false,
        source_line: 0,
    }
}

fn suite(index: usize) -> Suite {
    Suite {
        path: Arc::from(Vec::new()),
        name: format!("com.example.Class{index}Test"),
        timestamp: Some("2024-05-01T12:00:00".to_owned()),
        hostname: Some("ci-runner-7".to_owned()),
        id: None,
        package: None,
        file: None,
        duration_ms: Some(1234),
        declared: DeclaredCounts {
            tests: Some(CASES_PER_SUITE as u64),
            ..DeclaredCounts::default()
        },
        properties: Vec::new(),
    }
}

/// Writes suite `index` (its `CASES_PER_SUITE` cases) into `w`.
fn write_suite<W: io::Write>(w: &mut JunitWriter<W>, index: usize, with_output: bool) {
    w.start_suite(&suite(index)).unwrap();
    for i in 0..CASES_PER_SUITE {
        w.write_case(&case(index * CASES_PER_SUITE + i, with_output))
            .unwrap();
    }
    w.end_suite(None, None, &[]).unwrap();
}

fn report(cases: usize, with_output: bool) -> Vec<u8> {
    let mut w = JunitWriter::new(Vec::new(), None).unwrap();
    for s in 0..cases / CASES_PER_SUITE {
        write_suite(&mut w, s, with_output);
    }
    w.finish().unwrap()
}

/// The floor: quick-xml's event loop with a reused buffer and nothing else.
fn bare_quick_xml(bytes: &[u8]) -> usize {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::with_capacity(4096);
    let mut events = 0;
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) => return events,
            Ok(_) => events += 1,
            Err(e) => panic!("generated report is broken: {e}"),
        }
    }
}

fn parse(bytes: &[u8]) -> usize {
    let mut reader = JunitReader::new(bytes, "bench.xml", ParseOptions::default()).unwrap();
    let mut cases = 0;
    while let Some(item) = reader.next_item().unwrap() {
        if let Item::Case(_) = item {
            cases += 1;
        }
    }
    cases
}

/// Best of `runs` timings of `a` and of `b`, run alternately so that both see the
/// same machine load (the machine is shared).
fn best_pair(
    runs: usize,
    mut a: impl FnMut() -> usize,
    mut b: impl FnMut() -> usize,
) -> (Duration, Duration, usize) {
    let (mut best_a, mut best_b, mut out) = (Duration::MAX, Duration::MAX, 0);
    for _ in 0..runs {
        let start = Instant::now();
        std::hint::black_box(a());
        best_a = best_a.min(start.elapsed());
        let start = Instant::now();
        out = std::hint::black_box(b());
        best_b = best_b.min(start.elapsed());
    }
    (best_a, best_b, out)
}

/// Streams `<testsuites>` of generated suites until about `target` bytes, never
/// holding more than one suite in memory.
struct ReportStream {
    buf: Vec<u8>,
    pos: usize,
    next_suite: usize,
    produced: u64,
    target: u64,
    finished: bool,
}

impl ReportStream {
    fn new(target: u64) -> Self {
        let mut buf = Vec::new();
        buf.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
        ReportStream {
            buf,
            pos: 0,
            next_suite: 0,
            produced: 0,
            target,
            finished: false,
        }
    }

    fn refill(&mut self) {
        self.buf.clear();
        self.pos = 0;
        if self.finished {
            return;
        }
        if self.produced >= self.target {
            self.buf.extend_from_slice(b"</testsuites>\n");
            self.finished = true;
            return;
        }
        // The writer wraps its output in <testsuites>; strip that wrapper.
        let mut w = JunitWriter::new(Vec::new(), None).unwrap();
        write_suite(&mut w, self.next_suite, true);
        let xml = w.finish().unwrap();
        let start = xml
            .windows(13)
            .position(|w| w == b"<testsuites>\n")
            .unwrap()
            + 13;
        let end = xml.len() - b"</testsuites>\n".len();
        self.buf.extend_from_slice(&xml[start..end]);
        self.next_suite += 1;
    }
}

impl Read for ReportStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.refill();
            if self.buf.is_empty() {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.produced += n as u64;
        Ok(n)
    }
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Child process: parse the streamed report, print `bytes cases seconds hwm_kib`.
fn peak_memory_child() {
    let start = Instant::now();
    let mut reader = JunitReader::new(
        ReportStream::new(PEAK_REPORT_BYTES),
        "stream.xml",
        ParseOptions::default(),
    )
    .unwrap();
    let mut cases = 0u64;
    while let Some(item) = reader.next_item().unwrap() {
        if let Item::Case(_) = item {
            cases += 1;
        }
    }
    println!(
        "{} {} {:.3} {}",
        reader.bytes_read(),
        cases,
        start.elapsed().as_secs_f64(),
        vm_hwm_kib()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == PEAK_CHILD_ARG) {
        peak_memory_child();
        return;
    }
    if args.iter().any(|a| a == "--profile-parse") {
        // For `perf record`: parsing only, no generator in the profile.
        // `--floor` profiles the bare quick-xml loop instead.
        let bytes = report(100_000, args.iter().any(|a| a == "--output"));
        let floor = args.iter().any(|a| a == "--floor");
        for _ in 0..20 {
            std::hint::black_box(if floor {
                bare_quick_xml(&bytes)
            } else {
                parse(&bytes)
            });
        }
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let sizes: &[usize] = if quick {
        &[10_000, 100_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    };

    println!("| cases | system-out | size (MB) | floor: bare quick-xml (MB/s) | parser (MB/s) | parser (cases/s) | ratio |");
    println!("|---:|:---:|---:|---:|---:|---:|---:|");
    for &n in sizes {
        for with_output in [false, true] {
            let bytes = report(n, with_output);
            let mb = bytes.len() as f64 / 1e6;
            let runs = if n >= 1_000_000 { 5 } else { 15 };
            let (floor, ours, cases) = best_pair(runs, || bare_quick_xml(&bytes), || parse(&bytes));
            assert_eq!(cases, n);
            let floor_mbs = mb / floor.as_secs_f64();
            let ours_mbs = mb / ours.as_secs_f64();
            println!(
                "| {n} | {} | {mb:.1} | {floor_mbs:.0} | {ours_mbs:.0} | {:.0} | {:.2}x |",
                if with_output { "yes" } else { "no" },
                n as f64 / ours.as_secs_f64(),
                ours_mbs / floor_mbs
            );
        }
    }

    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe).arg(PEAK_CHILD_ARG).output().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = line.split_whitespace().collect();
    let (bytes, cases, secs, hwm): (f64, u64, f64, u64) = (
        f[0].parse().unwrap(),
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
        f[3].parse().unwrap(),
    );
    println!();
    println!("| streamed report | cases | parse time | throughput | peak RSS (VmHWM) |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {:.0} MB (generated on the fly, with system-out) | {cases} | {secs:.2} s | {:.0} MB/s | {:.1} MiB |",
        bytes / 1e6,
        bytes / 1e6 / secs,
        hwm as f64 / 1024.0
    );
}
