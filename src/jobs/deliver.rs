//! The deliver job: batches each project's waiting test events into one message per
//! webhook, then POSTs every due delivery (weekly reports and event batches), one attempt
//! each. A failed attempt is retried later with a doubling back-off, up to
//! `--webhook-attempts`, then marked failed. Deliveries run on the job's own blocking
//! thread, so a slow webhook holds one worker for at most its timeout and never the
//! stores or the scorers (other jobs, other workers).
//!
//! It is enqueued (deduplicated) by the scorer when it records events, by the report job,
//! and by the lease keeper when a retry falls due or a quarantine expired.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::JobOutcome;
use crate::config::DeliverySettings;
use crate::db::{DbConnection, DbError};
use crate::report::payloads::{self, Event, EventKind};
use crate::report::webhooks;
use crate::store::deliveries::{self, Attempt, DueDelivery, Subject};
use crate::store::projects;
use crate::tasks::model::NaiveDateTimeUtc;
use crate::tasks::queue::{self, Ending};
use crate::tasks::{ClaimedTask, JobKind, Progress, WorkerContext};

const DEDUPE_KEY: &str = "deliver";
/// Events sent in one message, at most.
const EVENTS_PER_BATCH: i64 = 200;
/// Longest wait between two tries of a delivery.
const MAX_BACKOFF_SECONDS: u64 = 3600;

/// Asks for due deliveries to be sent; a no-op when a deliver job already waits.
pub fn enqueue(conn: &mut DbConnection, now: NaiveDateTime) -> diesel::QueryResult<bool> {
    queue::enqueue(conn, JobKind::Deliver, None, DEDUPE_KEY, now)
}

/// The keeper's part: records expired quarantines as events, and enqueues the job when a
/// delivery is due or an event waits.
pub fn enqueue_when_due(
    conn: &mut DbConnection,
    settings: &DeliverySettings,
    now: NaiveDateTime,
) -> diesel::QueryResult<bool> {
    if settings.webhooks.is_empty() {
        return Ok(false);
    }
    deliveries::record_expired_quarantines(conn, now)?;
    if deliveries::work_waiting(conn, now)? {
        enqueue(conn, now)
    } else {
        Ok(false)
    }
}

/// How long the `attempts`-th failed try waits before the next: `base`, then twice as
/// long each time, at most an hour.
pub fn backoff(base_seconds: u64, attempts: u32) -> chrono::Duration {
    let factor = 1u64 << attempts.saturating_sub(1).min(20);
    let seconds = base_seconds.saturating_mul(factor).min(MAX_BACKOFF_SECONDS);
    chrono::Duration::seconds(seconds as i64)
}

pub fn run(ctx: &WorkerContext, task: &ClaimedTask) -> JobOutcome {
    let mut progress = Progress::default();
    match batch_events(ctx, task) {
        Ok(true) => {}
        Ok(false) => return JobOutcome::LeaseLost,
        Err(err) => return failed(ctx, task, &err, progress),
    }
    let timeout = Duration::from_secs(ctx.delivery.webhook_timeout_seconds);
    loop {
        if *ctx.hand_back_now.borrow() {
            return super::hand_back(ctx, task);
        }
        let due = match take_due(ctx, task, timeout) {
            Ok(Some(Some(due))) => due,
            Ok(Some(None)) => break,
            Ok(None) => return JobOutcome::LeaseLost,
            Err(err) => return failed(ctx, task, &err, progress),
        };
        let sent = match ctx.delivery.webhooks.iter().find(|h| h.id() == due.webhook) {
            Some(hook) => webhooks::post(&hook.url, &due.body, timeout),
            None => Err("this webhook is not configured in the process that sent it".into()),
        };
        progress.records_seen += 1;
        progress.records_stored += i64::from(sent.is_ok());
        if let Err(err) = record(ctx, &due, sent) {
            return failed(ctx, task, &err, progress);
        }
    }
    super::end(ctx, task, Ending::Completed, progress)
}

fn failed(
    ctx: &WorkerContext,
    task: &ClaimedTask,
    err: &DbError,
    progress: Progress,
) -> JobOutcome {
    tracing::warn!(error = %err, "delivery job failed; the lease keeper enqueues it again");
    let error = err.to_string();
    super::end(ctx, task, Ending::Failed { error: &error }, progress)
}

/// Turns each project's waiting events into one batch per `EVENTS_PER_BATCH`, with a
/// delivery per webhook, in one transaction. `false` when the lease is lost.
fn batch_events(ctx: &WorkerContext, task: &ClaimedTask) -> Result<bool, DbError> {
    let settings = &ctx.delivery;
    if settings.webhooks.is_empty() {
        return Ok(true);
    }
    let mut conn = ctx.db.connection()?;
    let batched = crate::db::write_transaction(&mut conn, |tx| {
        let now = now();
        if !queue::heartbeat(tx, task, now, ctx.lease)? {
            return Ok(false);
        }
        for project_id in deliveries::projects_with_pending_events(tx)? {
            let project = projects::find_by_id(tx, project_id)?;
            loop {
                let pending = deliveries::pending_events(tx, project_id, EVENTS_PER_BATCH)?;
                let (Some(first), Some(last)) = (pending.first(), pending.last()) else {
                    break;
                };
                let label = format!("events {}-{}", first.id, last.id);
                let events: Vec<Event> = pending
                    .iter()
                    .filter_map(|e| {
                        Some(Event {
                            event: EventKind::parse(&e.event)?,
                            test_id: e.test_id,
                            classname: e.classname.clone(),
                            name: e.name.clone(),
                            at: NaiveDateTimeUtc(e.happened_at),
                            link: crate::web::urls::public(
                                settings.public_url.as_deref(),
                                &format!("/projects/{}/tests/{}", project.name, e.test_id),
                            ),
                        })
                    })
                    .collect();
                let bodies: Vec<(String, String)> = settings
                    .webhooks
                    .iter()
                    .map(|hook| {
                        (
                            hook.id(),
                            payloads::events(hook.format, &project.name, &events),
                        )
                    })
                    .collect();
                let ids: Vec<i64> = pending.iter().map(|e| e.id).collect();
                let batch = deliveries::create_batch(
                    tx,
                    project_id,
                    Subject::Events,
                    &label,
                    now,
                    &bodies,
                )?;
                match batch {
                    Some(batch_id) => deliveries::mark_batched(tx, &ids, batch_id)?,
                    // Cannot happen (labels name unbatched event ids); never loop on it.
                    None => break,
                }
            }
        }
        Ok::<_, diesel::result::Error>(true)
    })?;
    Ok(batched)
}

/// Renews the job's lease and takes one due delivery, held for the attempt (its timeout
/// and a minute). `None` when the lease is lost; `Some(None)` when nothing is due.
fn take_due(
    ctx: &WorkerContext,
    task: &ClaimedTask,
    timeout: Duration,
) -> Result<Option<Option<DueDelivery>>, DbError> {
    let mut conn = ctx.db.connection()?;
    let taken = crate::db::write_transaction(&mut conn, |tx| {
        let now = now();
        if !queue::heartbeat(tx, task, now, ctx.lease)? {
            return Ok(None);
        }
        let hold =
            chrono::Duration::from_std(timeout).unwrap_or_default() + chrono::Duration::minutes(1);
        deliveries::take_due(tx, now, now + hold).map(Some)
    })?;
    Ok(taken)
}

/// Records one attempt: delivered, retried after the back-off, or failed for good.
fn record(ctx: &WorkerContext, due: &DueDelivery, sent: Result<(), String>) -> Result<(), DbError> {
    let now = now();
    let settings = &ctx.delivery;
    let attempts = due.attempts.max(0) as u32 + 1;
    let attempt = match &sent {
        Ok(()) => Attempt::Delivered,
        Err(error) => {
            let retry_at = (attempts < settings.webhook_attempts)
                .then(|| now + backoff(settings.webhook_backoff_seconds, attempts));
            tracing::warn!(webhook = %due.webhook, attempts, %error, "webhook delivery failed");
            Attempt::Failed { error, retry_at }
        }
    };
    let mut conn = ctx.db.connection()?;
    deliveries::record_attempt(&mut conn, due.id, attempt, now)?;
    Ok(())
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_an_hour() {
        let waits: Vec<i64> = (1..=9).map(|n| backoff(30, n).num_seconds()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(backoff(0, 5).num_seconds(), 0);
        assert_eq!(backoff(3600, 1000).num_seconds(), 3600);
    }
}
