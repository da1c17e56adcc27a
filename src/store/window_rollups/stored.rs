//! The rollup rows as stored, and their decoding into the summary's parts.

use diesel::prelude::*;

use crate::analysis::histogram::Histogram;
use crate::analysis::summary::{RunCounts, RunnerTime, SpanHistograms};
use crate::db::schema::run_days;

/// One day's runs of one branch, job and runner.
#[derive(Debug, Clone, Default)]
pub(super) struct RunDay {
    pub counts: RunCounts,
    pub time: RunnerTime,
    pub durations: Histogram,
}

fn bad_histogram(err: impl std::error::Error + Send + Sync + 'static) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(Box::new(err))
}

/// A stored histogram (every rollup table keeps them the same way).
pub(crate) fn decode(bytes: &[u8]) -> QueryResult<Histogram> {
    Histogram::decode(bytes).map_err(bad_histogram)
}

/// A `run_days` row's figures, as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = run_days)]
pub(super) struct StoredRunDay {
    runs: i64,
    red_runs: i64,
    red_flaky_only: i64,
    red_broken: i64,
    red_other: i64,
    flaky_failures: i64,
    run_ms: i64,
    rerun_ms: i64,
    rerun_after_flaky_ms: i64,
    flaky_retry_ms: i64,
    durations: Vec<u8>,
}

pub(super) fn to_run_day(row: StoredRunDay) -> QueryResult<RunDay> {
    Ok(RunDay {
        counts: RunCounts {
            runs: row.runs,
            red_runs: row.red_runs,
            red_flaky_only: row.red_flaky_only,
            red_broken: row.red_broken,
            red_other: row.red_other,
            flaky_failures: row.flaky_failures,
        },
        time: RunnerTime {
            run_ms: row.run_ms,
            rerun_ms: row.rerun_ms,
            rerun_after_flaky_ms: row.rerun_after_flaky_ms,
            flaky_retry_ms: row.flaky_retry_ms,
        },
        durations: decode(&row.durations)?,
    })
}

pub(super) type SpanDayRow = (Vec<u8>, Vec<u8>, Vec<u8>);

pub(super) fn to_span_histograms(
    (feedback, first_red, minutes): SpanDayRow,
) -> QueryResult<SpanHistograms> {
    Ok(SpanHistograms {
        feedback: decode(&feedback)?,
        first_red: decode(&first_red)?,
        minutes: decode(&minutes)?,
    })
}
