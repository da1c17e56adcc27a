//! Read-only views of the store queue for pages and the demo: how many store tasks are in
//! each status, and their live queue and store times, for the projects in a scope. Other job kinds
//! (scoring, retention) share the table and are left out.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::task_rollups::TaskHistograms;
use crate::db::schema::store_tasks;
use crate::db::DbConnection;
use crate::tasks::queue::ProjectScope;
use crate::tasks::{JobKind, TaskStatus};

/// Tasks per status (only statuses that have any) of the projects in `scope`.
pub fn count_by_status(
    conn: &mut DbConnection,
    scope: &ProjectScope,
) -> QueryResult<Vec<(TaskStatus, i64)>> {
    let mut query = store_tasks::table
        .filter(store_tasks::kind.eq(JobKind::Store.as_str()))
        .group_by(store_tasks::status)
        .select((store_tasks::status, diesel::dsl::count_star()))
        .into_boxed();
    if let ProjectScope::Only(ids) = scope {
        query = query.filter(store_tasks::project_id.eq_any(ids.clone()));
    }
    let rows: Vec<(String, i64)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(status, n)| TaskStatus::parse(&status).map(|s| (s, n)))
        .collect())
}

/// Each day's queue time, store time and scoring lag of the tasks of the projects in
/// `scope` received since `since`: every task that started, running or ended, failed ones
/// included (their store time runs to their end), for operators watching the queue.
pub fn timings_by_day(
    conn: &mut DbConnection,
    scope: &ProjectScope,
    since: Option<NaiveDateTime>,
) -> QueryResult<BTreeMap<NaiveDate, TaskHistograms>> {
    let mut query = store_tasks::table
        .filter(store_tasks::kind.eq(JobKind::Store.as_str()))
        .filter(store_tasks::started_at.is_not_null())
        .select((
            store_tasks::received_at,
            store_tasks::enqueued_at,
            store_tasks::started_at,
            store_tasks::stored_at,
            store_tasks::scored_at,
            store_tasks::finished_at,
        ))
        .into_boxed();
    if let ProjectScope::Only(ids) = scope {
        query = query.filter(store_tasks::project_id.eq_any(ids.clone()));
    }
    if let Some(since) = since {
        query = query.filter(store_tasks::received_at.ge(since));
    }
    type Row = (
        NaiveDateTime,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let ms = |from: NaiveDateTime, to: NaiveDateTime| (to - from).num_milliseconds().max(0);
    let mut days: BTreeMap<NaiveDate, TaskHistograms> = BTreeMap::new();
    for (received, enqueued, started, stored, scored, finished) in query.load::<Row>(conn)? {
        let Some(started) = started else { continue };
        let day = days.entry(received.date()).or_default();
        day.queue.add(ms(enqueued, started));
        if let Some(end) = stored.or(finished) {
            day.store.add(ms(started, end));
        }
        if let (Some(stored), Some(scored)) = (stored, scored) {
            day.scoring.add(ms(stored, scored));
        }
    }
    Ok(days)
}
