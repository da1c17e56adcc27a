//! `flakewatch tasks`: show, await, cancel and list store tasks (for operators).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde_json::Value;

use super::upload::{parse_timestamp, timestamp_param};
use crate::client::await_task::{await_task, OnServer};
use crate::client::http::{ApiClient, RetryPolicy};
use crate::client::report::{report_retry, task_table, ProgressLines};
use crate::client::task::Task;
use crate::config::ClientSettings;

#[derive(Debug, Args)]
#[command(mut_arg("token", |arg| arg.help(
    "API token of the project with the admin scope: to list or cancel tasks, or to name a \
     task by its id (following a task by its token needs none)")))]
pub struct TasksArgs {
    #[command(flatten)]
    pub client: ClientSettings,

    /// A task to show: its token (`fwt_...`, which `upload` prints) or its id (with an
    /// admin token). Repeat for several. With exactly one, the exit code tells its status:
    /// 0 completed, 2 failed, 3 still enqueued or running, 4 cancelled. Without any, lists
    /// tasks (admin token).
    #[arg(long = "task", value_name = "TOKEN|ID")]
    pub tasks: Vec<String>,

    /// List only this project's tasks.
    #[arg(long, conflicts_with = "tasks")]
    pub project: Option<String>,

    /// List only tasks in this state.
    #[arg(long, conflicts_with = "tasks",
          value_parser = ["enqueued", "running", "completed", "failed", "cancelled"])]
    pub status: Option<String>,

    /// List only tasks received at or after this time (RFC 3339).
    #[arg(long, conflicts_with = "tasks", value_parser = parse_timestamp, value_name = "RFC3339")]
    pub since: Option<DateTime<Utc>>,

    /// List only tasks received before this time (RFC 3339).
    #[arg(long, conflicts_with = "tasks", value_parser = parse_timestamp, value_name = "RFC3339")]
    pub until: Option<DateTime<Utc>>,

    /// List at most this many tasks, newest first (1 to 1000; default 100). When more
    /// match, the list ends with the --cursor of the next page.
    #[arg(long, conflicts_with = "tasks")]
    pub limit: Option<u32>,

    /// List the page that starts after the one this cursor ended (the list says it).
    #[arg(long, conflicts_with = "tasks")]
    pub cursor: Option<String>,

    /// Wait until each task has ended (or --timeout passes).
    #[arg(long = "await", requires = "tasks")]
    pub await_end: bool,

    /// Cancel the tasks (admin token). A running task stops at its next checkpoint; add
    /// --await to wait for that. A task that already ended is an error (exit 1).
    #[arg(long, requires = "tasks")]
    pub cancel: bool,

    /// Seconds --await waits for all the tasks together.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub timeout: u64,

    /// Tries for each request when the network or server fails briefly.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub tries: u32,

    /// `table` for people, `json` for scripts (the server's JSON: one task object with one
    /// --task, else `{"tasks": [...]}`).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

pub fn run(args: TasksArgs) -> anyhow::Result<ExitCode> {
    // Said before any request, in terms of flags rather than HTTP.
    if args.tasks.is_empty() {
        args.client.require_token("listing tasks", "admin")?;
    } else if args.cancel {
        args.client.require_token("cancelling a task", "admin")?;
    } else if let Some(id) = args.tasks.iter().find(|task| is_task_id(task)) {
        if !args.client.has_token() {
            anyhow::bail!(
                "`{id}` is a task id, which needs an API token with the admin scope: pass \
                 --token or set FLAKEWATCH_TOKEN, or give the task token (fwt_...) that \
                 upload printed"
            );
        }
    }
    let client = ApiClient::new(&args.client, RetryPolicy::new(args.tries));
    if args.tasks.is_empty() {
        list(&client, &args)
    } else {
        show(&client, &args)
    }
}

/// Task tokens start with `fwt_`; a plain number is a task id.
fn is_task_id(task: &str) -> bool {
    !task.is_empty() && task.bytes().all(|b| b.is_ascii_digit())
}

fn show(client: &ApiClient, args: &TasksArgs) -> anyhow::Result<ExitCode> {
    let deadline = std::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut found: Vec<(Task, Value)> = Vec::with_capacity(args.tasks.len());
    for name in &args.tasks {
        let value = if args.cancel {
            client.cancel_task(name, report_retry)?
        } else {
            client.task(name, None, report_retry)?
        };
        let mut task = read_task(&value)?;
        let mut value = value;
        if args.await_end && !task.status.is_final() {
            let mut progress = ProgressLines::default();
            let mut follow = OnServer {
                client,
                task: name,
                seen: |task: &_| {
                    if let Some(line) = progress.line_for(task) {
                        eprintln!("{line}");
                    }
                },
            };
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            (task, value) = await_task(&mut follow, left)?;
        }
        found.push((task, value));
    }

    match args.format {
        Format::Json if found.len() == 1 => println!("{}", pretty(&found[0].1)),
        Format::Json => {
            let all: Vec<Value> = found.iter().map(|(_, value)| value.clone()).collect();
            println!("{}", pretty(&serde_json::json!({ "tasks": all })));
        }
        Format::Table => {
            let tasks: Vec<Task> = found.iter().map(|(task, _)| task.clone()).collect();
            print!("{}", task_table(&tasks));
        }
    }
    Ok(match found.as_slice() {
        [(task, _)] => ExitCode::from(task.status.exit_code()),
        _ => ExitCode::SUCCESS,
    })
}

fn list(client: &ApiClient, args: &TasksArgs) -> anyhow::Result<ExitCode> {
    let filters: Vec<(&'static str, String)> = [
        ("project", args.project.clone()),
        ("status", args.status.clone()),
        ("since", args.since.as_ref().map(timestamp_param)),
        ("until", args.until.as_ref().map(timestamp_param)),
        ("limit", args.limit.map(|n| n.to_string())),
        ("cursor", args.cursor.clone()),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.map(|v| (key, v)))
    .collect();
    let value = client.list_tasks(&filters, report_retry)?;
    match args.format {
        Format::Json => println!("{}", pretty(&value)),
        Format::Table => {
            let tasks = value
                .get("tasks")
                .and_then(Value::as_array)
                .context("the server's task list has no `tasks` array")?
                .iter()
                .map(read_task)
                .collect::<anyhow::Result<Vec<_>>>()?;
            if tasks.is_empty() {
                eprintln!("flakewatch: no task matches");
            } else {
                print!("{}", task_table(&tasks));
            }
            if let Some(next) = value.get("next").and_then(Value::as_str) {
                eprintln!("flakewatch: more tasks match; the next page: --cursor {next}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_task(value: &Value) -> anyhow::Result<Task> {
    Task::from_json(value).context("the server's task JSON does not read")
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
