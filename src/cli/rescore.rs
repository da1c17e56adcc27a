//! `flakewatch rescore`: score a project's whole history again (after the analyzer or its
//! parameters changed). Runs where the database is; prints progress on stderr.

use std::time::Instant;

use clap::Args;

use crate::analysis::Params;
use crate::cli::database;
use crate::config::DatabaseSettings;
use crate::db::DbError;
use crate::store::{projects, scores};
use crate::wording::count;

use super::progress::Progress;

#[derive(Debug, Args)]
pub struct RescoreArgs {
    /// Project to rescore.
    #[arg(long)]
    project: String,
    #[command(flatten)]
    database: DatabaseSettings,
}

pub fn run(args: RescoreArgs) -> anyhow::Result<()> {
    let database = database::open(&args.database)?;
    let mut conn = database.pool.get()?;
    let project = projects::find(&mut conn, &args.project)
        .map_err(DbError::from)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "there is no project `{}`: `flakewatch token list` shows the projects",
                args.project
            )
        })?;
    let started = Instant::now();
    let mut progress = Progress::new("run");
    let summary = scores::rescore_project(
        &mut conn,
        project.id,
        &Params::default(),
        chrono::Utc::now().naive_utc(),
        |done, total| progress.update(done, total),
    )
    .map_err(DbError::from)?;
    progress.finish();
    println!(
        "rescored {}: {}, {}, {} in {:.1} s",
        project.name,
        count(summary.runs, "run"),
        count(summary.results, "result"),
        count(summary.tests, "test"),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
