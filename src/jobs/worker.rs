//! The worker loop: claim a job, run its kind's handler, repeat. An idle worker waits for a
//! wake-up, never on a timer; the only timers are the back-off after a database error and
//! the lease keeper (leases expire with the passing of time).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::Instrument;

use super::JobOutcome;
use crate::db::{Backend, DbError};
use crate::tasks::queue;
use crate::tasks::WorkerContext;

/// Runs `count` workers and the lease keeper until `shutdown` turns true and every
/// in-flight task is finished or handed back.
pub async fn run(ctx: Arc<WorkerContext>, count: usize, shutdown: watch::Receiver<bool>) {
    if ctx.db.backend == Backend::Sqlite {
        match ctx
            .db
            .run(|conn| queue::requeue_orphans(conn).map_err(DbError::from))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(tasks = n, "requeued tasks a previous process left running"),
            Err(err) => tracing::error!(error = %err, "could not requeue orphaned tasks"),
        }
    }
    // Projects waiting for a rescore (after a migration that added rollups, say) get it
    // now rather than at their next upload.
    match ctx
        .db
        .run(|conn| super::score::enqueue_requested_rescores(conn).map_err(DbError::from))
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            projects = n,
            "asked for the rescores projects were waiting for"
        ),
        Err(err) => tracing::error!(error = %err, "could not ask for waiting rescores"),
    }
    let host = hostname();
    let mut workers = tokio::task::JoinSet::new();
    for index in 0..count {
        let name = format!("{host}:{}:{index}", std::process::id());
        workers.spawn(work(ctx.clone(), name, shutdown.clone()));
    }
    let keeper = tokio::spawn(keep_leases(ctx.clone(), shutdown.clone()));
    while workers.join_next().await.is_some() {}
    keeper.abort();
}

async fn work(ctx: Arc<WorkerContext>, name: String, mut shutdown: watch::Receiver<bool>) {
    tracing::debug!(worker = %name, "worker started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let woken = ctx.signals.task_available().notified();
        tokio::pin!(woken);
        woken.as_mut().enable();

        let lease = ctx.lease;
        let claimer = name.clone();
        let kinds = ctx.kinds.clone();
        let claimed = ctx
            .db
            .run(move |conn| {
                queue::claim(
                    conn,
                    &claimer,
                    &kinds,
                    chrono::Utc::now().naive_utc(),
                    lease,
                )
                .map_err(DbError::from)
            })
            .await;
        match claimed {
            Ok(Some(task)) => {
                ctx.signals.task_changed(task.id);
                let span = tracing::info_span!("job", kind = task.kind.as_str(), task = task.id, worker = %name);
                run_job(&ctx, task).instrument(span).await;
                continue;
            }
            Ok(None) => {}
            Err(err) => {
                tracing::error!(worker = %name, error = %err, "could not claim a task; retrying");
                // Back off so a database outage is not hammered; a wake-up still ends it early.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
                continue;
            }
        }
        tokio::select! {
            _ = &mut woken => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
    tracing::debug!(worker = %name, "worker stopped");
}

async fn run_job(ctx: &Arc<WorkerContext>, task: crate::tasks::ClaimedTask) {
    let task_id = task.id;
    let ctx_for_job = ctx.clone();
    let span = tracing::Span::current();
    let outcome =
        tokio::task::spawn_blocking(move || span.in_scope(|| super::run(&ctx_for_job, &task)))
            .await
            .unwrap_or_else(|err| JobOutcome::Crashed(err.to_string()));
    let finished = match &outcome {
        JobOutcome::Done => true,
        JobOutcome::HandedBack => {
            tracing::info!("handed back to the queue at shutdown");
            ctx.signals.task_enqueued();
            false
        }
        JobOutcome::LeaseLost => {
            tracing::warn!("lease lost to another worker; our work was rolled back");
            false
        }
        JobOutcome::Crashed(error) => {
            tracing::error!(%error, "job crashed; its lease will expire and it will run again");
            false
        }
    };
    // A cancel request that arrived too late has nothing left to stop.
    ctx.signals.task_stopped(task_id);
    if finished {
        ctx.signals.task_changed(task_id);
    }
}

/// Requeues jobs whose worker died (their lease expired), enqueues a scorer for stored runs
/// that lost theirs, and enqueues the (deduplicated) periodic jobs: retention, finished
/// weeks' reports, and deliveries whose retry is due; on SQLite it also empties the
/// write-ahead log (see `db::wal`). The one timer in the queue: leases can only expire with
/// the passing of time.
async fn keep_leases(ctx: Arc<WorkerContext>, mut shutdown: watch::Receiver<bool>) {
    let period = (ctx.lease / 2).to_std().unwrap_or(Duration::from_secs(15));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let delivery = ctx.delivery.clone();
        let result = ctx
            .db
            .run(move |conn| {
                let now = chrono::Utc::now().naive_utc();
                let requeued = queue::requeue_expired(conn, now)?;
                if requeued > 0 {
                    queue::notify(conn, queue::CHANNEL_ENQUEUED, "")?;
                }
                let mut scorers = 0;
                for project_id in queue::projects_missing_a_scorer(conn)? {
                    scorers += usize::from(super::score::enqueue(conn, project_id, now)?);
                }
                let periodic = super::retention::enqueue_when_due(conn, now)?
                    | (super::report::enqueue_when_due(conn, &delivery, now)? > 0)
                    | super::deliver::enqueue_when_due(conn, &delivery, now)?;
                Ok::<_, DbError>((requeued, scorers, periodic))
            })
            .await;
        match result {
            Ok((requeued, scorers, periodic)) => {
                if requeued > 0 {
                    tracing::warn!(
                        tasks = requeued,
                        "requeued jobs whose worker stopped answering"
                    );
                }
                if scorers > 0 {
                    tracing::warn!(
                        projects = scorers,
                        "enqueued scoring that a stopped worker left undone"
                    );
                }
                if requeued + scorers > 0 || periodic {
                    ctx.signals.task_enqueued();
                }
            }
            Err(err) => tracing::error!(error = %err, "lease check failed"),
        }
        if ctx.db.backend != crate::db::Backend::Sqlite {
            continue;
        }
        let checkpoint = ctx
            .db
            .run(|conn| crate::db::wal::truncate_log(conn).map_err(DbError::from))
            .await;
        match checkpoint {
            Ok(Some(c)) if c.busy => {
                tracing::debug!(
                    log_pages = c.log_pages,
                    "SQLite log busy; emptied at a later tick"
                )
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "SQLite log checkpoint failed"),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
