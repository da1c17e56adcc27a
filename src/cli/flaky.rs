//! `flakewatch flaky`: the tests flakewatch currently calls flaky (or another status), for
//! people and for a CI step that quarantines or retries them.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::client::http::{path_segment, ApiClient, RetryPolicy};
use crate::client::report::report_retry;
use crate::config::ClientSettings;

#[derive(Debug, Args)]
#[command(mut_arg("token", |arg| arg.help(
    "API token of the project with the read or admin scope (`flakewatch token create \
     --project P --scope read` creates one)")))]
pub struct FlakyArgs {
    #[command(flatten)]
    client: ClientSettings,

    /// Project whose tests to list.
    #[arg(long, env = "FLAKEWATCH_PROJECT")]
    project: String,

    /// Which tests: flaky (default), broken, healthy, new or all.
    #[arg(long, default_value = "flaky")]
    status: String,

    /// Only tests that ran in this job.
    #[arg(long)]
    job: Option<String>,

    /// Only tests that ran on this branch.
    #[arg(long)]
    branch: Option<String>,

    /// Most tests listed.
    #[arg(long, default_value_t = 1000)]
    limit: u32,

    /// `text`: one test per line (`classname::name`), ready for a quarantine or retry
    /// list; `json`: the server's answer, with scores and evidence.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: FlakyArgs) -> anyhow::Result<ExitCode> {
    args.client.require_token("flaky", "read")?;
    let client = ApiClient::new(&args.client, RetryPolicy::new(3));
    let mut query = vec![
        ("status", args.status.clone()),
        ("limit", args.limit.to_string()),
    ];
    if let Some(job) = &args.job {
        query.push(("job", job.clone()));
    }
    if let Some(branch) = &args.branch {
        query.push(("branch", branch.clone()));
    }
    let path = format!("/api/v1/projects/{}/tests", path_segment(&args.project));
    let answer = client.get(&path, &query, report_retry)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&answer)?),
        Format::Text => {
            for test in answer["tests"].as_array().into_iter().flatten() {
                println!("{}", identity(test));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `classname::name`, with the suite path standing in for a missing classname (the same
/// rule the parser uses for a test's identity).
fn identity(test: &Value) -> String {
    let text = |key: &str| test[key].as_str().unwrap_or("").to_owned();
    let scope = match text("classname") {
        classname if !classname.is_empty() => classname,
        _ => text("suite"),
    };
    if scope.is_empty() {
        text("name")
    } else {
        format!("{scope}::{}", text("name"))
    }
}
