//! The weekly report job: once an ISO week has ended, each project's report of it is
//! produced once — written to `--report-dir` and handed to the webhooks as pending
//! deliveries (sent by the `deliver` job). The lease keeper of any process enqueues it
//! (deduplicated by project and week), and the report's delivery batch, unique per project
//! and week, makes a second job for the same week a no-op.

use std::path::Path;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::JobOutcome;
use crate::config::DeliverySettings;
use crate::db::schema::store_tasks;
use crate::db::DbConnection;
use crate::report::{self, payloads, Format, Period, WeeklyReport};
use crate::store::deliveries::{self, Subject};
use crate::store::projects;
use crate::tasks::queue::{self, Ending};
use crate::tasks::{ClaimedTask, JobKind, Progress, TaskStatus, WorkerContext};

/// Tries a report job gets before an error is taken as permanent.
const MAX_CLAIMS: i32 = 3;

/// Enqueues the report job of the last finished week for each project that has none yet
/// (projects created after the week ended have nothing to report). Returns how many.
pub fn enqueue_when_due(
    conn: &mut DbConnection,
    settings: &DeliverySettings,
    now: NaiveDateTime,
) -> diesel::QueryResult<usize> {
    if !settings.delivers_reports() {
        return Ok(0);
    }
    let week = Period::last_complete_week(now);
    let mut added = 0;
    for project_id in deliveries::projects_missing_report(conn, &week.label, week.until.0)? {
        let key = format!("report:{project_id}:{}", week.label);
        if failed_lately(conn, &key, now)? {
            continue;
        }
        added += usize::from(queue::enqueue(
            conn,
            JobKind::Report,
            Some(project_id),
            &key,
            now,
        )?);
    }
    Ok(added)
}

/// Whether the job `key` failed within the last hour: it is tried again hourly, not at
/// every tick of the keeper.
fn failed_lately(
    conn: &mut DbConnection,
    key: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    let failed = store_tasks::table
        .filter(store_tasks::kind.eq(JobKind::Report.as_str()))
        .filter(store_tasks::dedupe_key.eq(key))
        .filter(store_tasks::status.eq(TaskStatus::Failed.as_str()))
        .filter(store_tasks::finished_at.gt(now - chrono::Duration::hours(1)));
    diesel::select(diesel::dsl::exists(failed)).get_result(conn)
}

#[derive(Debug, thiserror::Error)]
enum ReportError {
    #[error("lease lost")]
    LeaseLost,
    #[error("the job names no week (dedupe key `{0}`)")]
    NoWeek(String),
    #[error("cannot write the report to {path}: {error}")]
    Write { path: String, error: std::io::Error },
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    #[error("database: {0}")]
    Pool(#[from] r2d2::Error),
}

pub fn run(ctx: &WorkerContext, task: &ClaimedTask) -> JobOutcome {
    match produce(ctx, task) {
        Ok(()) => {
            // Its deliveries wait for the deliver job enqueued with them.
            ctx.signals.task_enqueued();
            JobOutcome::Done
        }
        Err(ReportError::LeaseLost) => JobOutcome::LeaseLost,
        Err(err @ (ReportError::Db(_) | ReportError::Pool(_))) if task.claim < MAX_CLAIMS => {
            tracing::warn!(error = %err, "weekly report failed; requeueing the job");
            super::hand_back(ctx, task)
        }
        Err(err) => {
            tracing::error!(error = %err, "weekly report failed");
            let error = err.to_string();
            super::end(
                ctx,
                task,
                Ending::Failed { error: &error },
                Progress::default(),
            )
        }
    }
}

/// In one transaction: the report's batch and deliveries, its files and the job's end.
fn produce(ctx: &WorkerContext, task: &ClaimedTask) -> Result<(), ReportError> {
    let mut conn = ctx.db.connection()?;
    crate::db::write_transaction(&mut conn, |tx| {
        let now = chrono::Utc::now().naive_utc();
        if !queue::heartbeat(tx, task, now, ctx.lease)? {
            return Err(ReportError::LeaseLost);
        }
        let period = week_of(tx, task)?;
        let project = projects::find_by_id(tx, task.project_id)?;
        let settings = &ctx.delivery;
        let base = settings.public_url.as_deref();
        let data = report::load(tx, &project, &period, base.unwrap_or(""), now)?;
        let reports_link =
            crate::web::urls::public(base, &format!("/projects/{}/reports", project.name));
        let bodies: Vec<(String, String)> = settings
            .webhooks
            .iter()
            .map(|hook| {
                let body = payloads::weekly_report(hook.format, &data, &reports_link);
                (hook.id(), body)
            })
            .collect();
        let batch = deliveries::create_batch(
            tx,
            project.id,
            Subject::WeeklyReport,
            &period.label,
            now,
            &bodies,
        )?;
        if batch.is_some() {
            if let Some(dir) = &settings.report_dir {
                write_files(dir, &data)?;
            }
            if !bodies.is_empty() {
                super::deliver::enqueue(tx, now)?;
            }
        } else {
            tracing::info!(week = %period.label, "this week's report was produced before");
        }
        if !queue::finish(tx, task, Ending::Completed, now, Progress::default(), &[])? {
            return Err(ReportError::LeaseLost);
        }
        tracing::info!(project = %project.name, week = %period.label, "weekly report produced");
        Ok(())
    })
}

/// The week the job was enqueued for, from its dedupe key `report:{project}:{week}`.
fn week_of(conn: &mut DbConnection, task: &ClaimedTask) -> Result<Period, ReportError> {
    let key: Option<String> = store_tasks::table
        .find(task.id)
        .select(store_tasks::dedupe_key)
        .first(conn)?;
    let key = key.unwrap_or_default();
    key.rsplit(':')
        .next()
        .and_then(|week| Period::iso_week(week).ok())
        .ok_or(ReportError::NoWeek(key))
}

/// Writes the report in every format as DIR/PROJECT/WEEK.EXT, each file whole or not at
/// all (written aside, then renamed).
fn write_files(dir: &Path, data: &WeeklyReport) -> Result<(), ReportError> {
    // Project names are letters, digits, `.`, `_` and `-`, starting with a letter or digit.
    let folder = dir.join(&data.project);
    let failed = |path: &Path, error| ReportError::Write {
        path: path.display().to_string(),
        error,
    };
    std::fs::create_dir_all(&folder).map_err(|e| failed(&folder, e))?;
    for format in [Format::Html, Format::Md, Format::Csv, Format::Json] {
        let path = folder.join(format!("{}.{}", data.period.label, format.extension()));
        let aside = folder.join(format!(".{}.{}.tmp", data.period.label, format.extension()));
        std::fs::write(&aside, report::render(data, format)).map_err(|e| failed(&aside, e))?;
        std::fs::rename(&aside, &path).map_err(|e| failed(&path, e))?;
    }
    Ok(())
}
