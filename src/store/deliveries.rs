//! What webhooks and the report folder are sent, once each: test events (the scorer's
//! outbox), delivery batches (a project's weekly report, or a batch of its events) and one
//! delivery per batch and webhook with its attempts.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::dsl::{exists, not};
use diesel::prelude::*;
use serde::Serialize;

use super::scores::StatusChange;
use crate::analysis::Status;
use crate::db::schema::{
    deliveries, delivery_batches, notification_events, projects, quarantines, tests,
};
use crate::db::DbConnection;
use crate::report::payloads::EventKind;
use crate::tasks::model::NaiveDateTimeUtc;

/// What is sent once per project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    WeeklyReport,
    Events,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::WeeklyReport => "weekly_report",
            Subject::Events => "events",
        }
    }
}

/// Quarantines that expired longer ago than this are not announced (a first start with
/// webhooks does not announce the whole history).
const ANNOUNCE_EXPIRIES_WITHIN_HOURS: i64 = 24;

/// The event a change of status is, if any: a test became flaky or broken, or a flaky or
/// broken test became healthy.
pub fn event_of(before: Status, after: Status) -> Option<EventKind> {
    match (before, after) {
        (b, Status::Flaky) if b != Status::Flaky => Some(EventKind::Flaky),
        (b, Status::Broken) if b != Status::Broken => Some(EventKind::Broken),
        (Status::Flaky | Status::Broken, Status::Healthy) => Some(EventKind::Fixed),
        _ => None,
    }
}

/// Records the events among a scoring batch's status changes; call in the scoring
/// transaction, so each change is recorded exactly once with its scores. Returns how many.
pub fn record_status_changes(
    conn: &mut DbConnection,
    project_id: i64,
    changes: &[StatusChange],
) -> QueryResult<usize> {
    let rows: Vec<_> = changes
        .iter()
        .filter_map(|change| {
            let event = event_of(change.before, change.after)?;
            Some((
                notification_events::project_id.eq(project_id),
                notification_events::test_id.eq(change.test_id),
                notification_events::event.eq(event.as_str()),
                notification_events::happened_at.eq(change.at),
            ))
        })
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    let insert = diesel::insert_into(notification_events::table).values(rows);
    crate::per_backend!(conn, |c| insert.execute(c))
}

/// Records an event for each quarantine that expired (within the last day) and was not
/// announced yet. Returns how many.
pub fn record_expired_quarantines(
    conn: &mut DbConnection,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let expired: Vec<(i64, i64, i64, Option<NaiveDateTime>)> = quarantines::table
        .filter(quarantines::ended_at.is_null())
        .filter(quarantines::expires_at.le(now))
        .filter(quarantines::expires_at.gt(now - Duration::hours(ANNOUNCE_EXPIRIES_WITHIN_HOURS)))
        .select((
            quarantines::id,
            quarantines::project_id,
            quarantines::test_id,
            quarantines::expires_at,
        ))
        .load(conn)?;
    let mut recorded = 0;
    for (id, project_id, test_id, expires_at) in expired {
        let insert = diesel::insert_into(notification_events::table)
            .values((
                notification_events::project_id.eq(project_id),
                notification_events::test_id.eq(test_id),
                notification_events::event.eq(EventKind::QuarantineExpired.as_str()),
                notification_events::happened_at.eq(expires_at.unwrap_or(now)),
                notification_events::dedupe_key.eq(format!("quarantine:{id}")),
            ))
            .on_conflict(notification_events::dedupe_key)
            .do_nothing();
        recorded += crate::per_backend!(conn, |c| insert.execute(c))?;
    }
    Ok(recorded)
}

/// An event waiting to be batched, with its test's names.
#[derive(Debug, Clone, Queryable)]
pub struct PendingEvent {
    pub id: i64,
    pub event: String,
    pub test_id: i64,
    pub classname: String,
    pub name: String,
    pub happened_at: NaiveDateTime,
}

/// Projects with events not yet batched.
pub fn projects_with_pending_events(conn: &mut DbConnection) -> QueryResult<Vec<i64>> {
    notification_events::table
        .filter(notification_events::batch_id.is_null())
        .select(notification_events::project_id)
        .distinct()
        .load(conn)
}

/// The project's oldest events not yet batched, at most `limit`.
pub fn pending_events(
    conn: &mut DbConnection,
    project_id: i64,
    limit: i64,
) -> QueryResult<Vec<PendingEvent>> {
    notification_events::table
        .inner_join(tests::table)
        .filter(notification_events::project_id.eq(project_id))
        .filter(notification_events::batch_id.is_null())
        .order(notification_events::id)
        .limit(limit)
        .select((
            notification_events::id,
            notification_events::event,
            notification_events::test_id,
            tests::classname,
            tests::name,
            notification_events::happened_at,
        ))
        .load(conn)
}

/// Makes a batch of `subject` labelled `label` with one pending delivery per
/// `(webhook id, body)`; `None` when the project has that batch already (a week's report is
/// produced once).
pub fn create_batch(
    conn: &mut DbConnection,
    project_id: i64,
    subject: Subject,
    label: &str,
    now: NaiveDateTime,
    bodies: &[(String, String)],
) -> QueryResult<Option<i64>> {
    let insert = diesel::insert_into(delivery_batches::table)
        .values((
            delivery_batches::project_id.eq(project_id),
            delivery_batches::subject.eq(subject.as_str()),
            delivery_batches::label.eq(label),
            delivery_batches::created_at.eq(now),
        ))
        .on_conflict((
            delivery_batches::project_id,
            delivery_batches::subject,
            delivery_batches::label,
        ))
        .do_nothing()
        .returning(delivery_batches::id);
    let batch_id: Option<i64> = crate::per_backend!(conn, |c| insert.get_result(c).optional())?;
    let Some(batch_id) = batch_id else {
        return Ok(None);
    };
    let rows: Vec<_> = bodies
        .iter()
        .map(|(webhook, body)| {
            (
                deliveries::batch_id.eq(batch_id),
                deliveries::webhook.eq(webhook),
                deliveries::body.eq(body),
                deliveries::status.eq("pending"),
                deliveries::next_attempt_at.eq(now),
            )
        })
        .collect();
    if !rows.is_empty() {
        let insert = diesel::insert_into(deliveries::table).values(rows);
        crate::per_backend!(conn, |c| insert.execute(c))?;
    }
    // The reports page shows what was produced and how it was delivered.
    super::data_versions::bump(conn, project_id)?;
    Ok(Some(batch_id))
}

/// Assigns events to their batch.
pub fn mark_batched(conn: &mut DbConnection, event_ids: &[i64], batch_id: i64) -> QueryResult<()> {
    diesel::update(notification_events::table.filter(notification_events::id.eq_any(event_ids)))
        .set(notification_events::batch_id.eq(batch_id))
        .execute(conn)
        .map(drop)
}

/// Projects that existed before `until` and have no report batch labelled `week` yet.
pub fn projects_missing_report(
    conn: &mut DbConnection,
    week: &str,
    until: NaiveDateTime,
) -> QueryResult<Vec<i64>> {
    let produced = delivery_batches::table
        .filter(delivery_batches::project_id.eq(projects::id))
        .filter(delivery_batches::subject.eq(Subject::WeeklyReport.as_str()))
        .filter(delivery_batches::label.eq(week));
    projects::table
        .filter(projects::created_at.lt(until))
        .filter(not(exists(produced)))
        .select(projects::id)
        .order(projects::id)
        .load(conn)
}

/// Whether some delivery is due, or some event waits for a batch.
pub fn work_waiting(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<bool> {
    let due = deliveries::table
        .filter(deliveries::status.eq("pending"))
        .filter(deliveries::next_attempt_at.le(now));
    let unbatched = notification_events::table.filter(notification_events::batch_id.is_null());
    diesel::select(exists(due).or(exists(unbatched))).get_result(conn)
}

/// A delivery to attempt now.
#[derive(Debug, Clone, Queryable)]
pub struct DueDelivery {
    pub id: i64,
    pub webhook: String,
    pub body: String,
    pub attempts: i32,
}

/// Takes the oldest due delivery for one attempt: it is not due again before
/// `hold_until`, so no other worker sends it meanwhile (and a worker that dies mid-way
/// leaves it to be retried then).
pub fn take_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    hold_until: NaiveDateTime,
) -> QueryResult<Option<DueDelivery>> {
    loop {
        let due: Option<DueDelivery> = deliveries::table
            .filter(deliveries::status.eq("pending"))
            .filter(deliveries::next_attempt_at.le(now))
            .order((deliveries::next_attempt_at, deliveries::id))
            .select((
                deliveries::id,
                deliveries::webhook,
                deliveries::body,
                deliveries::attempts,
            ))
            .first(conn)
            .optional()?;
        let Some(due) = due else {
            return Ok(None);
        };
        let taken = diesel::update(
            deliveries::table
                .filter(deliveries::id.eq(due.id))
                .filter(deliveries::status.eq("pending"))
                .filter(deliveries::next_attempt_at.le(now)),
        )
        .set(deliveries::next_attempt_at.eq(hold_until))
        .execute(conn)?;
        if taken == 1 {
            return Ok(Some(due));
        }
        // Another worker took it between our read and our update: look again.
    }
}

/// How an attempt ended.
pub enum Attempt<'a> {
    Delivered,
    /// Failed; tried again at `retry_at`, or marked failed when `None` (out of tries).
    Failed {
        error: &'a str,
        retry_at: Option<NaiveDateTime>,
    },
}

pub fn record_attempt(
    conn: &mut DbConnection,
    id: i64,
    attempt: Attempt<'_>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let row = deliveries::table.filter(deliveries::id.eq(id));
    let counted = deliveries::attempts.eq(deliveries::attempts + 1);
    match attempt {
        Attempt::Delivered => diesel::update(row)
            .set((
                counted,
                deliveries::status.eq("delivered"),
                deliveries::delivered_at.eq(now),
            ))
            .execute(conn),
        Attempt::Failed { error, retry_at } => diesel::update(row)
            .set((
                counted,
                deliveries::status.eq(if retry_at.is_some() {
                    "pending"
                } else {
                    "failed"
                }),
                deliveries::last_error.eq(error),
                deliveries::next_attempt_at.eq(retry_at.unwrap_or(now)),
            ))
            .execute(conn),
    }?;
    let project_id: i64 = deliveries::table
        .inner_join(delivery_batches::table)
        .filter(deliveries::id.eq(id))
        .select(delivery_batches::project_id)
        .first(conn)?;
    super::data_versions::bump(conn, project_id)
}

/// One delivery as admins see it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: i64,
    /// `weekly_report` or `events`.
    pub subject: String,
    /// The ISO week, or the range of event ids of the batch.
    pub label: String,
    /// The webhook's id: its format, host and a hash of its URL.
    pub webhook: String,
    /// pending, delivered or failed.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTimeUtc,
    /// When it is tried next, while pending.
    pub next_attempt_at: Option<NaiveDateTimeUtc>,
    pub delivered_at: Option<NaiveDateTimeUtc>,
}

type ViewRow = (
    i64,
    String,
    String,
    String,
    String,
    i32,
    Option<String>,
    NaiveDateTime,
    NaiveDateTime,
    Option<NaiveDateTime>,
);

/// The project's newest deliveries first, at most `limit`.
pub fn list(
    conn: &mut DbConnection,
    project_id: i64,
    limit: i64,
) -> QueryResult<Vec<DeliveryView>> {
    let rows: Vec<ViewRow> = deliveries::table
        .inner_join(delivery_batches::table)
        .filter(delivery_batches::project_id.eq(project_id))
        .order((delivery_batches::created_at.desc(), deliveries::id.desc()))
        .limit(limit)
        .select(view_columns())
        .load(conn)?;
    Ok(rows.into_iter().map(view).collect())
}

/// The columns of a `ViewRow`, in its order.
#[allow(clippy::type_complexity)]
fn view_columns() -> (
    deliveries::id,
    delivery_batches::subject,
    delivery_batches::label,
    deliveries::webhook,
    deliveries::status,
    deliveries::attempts,
    deliveries::last_error,
    delivery_batches::created_at,
    deliveries::next_attempt_at,
    deliveries::delivered_at,
) {
    (
        deliveries::id,
        delivery_batches::subject,
        delivery_batches::label,
        deliveries::webhook,
        deliveries::status,
        deliveries::attempts,
        deliveries::last_error,
        delivery_batches::created_at,
        deliveries::next_attempt_at,
        deliveries::delivered_at,
    )
}

fn view(row: ViewRow) -> DeliveryView {
    let pending = row.4 == "pending";
    DeliveryView {
        id: row.0,
        subject: row.1,
        label: row.2,
        webhook: row.3,
        status: row.4,
        attempts: row.5,
        last_error: row.6,
        created_at: NaiveDateTimeUtc(row.7),
        next_attempt_at: pending.then_some(NaiveDateTimeUtc(row.8)),
        delivered_at: row.9.map(NaiveDateTimeUtc),
    }
}

/// A week's report as it was produced for delivery: when, and what each webhook was sent.
#[derive(Debug, Clone)]
pub struct WeekDelivery {
    pub produced_at: NaiveDateTimeUtc,
    pub deliveries: Vec<DeliveryView>,
}

/// The project's weekly reports produced for the weeks `labels` (ISO weeks), by week.
pub fn weekly_reports(
    conn: &mut DbConnection,
    project_id: i64,
    labels: &[String],
) -> QueryResult<HashMap<String, WeekDelivery>> {
    let produced: Vec<(String, NaiveDateTime)> = delivery_batches::table
        .filter(delivery_batches::project_id.eq(project_id))
        .filter(delivery_batches::subject.eq(Subject::WeeklyReport.as_str()))
        .filter(delivery_batches::label.eq_any(labels))
        .select((delivery_batches::label, delivery_batches::created_at))
        .load(conn)?;
    let mut weeks: HashMap<String, WeekDelivery> = produced
        .into_iter()
        .map(|(label, at)| {
            let week = WeekDelivery {
                produced_at: NaiveDateTimeUtc(at),
                deliveries: Vec::new(),
            };
            (label, week)
        })
        .collect();
    let rows: Vec<ViewRow> = deliveries::table
        .inner_join(delivery_batches::table)
        .filter(delivery_batches::project_id.eq(project_id))
        .filter(delivery_batches::subject.eq(Subject::WeeklyReport.as_str()))
        .filter(delivery_batches::label.eq_any(labels))
        .order(deliveries::id)
        .select(view_columns())
        .load(conn)?;
    for row in rows {
        let delivery = view(row);
        if let Some(week) = weeks.get_mut(&delivery.label) {
            week.deliveries.push(delivery);
        }
    }
    Ok(weeks)
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn only_becoming_flaky_broken_or_fixed_is_news() {
        assert_eq!(
            event_of(Status::Healthy, Status::Flaky),
            Some(EventKind::Flaky)
        );
        assert_eq!(
            event_of(Status::New, Status::Broken),
            Some(EventKind::Broken)
        );
        assert_eq!(
            event_of(Status::Flaky, Status::Broken),
            Some(EventKind::Broken)
        );
        assert_eq!(
            event_of(Status::Broken, Status::Healthy),
            Some(EventKind::Fixed)
        );
        assert_eq!(event_of(Status::Flaky, Status::Flaky), None);
        assert_eq!(event_of(Status::New, Status::Healthy), None);
        assert_eq!(event_of(Status::Flaky, Status::Inactive), None);
    }
}
