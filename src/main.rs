//! The `flakewatch` binary: parse the command line, set up logging, run the command.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = match flakewatch::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            let args: Vec<String> = std::env::args_os()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect();
            for hint in flakewatch::cli::usage::env_hints(&err, &args) {
                eprintln!("{hint}");
            }
            // Usage errors exit with 1, not clap's 2: `upload` and `tasks` use 2 to say
            // "the server could not store the report", which a typo must not look like.
            return if err.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.default_log_filter());
    match cli.run() {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole cause chain on one line and no backtrace.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc gives threads that contend for the heap arenas of their own, up to eight per core,
/// and a server's memory creeps for hours as they fragment (BENCHMARKS, "Soak"); with two
/// arenas it stays flat. An operator's own `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return;
    }
    // SAFETY: called first thing in `main`, before any other thread exists; `mallopt` only
    // sets an allocator parameter, and a refusal (it returns 0) leaves glibc's default.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// Logs go to stderr; `RUST_LOG` filters them, else the command's own default.
fn init_logging(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
