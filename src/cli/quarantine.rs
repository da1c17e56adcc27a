//! `flakewatch quarantine`: quarantine a test (its failures no longer fail the CI gate) with
//! an owner, a reason, an issue link and an expiry; end it; list what is quarantined.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::http::{path_segment, ApiClient, RetryPolicy};
use crate::client::report::report_retry;
use crate::config::ClientSettings;

#[derive(Debug, Args)]
pub struct QuarantineArgs {
    #[command(subcommand)]
    action: Action,
}

/// The server and project every action needs.
#[derive(Debug, Args)]
#[command(mut_arg("token", |arg| arg.help(
    "API token of the project: admin scope to add or remove, read scope to list")))]
struct Target {
    #[command(flatten)]
    client: ClientSettings,

    /// The project of the test.
    #[arg(long, env = "FLAKEWATCH_PROJECT")]
    project: String,
}

#[derive(Debug, Args)]
struct TestChoice {
    /// The test's id (as the dashboard and `flakewatch flaky --format json` show it).
    #[arg(long, conflicts_with = "test")]
    test_id: Option<i64>,
    /// The test as `classname::name` (as `flakewatch flaky` prints it).
    #[arg(long)]
    test: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Quarantine a test.
    Add {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        which: TestChoice,
        /// Why (shown in every verdict that meets the test).
        #[arg(long)]
        reason: String,
        /// Who looks after the fix.
        #[arg(long, default_value = "", hide_default_value = true)]
        owner: String,
        /// The issue tracking the fix (an http or https link).
        #[arg(long, default_value = "", hide_default_value = true)]
        issue: String,
        /// When the quarantine ends by itself (RFC 3339).
        #[arg(long, value_parser = crate::cli::upload::parse_timestamp, conflicts_with = "days")]
        expires: Option<DateTime<Utc>>,
        /// Or: after this many days.
        #[arg(long)]
        days: Option<u32>,
    },
    /// End a test's quarantine.
    Remove {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        which: TestChoice,
    },
    /// List the quarantines in force.
    List {
        #[command(flatten)]
        target: Target,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: QuarantineArgs) -> anyhow::Result<ExitCode> {
    let (target, scope) = match &args.action {
        Action::List { target, .. } => (target, "read"),
        Action::Add { target, .. } | Action::Remove { target, .. } => (target, "admin"),
    };
    target.client.require_token("quarantine", scope)?;
    let client = ApiClient::new(&target.client, RetryPolicy::new(3));
    let project = target.project.clone();
    let base = format!("/api/v1/projects/{}/quarantine", path_segment(&project));
    match args.action {
        Action::Add {
            which,
            reason,
            owner,
            issue,
            expires,
            days,
            ..
        } => {
            let expires =
                expires.or_else(|| days.map(|d| Utc::now() + chrono::Duration::days(i64::from(d))));
            let mut body = json!({
                "reason": reason,
                "owner": owner,
                "issue_url": issue,
                "expires_at": expires.map(|t| crate::cli::upload::timestamp_param(&t)),
            });
            match (which.test_id, which.test.as_deref()) {
                (Some(id), _) => body["test_id"] = json!(id),
                (None, Some(full)) => {
                    let (classname, name) = full.split_once("::").unwrap_or(("", full));
                    body["classname"] = json!(classname);
                    body["name"] = json!(name);
                }
                (None, None) => anyhow::bail!("name the test with --test-id or --test CLASS::NAME"),
            }
            let added = client.post_json(&base, &body, report_retry)?;
            println!("quarantined {}", describe(&added));
        }
        Action::Remove { which, .. } => {
            let id = match (which.test_id, which.test.as_deref()) {
                (Some(id), _) => id,
                (None, Some(full)) => {
                    let list = client.get(&base, &[], report_retry)?;
                    quarantined_id(&list, full).ok_or_else(|| {
                        anyhow::anyhow!("`{full}` is not quarantined in {project}")
                    })?
                }
                (None, None) => anyhow::bail!("name the test with --test-id or --test CLASS::NAME"),
            };
            client.delete(&format!("{base}/{id}"), report_retry)?;
            println!("quarantine of test {id} ended");
        }
        Action::List { json, .. } => {
            let list = client.get(&base, &[], report_retry)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                let entries = list["quarantine"].as_array().cloned().unwrap_or_default();
                if entries.is_empty() {
                    eprintln!("no test of {project} is quarantined");
                }
                for q in &entries {
                    println!("{}", describe(q));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `app.Cart::test_total (test 12) by @ana until 2026-12-31: reason <issue>`
fn describe(q: &Value) -> String {
    let text = |key: &str| q[key].as_str().unwrap_or("").to_owned();
    let mut line = format!(
        "{}::{} (test {})",
        text("classname"),
        text("name"),
        q["test_id"]
    );
    if !text("owner").is_empty() {
        line.push_str(&format!(" by {}", text("owner")));
    }
    match q["expires_at"].as_str() {
        Some(at) => line.push_str(&format!(" until {at}")),
        None => line.push_str(" until removed"),
    }
    line.push_str(&format!(": {}", text("reason")));
    if !text("issue_url").is_empty() {
        line.push_str(&format!(" <{}>", text("issue_url")));
    }
    line
}

fn quarantined_id(list: &Value, full: &str) -> Option<i64> {
    list["quarantine"].as_array()?.iter().find_map(|q| {
        let name = format!(
            "{}::{}",
            q["classname"].as_str().unwrap_or(""),
            q["name"].as_str().unwrap_or("")
        );
        (name == full).then(|| q["test_id"].as_i64()).flatten()
    })
}
