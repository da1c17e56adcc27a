//! Reading the rollups: a window's days, merged into the summaries its figures take.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel::prelude::*;

use super::stored::{to_run_day, to_span_histograms, SpanDayRow, StoredRunDay};
use crate::analysis::summary::Summary;
use crate::db::schema::{run_days, span_days};
use crate::db::DbConnection;

/// Which days and runs a read covers: `first..=last` (open ends: every day), and the
/// window's branch and job. With a job, spans are that job's attempts in each pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayRange {
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
    pub branch: Option<String>,
    pub job: Option<String>,
}

/// Each day's summary in the range (days without runs are absent).
pub fn by_day(
    conn: &mut DbConnection,
    project_id: i64,
    range: &DayRange,
) -> QueryResult<BTreeMap<NaiveDate, Summary>> {
    let mut runs = run_days::table
        .filter(run_days::project_id.eq(project_id))
        .select((
            run_days::day,
            run_days::job,
            run_days::runner,
            StoredRunDay::as_select(),
        ))
        .into_boxed();
    if let Some(first) = range.first {
        runs = runs.filter(run_days::day.ge(first));
    }
    if let Some(last) = range.last {
        runs = runs.filter(run_days::day.le(last));
    }
    if let Some(branch) = &range.branch {
        runs = runs.filter(run_days::branch.eq(branch.clone()));
    }
    if let Some(job) = &range.job {
        runs = runs.filter(run_days::job.eq(job.clone()));
    }
    let mut days: BTreeMap<NaiveDate, Summary> = BTreeMap::new();
    for (day, job, runner, row) in runs.load::<(NaiveDate, String, String, StoredRunDay)>(conn)? {
        let run_day = to_run_day(row)?;
        let summary = days.entry(day).or_default();
        summary.counts.merge(&run_day.counts);
        summary
            .by_runner
            .entry(runner)
            .or_default()
            .merge(&run_day.time);
        summary
            .job_durations
            .entry(job)
            .or_default()
            .merge(&run_day.durations);
    }
    let mut spans = span_days::table
        .filter(span_days::project_id.eq(project_id))
        .filter(span_days::whole.eq(range.job.is_none()))
        .filter(span_days::job.eq(range.job.clone().unwrap_or_default()))
        .select((
            span_days::day,
            (
                span_days::feedback,
                span_days::first_red,
                span_days::minutes,
            ),
        ))
        .into_boxed();
    if let Some(first) = range.first {
        spans = spans.filter(span_days::day.ge(first));
    }
    if let Some(last) = range.last {
        spans = spans.filter(span_days::day.le(last));
    }
    if let Some(branch) = &range.branch {
        spans = spans.filter(span_days::branch.eq(branch.clone()));
    }
    for (day, row) in spans.load::<(NaiveDate, SpanDayRow)>(conn)? {
        let histograms = to_span_histograms(row)?;
        days.entry(day).or_default().spans.merge(&histograms);
    }
    Ok(days)
}

/// How many runs each day from `first` to `last` had (days without runs are absent).
pub fn runs_by_day(
    conn: &mut DbConnection,
    project_id: i64,
    first: NaiveDate,
    last: NaiveDate,
) -> QueryResult<BTreeMap<NaiveDate, i64>> {
    let rows: Vec<(NaiveDate, i64)> = run_days::table
        .filter(run_days::project_id.eq(project_id))
        .filter(run_days::day.ge(first))
        .filter(run_days::day.le(last))
        .select((run_days::day, run_days::runs))
        .load(conn)?;
    let mut days = BTreeMap::new();
    for (day, runs) in rows {
        *days.entry(day).or_default() += runs;
    }
    Ok(days)
}

/// The summary of every day in the range.
pub fn summary(conn: &mut DbConnection, project_id: i64, range: &DayRange) -> QueryResult<Summary> {
    let mut total = Summary::default();
    for day in by_day(conn, project_id, range)?.values() {
        total.merge(day);
    }
    Ok(total)
}
