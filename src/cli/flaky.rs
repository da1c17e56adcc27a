//! `flakewatch flaky`: the tests flakewatch calls flaky (or quarantined, or another status),
//! for people, and for a CI step that leaves them out in its own test runner's form.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::client::http::{path_segment, ApiClient, RetryPolicy};
use crate::client::report::report_retry;
use crate::config::ClientSettings;
use crate::exclusions::{self, Format, TestName};

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

    /// Which tests, comma-separated: flaky (default), quarantined, broken, healthy, new,
    /// skipped, inactive, or all.
    #[arg(long, default_value = "flaky", value_delimiter = ',')]
    status: Vec<String>,

    /// Only tests that ran in this job.
    #[arg(long)]
    job: Option<String>,

    /// Only tests this owner owns by the CODEOWNERS file (e.g. @acme/cart).
    #[arg(long)]
    owner: Option<String>,

    /// Most tests listed per status.
    #[arg(long, default_value_t = 1000)]
    limit: u32,

    /// names: `classname::name` per line; json: the server's answer with scores, impact and
    /// evidence; pytest, maven, gradle, jest, go, nextest: the arguments that leave these
    /// tests out in that runner (see the README).
    #[arg(long, value_enum, default_value_t = Format::Names)]
    format: Format,
}

const STATUSES: [&str; 8] = [
    "flaky",
    "quarantined",
    "broken",
    "healthy",
    "new",
    "skipped",
    "inactive",
    "all",
];

pub fn run(args: FlakyArgs) -> anyhow::Result<ExitCode> {
    args.client.require_token("flaky", "read")?;
    if let Some(bad) = args.status.iter().find(|s| !STATUSES.contains(&s.as_str())) {
        anyhow::bail!("--status: `{bad}` is not one of {}", STATUSES.join(", "));
    }
    let client = ApiClient::new(&args.client, RetryPolicy::new(3));
    let project = path_segment(&args.project);
    let mut tests: Vec<Value> = Vec::new();
    for status in &args.status {
        let found = if status == "quarantined" {
            let path = format!("/api/v1/projects/{project}/quarantine");
            client.get(&path, &[], report_retry)?["quarantine"].clone()
        } else {
            let mut query = vec![
                ("status", status.clone()),
                ("limit", args.limit.to_string()),
            ];
            if let Some(job) = &args.job {
                query.push(("job", job.clone()));
            }
            if let Some(owner) = &args.owner {
                query.push(("owner", owner.clone()));
            }
            let path = format!("/api/v1/projects/{project}/tests");
            client.get(&path, &query, report_retry)?["tests"].clone()
        };
        for test in found.as_array().into_iter().flatten() {
            let id = test.get("id").or_else(|| test.get("test_id"));
            if !tests
                .iter()
                .any(|t| t.get("id").or_else(|| t.get("test_id")) == id)
            {
                tests.push(test.clone());
            }
        }
    }
    if args.format == Format::Json {
        let answer = serde_json::json!({ "project": args.project, "tests": tests });
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<TestName> = tests.iter().map(test_name).collect();
    print!("{}", exclusions::render(args.format, &names));
    Ok(ExitCode::SUCCESS)
}

/// The test's name parts; the suite stands in for a missing classname (the same rule the
/// parser uses for a test's identity).
fn test_name(test: &Value) -> TestName {
    let text = |key: &str| test[key].as_str().unwrap_or("").to_owned();
    let classname = match text("classname") {
        classname if !classname.is_empty() => classname,
        _ => text("suite"),
    };
    TestName {
        classname,
        name: text("name"),
        file: test["file"].as_str().map(str::to_owned),
    }
}
