//! `flakewatch report weekly`: the CI quality of one week (or any period) as one file, in
//! HTML, Markdown, CSV or JSON, read where the database is.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use crate::config::DatabaseSettings;
use crate::db::DbError;
use crate::report::{self, Format, Period};
use crate::store::projects;

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(Debug, Subcommand)]
enum Kind {
    /// The CI quality week: headline figures against the week before, newly flaky, fixed
    /// and broken tests, the costliest flaky tests, the slowest tests and regressions.
    Weekly(WeeklyArgs),
}

#[derive(Debug, Args)]
struct WeeklyArgs {
    /// The project to report on.
    #[arg(long, env = "FLAKEWATCH_PROJECT")]
    project: String,
    /// The ISO week, e.g. 2026-W47 (default: the last complete week).
    #[arg(long, conflicts_with_all = ["since", "until"])]
    week: Option<String>,
    /// Or a period: its start (RFC 3339)...
    #[arg(long, value_parser = crate::cli::upload::parse_timestamp, requires = "until")]
    since: Option<DateTime<Utc>>,
    /// ...and its end (exclusive).
    #[arg(long, value_parser = crate::cli::upload::parse_timestamp, requires = "since")]
    until: Option<DateTime<Utc>>,
    /// html (one self-contained file), md, csv or json.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    format: Format,
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Base URL of the dashboard for the links (default: links relative to the dashboard).
    #[arg(
        long,
        env = "FLAKEWATCH_DASHBOARD_URL",
        default_value = "",
        hide_default_value = true
    )]
    dashboard_url: String,
    #[command(flatten)]
    database: DatabaseSettings,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let Kind::Weekly(args) = args.kind;
    let now = Utc::now().naive_utc();
    let period = match (&args.week, args.since, args.until) {
        (Some(week), _, _) => Period::iso_week(week).map_err(|m| anyhow::anyhow!("--week: {m}"))?,
        (None, Some(since), Some(until)) => Period::between(since.naive_utc(), until.naive_utc())
            .map_err(|m| anyhow::anyhow!("--since/--until: {m}"))?,
        _ => Period::last_complete_week(now),
    };
    let database = super::database::open(&args.database)?;
    let mut conn = database.pool.get()?;
    let project = projects::find(&mut conn, &args.project)
        .map_err(DbError::from)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "there is no project `{}`: `flakewatch project list` shows the projects",
                args.project
            )
        })?;
    let data = report::load(&mut conn, &project, &period, &args.dashboard_url, now)
        .map_err(DbError::from)?;
    let text = report::render(&data, args.format);
    match &args.out {
        Some(file) => {
            std::fs::write(file, &text)
                .with_context(|| format!("cannot write the report to {}", file.display()))?;
            eprintln!(
                "flakewatch: {} report of {} for {} written to {}",
                args.format.extension(),
                project.name,
                period.label,
                file.display()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
        }
    }
    Ok(())
}
