//! Per-day histograms of each project's completed store tasks (`task_days`): queue time,
//! store time and scoring lag, by the day a task was received. Added to when scoring
//! completes tasks (under the project's scoring lock, so each row has one writer), rebuilt
//! by a rescore, and merged by the project page, the metrics API and the weekly report.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::window_rollups::{decode_histogram as decode, DayRange};
use crate::analysis::histogram::Histogram;
use crate::db::schema::{store_tasks, task_days};
use crate::db::DbConnection;
use crate::tasks::queue::Completed;
use crate::tasks::{JobKind, TaskStatus};

/// Stage times in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskHistograms {
    /// Enqueued until a worker started storing.
    pub queue: Histogram,
    /// Started until the run was stored.
    pub store: Histogram,
    /// Stored until scored: the scoring lag.
    pub scoring: Histogram,
}

fn ms(from: NaiveDateTime, to: NaiveDateTime) -> i64 {
    (to - from).num_milliseconds().max(0)
}

impl TaskHistograms {
    pub fn add(&mut self, task: &Completed) {
        if let Some(started) = task.started_at {
            self.queue.add(ms(task.enqueued_at, started));
            if let Some(stored) = task.stored_at {
                self.store.add(ms(started, stored));
            }
        }
        if let Some(stored) = task.stored_at {
            self.scoring.add(ms(stored, task.scored_at));
        }
    }

    pub fn merge(&mut self, other: &TaskHistograms) {
        self.queue.merge(&other.queue);
        self.store.merge(&other.store);
        self.scoring.merge(&other.scoring);
    }
}

type Row = (Vec<u8>, Vec<u8>, Vec<u8>);

fn to_histograms((queue, store, scoring): Row) -> QueryResult<TaskHistograms> {
    Ok(TaskHistograms {
        queue: decode(&queue)?,
        store: decode(&store)?,
        scoring: decode(&scoring)?,
    })
}

/// Adds tasks just completed to their days (call under their projects' scoring locks).
pub fn add_completed(conn: &mut DbConnection, tasks: &[Completed]) -> QueryResult<()> {
    let mut days: BTreeMap<(i64, NaiveDate), TaskHistograms> = BTreeMap::new();
    for task in tasks {
        let Some(project_id) = task.project_id else {
            continue;
        };
        let day = match days.entry((project_id, task.received_at.date())) {
            Entry::Occupied(day) => day.into_mut(),
            Entry::Vacant(day) => {
                let stored: Option<Row> = task_days::table
                    .find(*day.key())
                    .select((task_days::queue, task_days::store, task_days::scoring))
                    .first(conn)
                    .optional()?;
                day.insert(stored.map(to_histograms).transpose()?.unwrap_or_default())
            }
        };
        day.add(task);
    }
    write(conn, &days)
}

fn write(
    conn: &mut DbConnection,
    days: &BTreeMap<(i64, NaiveDate), TaskHistograms>,
) -> QueryResult<()> {
    let rows: Vec<_> = days
        .iter()
        .map(|((project_id, day), h)| {
            (
                task_days::project_id.eq(*project_id),
                task_days::day.eq(*day),
                task_days::queue.eq(h.queue.encode()),
                task_days::store.eq(h.store.encode()),
                task_days::scoring.eq(h.scoring.encode()),
            )
        })
        .collect();
    for chunk in rows.chunks(500) {
        crate::per_backend!(conn, |c| diesel::insert_into(task_days::table)
            .values(chunk)
            .on_conflict((task_days::project_id, task_days::day))
            .do_update()
            .set((
                task_days::queue.eq(excluded(task_days::queue)),
                task_days::store.eq(excluded(task_days::store)),
                task_days::scoring.eq(excluded(task_days::scoring)),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// Store tasks of the project completed by scoring and received in `[since, until)` (open
/// ends: all).
pub fn completed_tasks(
    conn: &mut DbConnection,
    project_id: i64,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
) -> QueryResult<Vec<Completed>> {
    let mut query = store_tasks::table
        .filter(store_tasks::project_id.eq(project_id))
        .filter(store_tasks::kind.eq(JobKind::Store.as_str()))
        .filter(store_tasks::status.eq(TaskStatus::Completed.as_str()))
        .select((
            store_tasks::id,
            store_tasks::received_at,
            store_tasks::enqueued_at,
            store_tasks::started_at,
            store_tasks::stored_at,
            store_tasks::scored_at,
        ))
        .into_boxed();
    if let Some(since) = since {
        query = query.filter(store_tasks::received_at.ge(since));
    }
    if let Some(until) = until {
        query = query.filter(store_tasks::received_at.lt(until));
    }
    type TaskRow = (
        i64,
        NaiveDateTime,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<TaskRow> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(id, received_at, enqueued_at, started_at, stored_at, scored_at)| {
                Some(Completed {
                    id,
                    project_id: Some(project_id),
                    received_at,
                    enqueued_at,
                    started_at,
                    stored_at,
                    // Only tasks completed by scoring, as `add_completed` gets them.
                    scored_at: scored_at?,
                })
            },
        )
        .collect())
}

/// Writes the project's days again from its completed tasks (a rescore does, which is
/// also how a project stored before these rollups gets them).
pub fn rebuild(conn: &mut DbConnection, project_id: i64) -> QueryResult<()> {
    diesel::delete(task_days::table.filter(task_days::project_id.eq(project_id))).execute(conn)?;
    let mut days: BTreeMap<(i64, NaiveDate), TaskHistograms> = BTreeMap::new();
    for task in completed_tasks(conn, project_id, None, None)? {
        days.entry((project_id, task.received_at.date()))
            .or_default()
            .add(&task);
    }
    write(conn, &days)
}

/// Each day's histograms of the project in the range (branch and job do not apply: a
/// task is an upload, before it is a run).
pub fn by_day(
    conn: &mut DbConnection,
    project_id: i64,
    range: &DayRange,
) -> QueryResult<BTreeMap<NaiveDate, TaskHistograms>> {
    let mut query = task_days::table
        .filter(task_days::project_id.eq(project_id))
        .select((
            task_days::day,
            (task_days::queue, task_days::store, task_days::scoring),
        ))
        .into_boxed();
    if let Some(first) = range.first {
        query = query.filter(task_days::day.ge(first));
    }
    if let Some(last) = range.last {
        query = query.filter(task_days::day.le(last));
    }
    let rows: Vec<(NaiveDate, Row)> = query.load(conn)?;
    rows.into_iter()
        .map(|(day, row)| Ok((day, to_histograms(row)?)))
        .collect()
}
