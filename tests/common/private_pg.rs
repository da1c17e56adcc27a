//! A PostgreSQL cluster of a test's own, in a temporary folder on a free loopback port, so
//! the test can stop and start it without touching the server other tests share.
//!
//! PostgreSQL refuses to run as root; when the tests do, its commands run as the
//! `postgres` user through `runuser`, and the folder is handed to that user.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Where Debian and Ubuntu put the server binaries; `PG_BIN` overrides it.
const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// The user to run PostgreSQL's commands as when the tests run as root.
    run_as: Option<&'static str>,
}

impl PrivatePostgres {
    /// Makes and starts a cluster, or says why it cannot and returns `None` (no server
    /// binaries, or running as root with no `postgres` user to run them as).
    pub fn start() -> Option<PrivatePostgres> {
        let bin = PathBuf::from(std::env::var("PG_BIN").unwrap_or_else(|_| DEFAULT_PG_BIN.into()));
        if !bin.join("initdb").is_file() {
            eprintln!(
                "skipping: no PostgreSQL server binaries in {} (set PG_BIN)",
                bin.display()
            );
            return None;
        }
        let dir = tempfile::tempdir().expect("create the cluster's folder");
        let run_as = if running_as_root() {
            let Some(uid) = uid_of("postgres") else {
                eprintln!("skipping: running as root and there is no `postgres` user to run PostgreSQL as");
                return None;
            };
            std::os::unix::fs::chown(dir.path(), Some(uid), None)
                .expect("hand the cluster's folder to the postgres user");
            Some("postgres")
        } else {
            None
        };
        let port = free_port();
        let cluster = PrivatePostgres {
            dir,
            bin,
            port,
            run_as,
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );
        cluster.start_server();
        Some(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        self.run(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
            ],
        );
    }

    /// Stops the server the way an operator's restart does (`-m fast`: sessions are
    /// ended, transactions in flight roll back) and waits until it is down.
    pub fn stop_server(&self) {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &["stop", "-w", "-m", "fast", "-D", data.to_str().unwrap()],
        );
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(path);
                command
            }
            None => Command::new(path),
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let output = self
            .command(program)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|err| panic!("run {program}: {err}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}\nserver log: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
        );
        output
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-m", "immediate", "-D"])
            .arg(&data)
            .output();
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

fn uid_of(user: &str) -> Option<u32> {
    let output = Command::new("id").args(["-u", user]).output().ok()?;
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
}

/// A port nothing listens on now (the OS hands out a fresh one for port 0).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("find a free port");
    listener.local_addr().unwrap().port()
}
