//! Read-only views of the store queue for pages and the demo: how many store tasks are in
//! each status, and their queue and store times, for the projects in a scope. Other job kinds
//! (scoring, retention) share the table and are left out.

use chrono::NaiveDateTime;
use diesel::prelude::*;

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

/// When a task was received, with its queue and store times in ms (`None` until it
/// started or finished).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskTiming {
    pub received_at: NaiveDateTime,
    pub queue_ms: Option<f64>,
    /// From start until the run was stored (or the task ended without one).
    pub store_ms: Option<f64>,
    /// From stored until scored: the scoring lag.
    pub scoring_ms: Option<f64>,
}

/// The timings of the tasks received in `[since, until)` of the projects in `scope`.
pub fn timings(
    conn: &mut DbConnection,
    scope: &ProjectScope,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
) -> QueryResult<Vec<TaskTiming>> {
    let mut query = store_tasks::table
        .filter(store_tasks::kind.eq(JobKind::Store.as_str()))
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
    if let Some(until) = until {
        query = query.filter(store_tasks::received_at.lt(until));
    }
    type Row = (
        NaiveDateTime,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let ms = |from: NaiveDateTime, to: NaiveDateTime| (to - from).num_milliseconds().max(0) as f64;
    Ok(query
        .load::<Row>(conn)?
        .into_iter()
        .map(
            |(received, enqueued, started, stored, scored, finished)| TaskTiming {
                received_at: received,
                queue_ms: started.map(|s| ms(enqueued, s)),
                store_ms: started.zip(stored.or(finished)).map(|(s, f)| ms(s, f)),
                scoring_ms: stored.zip(scored).map(|(s, f)| ms(s, f)),
            },
        )
        .collect())
}
