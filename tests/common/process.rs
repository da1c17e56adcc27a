//! The real `flakewatch` binary as a child process: its log lines, signals and exit.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_flakewatch");

/// The binary with a clean environment (no DATABASE_URL or FLAKEWATCH_* from the caller),
/// logging at `info`, run from `cwd`.
pub fn flakewatch(cwd: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(cwd).env("RUST_LOG", "info");
    for (key, _) in std::env::vars() {
        if key == "DATABASE_URL" || key.starts_with("FLAKEWATCH_") {
            command.env_remove(key);
        }
    }
    command
}

/// A running child and the lines it logs on stderr; killed if the test ends first.
pub struct Process {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
}

impl Process {
    pub fn spawn(mut command: Command) -> Process {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start flakewatch");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Process {
            child: Some(child),
            lines,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Blocks (up to 30 s) until the process logs a line containing `text`; returns it.
    pub fn wait_for_line(&self, text: &str) -> String {
        self.wait_for_line_within(text, Duration::from_secs(30))
    }

    /// `wait_for_line` with a deadline of its own; a panic logged meanwhile fails at once.
    pub fn wait_for_line_within(&self, text: &str, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(line) => {
                    assert!(!line.contains("panicked"), "{line}");
                    seen.push(line);
                }
                Err(_) => {
                    let last = &seen[seen.len().saturating_sub(20)..];
                    panic!("the process never logged {text:?} within {limit:?}; its last lines: {last:#?}")
                }
            }
        }
    }

    /// The lines logged so far and not yet read.
    pub fn logged(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Sends a signal by name, as `kill` takes it (`-TERM`, `-KILL`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} failed");
    }

    /// Waits (up to 30 s) for the process to exit.
    pub fn wait(mut self) -> ExitStatus {
        self.wait_for_exit()
    }

    /// Waits (up to 30 s) for the process to exit, keeping its log lines readable.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let mut child = self
            .child
            .take()
            .expect("the process was already waited for");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait()));
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the process did not exit within 30 s")
            .unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running `flakewatch serve` on a loopback port of its choosing.
pub struct Served {
    pub process: Process,
    pub base_url: String,
}

impl Served {
    /// Starts `command` (a `serve`) and waits for its "listening on" line, which names the
    /// port.
    pub fn start(command: Command) -> Served {
        let process = Process::spawn(command);
        let line = process.wait_for_line("listening on ");
        let base_url = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .to_owned();
        Served { process, base_url }
    }

    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let mut response = super::http()
            .get(super::Endpoint::url(self, path))
            .call()
            .unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_json().unwrap(),
        )
    }

    /// Sends SIGTERM and waits for the exit status; the process must not have panicked.
    pub fn terminate(mut self) -> ExitStatus {
        self.process.signal("-TERM");
        let exit = self.process.wait_for_exit();
        let lines = self.process.logged();
        assert!(!lines.iter().any(|l| l.contains("panicked")), "{lines:#?}");
        exit
    }
}

/// Starts `flakewatch worker` with `workers` workers, 2 s leases and `grace_seconds` to
/// finish at SIGTERM; returns once it runs.
pub fn start_worker(database_url: &str, workers: usize, grace_seconds: u64) -> Process {
    start_worker_for(database_url, workers, grace_seconds, "")
}

/// A `flakewatch worker` that takes only the job kinds listed (`store,score`, ...; empty:
/// all).
pub fn start_worker_for(
    database_url: &str,
    workers: usize,
    grace_seconds: u64,
    jobs: &str,
) -> Process {
    let mut command = flakewatch(Path::new("."));
    if !jobs.is_empty() {
        command.env("FLAKEWATCH_JOBS", jobs);
    }
    command
        .arg("worker")
        .env("DATABASE_URL", database_url)
        .env("FLAKEWATCH_WORKERS", workers.to_string())
        .env("FLAKEWATCH_LEASE_SECONDS", "2")
        .env(
            "FLAKEWATCH_SHUTDOWN_GRACE_SECONDS",
            grace_seconds.to_string(),
        );
    let worker = Process::spawn(command);
    worker.wait_for_line("flakewatch worker is running");
    worker
}

impl super::Endpoint for Served {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// A memory figure of process `pid` in KiB from `/proc/PID/status`: `VmRSS` (resident now)
/// or `VmHWM` (the peak); 0 when the process is gone.
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
