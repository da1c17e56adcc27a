//! Writing the rollups: the rows a scoring batch changes, read on first use, changed in
//! memory as its runs are added, and written back whole at its end.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::stored::{to_run_day, to_span_histograms, RunDay, SpanDayRow, StoredRunDay};
use crate::analysis::summary::RunRecord;
use crate::analysis::summary::{Attempt, Span, SpanHistograms};
use crate::db::schema::{pipeline_spans, run_days, span_days};
use crate::db::DbConnection;

/// Rows written per statement (SQLite allows 32,766 bound values).
const ROWS_PER_INSERT: usize = 500;

type RunDayKey = (NaiveDate, String, String, String);
type SpanDayKey = (bool, NaiveDate, String, String);
/// whole, pipeline, commit (only without a pipeline id), job ('' for whole pipelines).
type SpanKey = (bool, String, String, String);

/// A span as it stands: the branch of its first run, and whether its last attempt was a
/// false alarm (what makes the next attempt of a job a costly rerun).
#[derive(Debug, Clone)]
struct SpanState {
    branch: String,
    span: Span,
    last_false_alarm: bool,
}

/// The rows a scoring batch changes, read on first use and written back by `write`.
#[derive(Debug)]
pub struct RollupBatch {
    project_id: i64,
    /// Replaying a history from scratch: nothing is stored yet, so nothing is read.
    from_scratch: bool,
    run_days: BTreeMap<RunDayKey, RunDay>,
    span_days: BTreeMap<SpanDayKey, SpanHistograms>,
    /// Every span the batch read is one it changed: `add_run` extends both it reads.
    spans: BTreeMap<SpanKey, Option<SpanState>>,
}

impl RollupBatch {
    pub fn new(project_id: i64) -> RollupBatch {
        RollupBatch {
            project_id,
            from_scratch: false,
            run_days: BTreeMap::new(),
            span_days: BTreeMap::new(),
            spans: BTreeMap::new(),
        }
    }

    /// For a rescore, after `clear`.
    pub fn from_scratch(project_id: i64) -> RollupBatch {
        RollupBatch {
            from_scratch: true,
            ..RollupBatch::new(project_id)
        }
    }

    /// Adds a scored run: its day's sums and duration, and the spans it extends (its
    /// pipeline's, and its job's within the pipeline), whose old values leave the
    /// histograms of the day they were in. Runs come in scoring order: a run whose job
    /// already ran in its pipeline reruns the attempt scored last.
    pub fn add_run(
        &mut self,
        conn: &mut DbConnection,
        run: &RunRecord,
        branch: &str,
    ) -> QueryResult<()> {
        let (pipeline, commit) = run.pipeline_key();
        let span_key = |whole: bool, job: &str| -> SpanKey {
            (
                whole,
                pipeline.to_owned(),
                commit.to_owned(),
                job.to_owned(),
            )
        };
        let job_span = span_key(false, &run.job);
        let attempt = match self.span(conn, &job_span)? {
            None => Attempt::First,
            Some(state) => Attempt::Rerun {
                after_false_alarm: state.last_false_alarm,
            },
        };
        let day_key = (
            run.started_at.date(),
            branch.to_owned(),
            run.job.clone(),
            run.runner.clone(),
        );
        let day = self.run_day(conn, day_key)?;
        day.counts.add(run);
        day.time.add(run, attempt);
        day.durations.add(run.duration_ms());
        for key in [job_span, span_key(true, "")] {
            let old = self.span(conn, &key)?.clone();
            let new = match &old {
                None => SpanState {
                    branch: branch.to_owned(),
                    span: Span::of(run),
                    last_false_alarm: run.is_false_alarm(),
                },
                Some(old) => SpanState {
                    branch: old.branch.clone(),
                    span: old.span.extended(run),
                    last_false_alarm: run.is_false_alarm(),
                },
            };
            let (whole, job) = (key.0, key.3.clone());
            if let Some(old) = old {
                let day = (whole, old.span.started_at.date(), old.branch, job.clone());
                old.span.remove_from(self.span_day(conn, day)?);
            }
            let day = (whole, new.span.started_at.date(), new.branch.clone(), job);
            new.span.add_to(self.span_day(conn, day)?);
            self.spans.insert(key, Some(new));
        }
        Ok(())
    }

    fn span(&mut self, conn: &mut DbConnection, key: &SpanKey) -> QueryResult<&Option<SpanState>> {
        if !self.spans.contains_key(key) {
            let stored = if self.from_scratch {
                None
            } else {
                read_span(conn, self.project_id, key)?
            };
            self.spans.insert(key.clone(), stored);
        }
        Ok(&self.spans[key])
    }

    fn run_day(&mut self, conn: &mut DbConnection, key: RunDayKey) -> QueryResult<&mut RunDay> {
        if !self.run_days.contains_key(&key) {
            let stored = if self.from_scratch {
                RunDay::default()
            } else {
                read_run_day(conn, self.project_id, &key)?.unwrap_or_default()
            };
            self.run_days.insert(key.clone(), stored);
        }
        Ok(self.run_days.get_mut(&key).expect("inserted above"))
    }

    fn span_day(
        &mut self,
        conn: &mut DbConnection,
        key: SpanDayKey,
    ) -> QueryResult<&mut SpanHistograms> {
        if !self.span_days.contains_key(&key) {
            let stored = if self.from_scratch {
                SpanHistograms::default()
            } else {
                read_span_day(conn, self.project_id, &key)?.unwrap_or_default()
            };
            self.span_days.insert(key.clone(), stored);
        }
        Ok(self.span_days.get_mut(&key).expect("inserted above"))
    }

    /// Writes every row the batch changed, whole (they were read first under the lock).
    pub fn write(self, conn: &mut DbConnection) -> QueryResult<()> {
        let project_id = self.project_id;
        let run_rows: Vec<_> = self
            .run_days
            .iter()
            .map(|((day, branch, job, runner), d)| {
                (
                    run_days::project_id.eq(project_id),
                    run_days::day.eq(*day),
                    run_days::branch.eq(branch),
                    run_days::job.eq(job),
                    run_days::runner.eq(runner),
                    run_days::runs.eq(d.counts.runs),
                    run_days::red_runs.eq(d.counts.red_runs),
                    run_days::red_flaky_only.eq(d.counts.red_flaky_only),
                    run_days::red_broken.eq(d.counts.red_broken),
                    run_days::red_other.eq(d.counts.red_other),
                    run_days::flaky_failures.eq(d.counts.flaky_failures),
                    (
                        run_days::run_ms.eq(d.time.run_ms),
                        run_days::rerun_ms.eq(d.time.rerun_ms),
                        run_days::rerun_after_flaky_ms.eq(d.time.rerun_after_flaky_ms),
                        run_days::flaky_retry_ms.eq(d.time.flaky_retry_ms),
                        run_days::durations.eq(d.durations.encode()),
                    ),
                )
            })
            .collect();
        for chunk in run_rows.chunks(ROWS_PER_INSERT) {
            crate::per_backend!(conn, |c| diesel::insert_into(run_days::table)
                .values(chunk)
                .on_conflict((
                    run_days::project_id,
                    run_days::day,
                    run_days::branch,
                    run_days::job,
                    run_days::runner,
                ))
                .do_update()
                .set((
                    run_days::runs.eq(excluded(run_days::runs)),
                    run_days::red_runs.eq(excluded(run_days::red_runs)),
                    run_days::red_flaky_only.eq(excluded(run_days::red_flaky_only)),
                    run_days::red_broken.eq(excluded(run_days::red_broken)),
                    run_days::red_other.eq(excluded(run_days::red_other)),
                    run_days::flaky_failures.eq(excluded(run_days::flaky_failures)),
                    run_days::run_ms.eq(excluded(run_days::run_ms)),
                    run_days::rerun_ms.eq(excluded(run_days::rerun_ms)),
                    run_days::rerun_after_flaky_ms.eq(excluded(run_days::rerun_after_flaky_ms)),
                    run_days::flaky_retry_ms.eq(excluded(run_days::flaky_retry_ms)),
                    run_days::durations.eq(excluded(run_days::durations)),
                ))
                .execute(c))?;
        }
        let span_day_rows: Vec<_> = self
            .span_days
            .iter()
            .map(|((whole, day, branch, job), h)| {
                (
                    span_days::project_id.eq(project_id),
                    span_days::whole.eq(*whole),
                    span_days::day.eq(*day),
                    span_days::branch.eq(branch),
                    span_days::job.eq(job),
                    span_days::feedback.eq(h.feedback.encode()),
                    span_days::first_red.eq(h.first_red.encode()),
                    span_days::minutes.eq(h.minutes.encode()),
                )
            })
            .collect();
        for chunk in span_day_rows.chunks(ROWS_PER_INSERT) {
            crate::per_backend!(conn, |c| diesel::insert_into(span_days::table)
                .values(chunk)
                .on_conflict((
                    span_days::project_id,
                    span_days::whole,
                    span_days::day,
                    span_days::branch,
                    span_days::job,
                ))
                .do_update()
                .set((
                    span_days::feedback.eq(excluded(span_days::feedback)),
                    span_days::first_red.eq(excluded(span_days::first_red)),
                    span_days::minutes.eq(excluded(span_days::minutes)),
                ))
                .execute(c))?;
        }
        let span_rows: Vec<_> = self
            .spans
            .iter()
            .filter_map(|(key, state)| Some((key, state.as_ref()?)))
            .map(|((whole, pipeline, commit, job), state)| {
                (
                    pipeline_spans::project_id.eq(project_id),
                    pipeline_spans::whole.eq(*whole),
                    pipeline_spans::pipeline.eq(pipeline),
                    pipeline_spans::commit_sha.eq(commit),
                    pipeline_spans::job.eq(job),
                    pipeline_spans::branch.eq(&state.branch),
                    pipeline_spans::started_at.eq(state.span.started_at),
                    pipeline_spans::finished_at.eq(state.span.finished_at),
                    pipeline_spans::first_red_at.eq(state.span.first_red_at),
                    pipeline_spans::run_ms.eq(state.span.run_ms),
                    pipeline_spans::last_false_alarm.eq(state.last_false_alarm),
                )
            })
            .collect();
        for chunk in span_rows.chunks(ROWS_PER_INSERT) {
            crate::per_backend!(conn, |c| diesel::insert_into(pipeline_spans::table)
                .values(chunk)
                .on_conflict((
                    pipeline_spans::project_id,
                    pipeline_spans::whole,
                    pipeline_spans::pipeline,
                    pipeline_spans::commit_sha,
                    pipeline_spans::job,
                ))
                .do_update()
                .set((
                    pipeline_spans::started_at.eq(excluded(pipeline_spans::started_at)),
                    pipeline_spans::finished_at.eq(excluded(pipeline_spans::finished_at)),
                    pipeline_spans::first_red_at.eq(excluded(pipeline_spans::first_red_at)),
                    pipeline_spans::run_ms.eq(excluded(pipeline_spans::run_ms)),
                    pipeline_spans::last_false_alarm.eq(excluded(pipeline_spans::last_false_alarm)),
                ))
                .execute(c))?;
        }
        Ok(())
    }
}

fn read_span(
    conn: &mut DbConnection,
    project_id: i64,
    (whole, pipeline, commit, job): &SpanKey,
) -> QueryResult<Option<SpanState>> {
    type Row = (
        String,
        NaiveDateTime,
        NaiveDateTime,
        Option<NaiveDateTime>,
        i64,
        bool,
    );
    let row: Option<Row> = pipeline_spans::table
        .find((project_id, *whole, pipeline, commit, job))
        .select((
            pipeline_spans::branch,
            pipeline_spans::started_at,
            pipeline_spans::finished_at,
            pipeline_spans::first_red_at,
            pipeline_spans::run_ms,
            pipeline_spans::last_false_alarm,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(
        |(branch, started_at, finished_at, first_red_at, run_ms, last_false_alarm)| SpanState {
            branch,
            span: Span {
                started_at,
                finished_at,
                first_red_at,
                run_ms,
            },
            last_false_alarm,
        },
    ))
}

fn read_run_day(
    conn: &mut DbConnection,
    project_id: i64,
    (day, branch, job, runner): &RunDayKey,
) -> QueryResult<Option<RunDay>> {
    let row: Option<StoredRunDay> = run_days::table
        .find((project_id, *day, branch, job, runner))
        .select(StoredRunDay::as_select())
        .first(conn)
        .optional()?;
    row.map(to_run_day).transpose()
}

fn read_span_day(
    conn: &mut DbConnection,
    project_id: i64,
    (whole, day, branch, job): &SpanDayKey,
) -> QueryResult<Option<SpanHistograms>> {
    let row: Option<SpanDayRow> = span_days::table
        .find((project_id, *whole, *day, branch, job))
        .select((
            span_days::feedback,
            span_days::first_red,
            span_days::minutes,
        ))
        .first(conn)
        .optional()?;
    row.map(to_span_histograms).transpose()
}
