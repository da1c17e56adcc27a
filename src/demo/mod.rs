//! `flakewatch serve --demo`: fills an empty database with a simulated project, so a
//! newcomer sees a populated dashboard at once. Each simulated job run goes in as an upload
//! with its store task, exactly as `POST /api/v1/uploads` leaves it, and the server's own
//! store workers parse, store and score it: every figure on the pages is a real one.

mod history;

pub use history::DemoSize;

use std::io::Write;

use chrono::NaiveDateTime;
use tokio::sync::{broadcast, watch};

use crate::analysis::simulator::junit::write_junit;
use crate::analysis::simulator::{SimHistory, SimRun};
use crate::db::{Database, DbConnection, DbError};
use crate::secrets;
use crate::store::tokens::{self, Scope};
use crate::store::uploads::{self, NewUpload, UploadMeta};
use crate::store::{projects, task_views, test_views};
use crate::tasks::queue::ProjectScope;
use crate::tasks::{Signals, TaskStatus};

/// The demo project's name, and the name the dashboard shows.
pub const PROJECT: &str = "webshop";
const TITLE: &str = "Webshop (demo data)";
/// Uploads enqueued per transaction batch; workers start storing after the first.
const BATCH: usize = 50;

/// What `seed` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeded {
    /// The project is stored and scored.
    Stored {
        runs: usize,
        failed_tasks: i64,
        flaky_tests: i64,
        broken_tests: i64,
    },
    /// The database already held projects: nothing was added.
    NotEmpty { projects: i64 },
    /// The server stopped before every run was stored.
    Stopped,
}

/// Fills an empty database with the demo project, ending at the present, and waits until
/// the workers have stored every run, logging progress each tenth.
pub async fn seed(
    db: &Database,
    signals: &Signals,
    task_key: &str,
    size: DemoSize,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Seeded, DbError> {
    let existing = db
        .run(|conn| projects::count(conn).map_err(DbError::from))
        .await?;
    if existing > 0 {
        return Ok(Seeded::NotEmpty { projects: existing });
    }
    let now = chrono::Utc::now().naive_utc();
    let history = tokio::task::spawn_blocking(move || size.history_ending_at(now))
        .await
        .map_err(|err| DbError::Join(err.to_string()))?;
    let total = history.runs.len();
    tracing::info!(
        project = PROJECT,
        runs = total,
        tests = history.tests.len(),
        "demo data: storing a simulated project of {} days through the store queue",
        size.span_days()
    );
    let task_key = task_key.to_owned();
    let (project_id, token_id) = db
        .run(move |conn| create_project(conn, now).map_err(DbError::from))
        .await?;
    // Subscribed before the first task exists, so no ending is missed.
    let mut changes = signals.subscribe_changed();
    let history = std::sync::Arc::new(history);
    for start in (0..total).step_by(BATCH) {
        let (history, key) = (history.clone(), task_key.clone());
        db.run(move |conn| {
            let runs = &history.runs[start..(start + BATCH).min(total)];
            let filed_as = (project_id, token_id);
            enqueue(conn, &history, runs, filed_as, &key, now).map_err(DbError::from)
        })
        .await?;
        signals.task_enqueued();
    }
    match wait_until_stored(db, &mut changes, &mut shutdown, project_id, total).await? {
        None => Ok(Seeded::Stopped),
        Some(failed_tasks) => {
            let by_status = db
                .run(move |conn| {
                    test_views::count_by_status(conn, project_id).map_err(DbError::from)
                })
                .await?;
            let tests = |wanted: &str| {
                by_status
                    .iter()
                    .find(|(status, _)| status == wanted)
                    .map_or(0, |(_, n)| *n)
            };
            Ok(Seeded::Stored {
                runs: total,
                failed_tasks,
                flaky_tests: tests("flaky"),
                broken_tests: tests("broken"),
            })
        }
    }
}

/// Waits, on task-change wake-ups, until the project's `total` tasks have all ended,
/// logging each tenth; the number that did not complete, or `None` at shutdown.
async fn wait_until_stored(
    db: &Database,
    changes: &mut broadcast::Receiver<i64>,
    shutdown: &mut watch::Receiver<bool>,
    project_id: i64,
    total: usize,
) -> Result<Option<i64>, DbError> {
    let total = total as i64;
    let mut logged_tenth = None;
    loop {
        let counts = db
            .run(move |conn| {
                task_views::count_by_status(conn, &ProjectScope::one(project_id))
                    .map_err(DbError::from)
            })
            .await?;
        let ended = |keep: fn(TaskStatus) -> bool| -> i64 {
            counts
                .iter()
                .filter(|(status, _)| status.is_final() && keep(*status))
                .map(|(_, n)| n)
                .sum()
        };
        let done = ended(|_| true);
        let tenth = done * 10 / total.max(1);
        if logged_tenth != Some(tenth) {
            logged_tenth = Some(tenth);
            tracing::info!("demo data: {}% stored ({done} of {total} runs)", tenth * 10);
        }
        if done >= total {
            return Ok(Some(ended(|status| status != TaskStatus::Completed)));
        }
        tokio::select! {
            changed = changes.recv() => {
                if let Err(broadcast::error::RecvError::Closed) = changed {
                    return Ok(None);
                }
            }
            _ = shutdown.wait_for(|stop| *stop) => return Ok(None),
        }
    }
}

/// The project with its display name, and the upload token its uploads are filed under
/// (never shown: the demo needs no client).
fn create_project(conn: &mut DbConnection, now: NaiveDateTime) -> diesel::QueryResult<(i64, i64)> {
    let (token, _plaintext) = tokens::create(conn, PROJECT, Scope::Upload, "demo data", now)?;
    projects::set_display_name(conn, token.project_id, TITLE)?;
    Ok((token.project_id, token.id))
}

/// Enqueues `runs` as uploads of JUnit reports, as the upload API would, filed under
/// `(project id, token id)`.
fn enqueue(
    conn: &mut DbConnection,
    history: &SimHistory,
    runs: &[SimRun],
    (project_id, token_id): (i64, i64),
    task_key: &str,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    for run in runs {
        let xml = write_junit(run, &history.tests);
        let compressed = gzip(xml.as_bytes());
        let meta = UploadMeta {
            branch: run.ctx.branch.clone(),
            commit: run.ctx.commit.clone(),
            job: run.ctx.job.clone(),
            attempt: run.ctx.attempt,
            pipeline: run.ctx.pipeline.clone(),
            build_url: String::new(),
            runner: run.runner.clone(),
            started_at: Some(run.started_at),
            finished_at: Some(run.finished_at),
            default_branch: history.scenario.default_branch.clone(),
        };
        let key = format!("demo-run-{}", run.ctx.run_id);
        let task_token = secrets::task_token(task_key, project_id, &key);
        uploads::enqueue(
            conn,
            &NewUpload {
                project_id,
                meta: &meta,
                idempotency_key: &key,
                received_at: now,
                content_type: "xml",
                report_name: "report.xml",
                body_bytes: xml.len() as i64,
                compressed: &compressed,
                task_token_hash: &secrets::token_hash(&task_token),
                token_id,
            },
            now,
        )?;
    }
    Ok(())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    encoder.write_all(data).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}
