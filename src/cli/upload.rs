//! `flakewatch upload`: send a CI job's JUnit reports and await their storing.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::client::await_task::{await_task, OnServer};
use crate::client::ci_env::{self, CiContext};
use crate::client::http::{path_segment, ApiClient, RetryPolicy};
use crate::client::report::{report_retry, summary_line, ProgressLines};
use crate::client::task::{Task, TaskStatus};
use crate::client::verdict::{self, FailOn, Verdict};
use crate::client::{bundle, files, warnings};
use crate::config::ClientSettings;

#[derive(Debug, Args)]
#[command(mut_arg("token", |arg| arg.help(
    "API token of the project with the upload or admin scope (`flakewatch token create \
     --project P --scope upload` creates one)")))]
pub struct UploadArgs {
    #[command(flatten)]
    pub client: ClientSettings,

    /// Project the results belong to: the token's project (`flakewatch token create`
    /// creates the project with its first token).
    #[arg(long, env = "FLAKEWATCH_PROJECT")]
    pub project: String,

    #[command(flatten)]
    pub metadata: UploadMetadata,

    /// Exit as soon as the server has accepted the upload, printing the task token; follow
    /// it later with `flakewatch tasks --task TOKEN --await`.
    #[arg(long)]
    pub detach: bool,

    /// Seconds to await the storing of the upload; past them the command exits with 3.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub timeout: u64,

    /// Tries for each request when the network or server fails briefly (the same bytes
    /// each time, so the server stores the upload once).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub tries: u32,

    /// When the job fails because of its tests (exit code 5): never (default), new (a
    /// failure that is neither known flaky, quarantined nor already broken on the default
    /// branch), unquarantined (any failure of a test not quarantined), any.
    #[arg(long, value_enum, default_value_t = FailOn::Never)]
    pub fail_on: FailOn,

    /// Also write the verdict as Markdown to this file (GitHub Actions: it goes to
    /// $GITHUB_STEP_SUMMARY by itself).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<std::path::PathBuf>,

    /// Base URL of the dashboard for the links in the verdict (default: the server URL).
    #[arg(long, env = "FLAKEWATCH_DASHBOARD_URL", value_name = "URL")]
    pub dashboard_url: Option<String>,

    /// The repository's CODEOWNERS file, so tests map to owners by their file path (default:
    /// CODEOWNERS, .github/CODEOWNERS, .gitlab/CODEOWNERS or docs/CODEOWNERS when present).
    #[arg(long, value_name = "PATH")]
    pub codeowners: Option<std::path::PathBuf>,

    /// Report files (sent whatever their name), folders (searched for *.xml and *.xml.gz)
    /// or quoted glob patterns such as 'target/**/TEST-*.xml'.
    #[arg(required = true, value_name = "FILES|DIRS|GLOBS")]
    pub inputs: Vec<String>,
}

/// Where the results come from. Each is read from the CI system's variables when not
/// given (GitHub Actions, GitLab CI, Jenkins, Buildkite, CircleCI).
#[derive(Debug, Clone, Default, Args)]
pub struct UploadMetadata {
    /// Branch the job tested; for a pull request, its source branch.
    #[arg(long)]
    pub branch: Option<String>,
    /// Commit SHA the job tested.
    #[arg(long)]
    pub commit: Option<String>,
    /// Name of the CI job, to tell apart reports of one commit.
    #[arg(long)]
    pub job: Option<String>,
    /// 1 for a job's first run, 2 for its first retry, ... (tells reruns apart).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub attempt: Option<u32>,
    /// Id of the pipeline (workflow run) the job belongs to.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Link to the job's page in the CI system.
    #[arg(long)]
    pub build_url: Option<String>,
    /// Name of the machine or runner that ran the job.
    #[arg(long)]
    pub runner: Option<String>,
    /// The repository's default branch (failures there mean "broken"); read from GitLab,
    /// Buildkite and GitHub Actions. The server takes it unless an admin set one.
    #[arg(long)]
    pub default_branch: Option<String>,
    /// When the tests started (RFC 3339, e.g. 2026-11-26T10:00:00Z); read from GitLab. Without
    /// it the server takes the times from the reports.
    #[arg(long, value_parser = parse_timestamp, value_name = "RFC3339")]
    pub started_at: Option<DateTime<Utc>>,
    /// When the tests finished (RFC 3339).
    #[arg(long, value_parser = parse_timestamp, value_name = "RFC3339")]
    pub finished_at: Option<DateTime<Utc>>,
}

pub fn parse_timestamp(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| format!("not an RFC 3339 time such as 2026-11-26T10:00:00Z: {err}"))
}

/// The CI system's job start, when it gives one that reads.
fn ci_started_at(ci: &CiContext) -> Option<DateTime<Utc>> {
    ci.started_at
        .as_deref()
        .and_then(|t| parse_timestamp(t).ok())
}

pub fn timestamp_param(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[derive(Debug, thiserror::Error)]
#[error(
    "no {what} to report: pass --{what}, or run inside GitHub Actions, GitLab CI, Jenkins, \
     Buildkite or CircleCI, whose variables name it"
)]
pub struct MissingMetadata {
    what: &'static str,
}

impl UploadMetadata {
    /// The query parameters of the upload: flags first, the CI's variables for the rest.
    /// Branch and commit are required by the server, so their absence is caught here,
    /// before any file is read.
    pub fn to_query(
        &self,
        project: &str,
        ci: &CiContext,
    ) -> Result<Vec<(&'static str, String)>, MissingMetadata> {
        let given = |flag: &Option<String>, found: &Option<String>| {
            flag.clone()
                .filter(|v| !v.trim().is_empty())
                .or_else(|| found.clone())
        };
        let branch = given(&self.branch, &ci.branch).ok_or(MissingMetadata { what: "branch" })?;
        let commit = given(&self.commit, &ci.commit).ok_or(MissingMetadata { what: "commit" })?;
        let optional = [
            ("job", given(&self.job, &ci.job)),
            (
                "attempt",
                self.attempt.or(ci.attempt).map(|n| n.to_string()),
            ),
            ("pipeline", given(&self.pipeline, &ci.pipeline)),
            ("build_url", given(&self.build_url, &ci.build_url)),
            ("runner", given(&self.runner, &ci.runner)),
            (
                "default_branch",
                given(&self.default_branch, &ci.default_branch),
            ),
            (
                "started_at",
                self.started_at
                    .or_else(|| ci_started_at(ci))
                    .as_ref()
                    .map(timestamp_param),
            ),
            (
                "finished_at",
                self.finished_at.as_ref().map(timestamp_param),
            ),
        ];
        let mut query = vec![
            ("project", project.to_owned()),
            ("branch", branch),
            ("commit", commit),
        ];
        query.extend(
            optional
                .into_iter()
                .filter_map(|(key, value)| value.map(|v| (key, v))),
        );
        Ok(query)
    }
}

/// The server's `202` answer. Its `status_url` is not used: behind a proxy it lacks the
/// path prefix, so the client builds task URLs from `--server` itself.
#[derive(Debug, Deserialize)]
struct Accepted {
    task: String,
    #[serde(default)]
    duplicate: bool,
}

pub fn run(args: UploadArgs) -> anyhow::Result<ExitCode> {
    args.client.require_token("upload", "upload")?;
    let ci = ci_env::read(&process_env());
    let query = args.metadata.to_query(&args.project, &ci)?;

    let collected = files::collect(&args.inputs)?;
    for input in &collected.empty_inputs {
        eprintln!("warning: `{input}` holds no report; sending the others");
    }
    let cwd = std::env::current_dir().context("cannot read the working folder")?;
    let payload = bundle::prepare(&collected.files, &cwd)?;

    let client = ApiClient::new(&args.client, RetryPolicy::new(args.tries));
    eprintln!(
        "flakewatch: sending {} ({} bytes compressed) to {} for project {}{}",
        describe_files(collected.files.len()),
        payload.body.len(),
        client.server(),
        args.project,
        ci.provider
            .map(|p| format!(" (CI: {p})"))
            .unwrap_or_default(),
    );
    send_codeowners(&client, &args, &cwd);
    let answer = client.upload(&query, &payload, report_retry)?;
    let accepted: Accepted = serde_json::from_value(answer)
        .context("the server accepted the upload but its answer has no task token")?;
    if accepted.duplicate {
        eprintln!(
            "flakewatch: the server already has this upload (task {}): it is stored once, not again",
            accepted.task
        );
    } else {
        eprintln!("flakewatch: accepted as task {}", accepted.task);
    }
    if args.detach {
        println!("{}", accepted.task);
        return Ok(ExitCode::SUCCESS);
    }

    let mut progress = ProgressLines::default();
    let mut follow = OnServer {
        client: &client,
        task: &accepted.task,
        seen: |task: &_| {
            if let Some(line) = progress.line_for(task) {
                eprintln!("{line}");
            }
        },
    };
    let (task, _) = await_task(&mut follow, Duration::from_secs(args.timeout))?;
    for line in warnings::task_lines(&task) {
        eprintln!("{line}");
    }
    println!(
        "{}",
        summary_line(&task, &accepted.task, accepted.duplicate)
    );
    if task.status == TaskStatus::Failed {
        eprintln!(
            "error: the server could not store the upload: {}",
            task.error.as_deref().unwrap_or("it gave no reason")
        );
    }
    if task.status != TaskStatus::Completed {
        return Ok(ExitCode::from(task.status.exit_code()));
    }
    report_verdict(&client, &args, &task)
}

/// Prints the run's verdict, writes it as Markdown where asked, and applies the gate:
/// exit 5 when `--fail-on` says the failures fail the job.
fn report_verdict(client: &ApiClient, args: &UploadArgs, task: &Task) -> anyhow::Result<ExitCode> {
    let Some(run_id) = task.run_id else {
        return Ok(ExitCode::SUCCESS);
    };
    let path = format!(
        "/api/v1/projects/{}/runs/{run_id}/verdict",
        path_segment(&args.project)
    );
    let verdict: Verdict = match client
        .get(&path, &[], report_retry)
        .map_err(anyhow::Error::from)
        .and_then(|answer| Ok(serde_json::from_value(answer)?))
    {
        Ok(verdict) => verdict,
        Err(err) if args.fail_on == FailOn::Never => {
            eprintln!(
                "flakewatch: the upload is stored, but its verdict could not be read: {err:#}"
            );
            return Ok(ExitCode::SUCCESS);
        }
        Err(err) => {
            anyhow::bail!("the verdict could not be read, so --fail-on cannot decide: {err:#}")
        }
    };
    let dashboard = args.dashboard_url.as_deref().unwrap_or(client.server());
    // stdout keeps its one summary line for scripts; the verdict is for the log's reader.
    for line in verdict::log_lines(&verdict, dashboard) {
        eprintln!("{line}");
    }
    let markdown = verdict::markdown(&verdict, dashboard);
    let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY").map(std::path::PathBuf::from);
    for (file, append) in [(step_summary, true), (args.summary.clone(), false)] {
        if let Some(file) = file {
            write_summary(&file, &markdown, append)?;
        }
    }
    if args.fail_on.fails(&verdict.counts) {
        eprintln!(
            "flakewatch: failing the job (--fail-on {}): {}",
            args.fail_on
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_owned()),
            verdict.summary
        );
        return Ok(ExitCode::from(5));
    }
    Ok(ExitCode::SUCCESS)
}

fn write_summary(file: &std::path::Path, markdown: &str, append: bool) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(file)
        .with_context(|| format!("cannot write the verdict to {}", file.display()))?;
    writeln!(out, "{markdown}")
        .with_context(|| format!("cannot write the verdict to {}", file.display()))
}

/// Where CODEOWNERS files live, in the order GitHub looks.
const CODEOWNERS_PLACES: [&str; 4] = [
    ".github/CODEOWNERS",
    "CODEOWNERS",
    "docs/CODEOWNERS",
    ".gitlab/CODEOWNERS",
];

/// Sends the CODEOWNERS file, so tests map to owners. Owners are a nicety: a problem is a
/// warning, never a failed upload.
fn send_codeowners(client: &ApiClient, args: &UploadArgs, cwd: &std::path::Path) {
    let found = match &args.codeowners {
        Some(path) => Some(path.clone()),
        None => CODEOWNERS_PLACES
            .iter()
            .map(|place| cwd.join(place))
            .find(|path| path.is_file()),
    };
    let Some(path) = found else {
        return;
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!(
                "warning: cannot read {}: {err}; owners are not sent",
                path.display()
            );
            return;
        }
    };
    let url = format!(
        "/api/v1/projects/{}/codeowners",
        path_segment(&args.project)
    );
    if let Err(err) = client.put_text(&url, &text, report_retry) {
        eprintln!("warning: {} was not sent: {err}", path.display());
    }
}

fn describe_files(count: usize) -> String {
    match count {
        1 => "1 report file".to_owned(),
        n => format!("{n} report files as one bundle"),
    }
}

/// The process environment; variables that are not UTF-8 cannot name a branch, so they
/// are skipped rather than making the command fail.
fn process_env() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci() -> CiContext {
        CiContext {
            branch: Some("ci-branch".into()),
            commit: Some("ci-sha".into()),
            job: Some("ci-job".into()),
            attempt: Some(2),
            ..CiContext::default()
        }
    }

    #[test]
    fn flags_win_over_the_ci_environment() {
        let metadata = UploadMetadata {
            branch: Some("flag-branch".into()),
            attempt: Some(5),
            started_at: Some(parse_timestamp("2026-11-26T12:00:00+02:00").unwrap()),
            ..UploadMetadata::default()
        };
        let query = metadata.to_query("shop", &ci()).unwrap();
        assert_eq!(
            query,
            [
                ("project", "shop".to_owned()),
                ("branch", "flag-branch".to_owned()),
                ("commit", "ci-sha".to_owned()),
                ("job", "ci-job".to_owned()),
                ("attempt", "5".to_owned()),
                ("started_at", "2026-11-26T10:00:00Z".to_owned()),
            ]
        );
    }

    #[test]
    fn branch_and_commit_are_required() {
        let err = UploadMetadata::default()
            .to_query("shop", &CiContext::default())
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("no branch to report: pass --branch"),
            "{err}"
        );
        let only_branch = UploadMetadata {
            branch: Some("main".into()),
            commit: Some("  ".into()),
            ..UploadMetadata::default()
        };
        let err = only_branch
            .to_query("shop", &CiContext::default())
            .unwrap_err();
        assert!(err.to_string().contains("--commit"), "{err}");
    }

    #[test]
    fn timestamps_must_be_rfc3339() {
        assert!(parse_timestamp("yesterday").is_err());
        assert_eq!(
            timestamp_param(&parse_timestamp("2026-01-02T03:04:05.5Z").unwrap()),
            "2026-01-02T03:04:05.500Z"
        );
    }
}
