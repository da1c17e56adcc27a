//! Per-day rollups of a project's runs (`run_days`, `span_days`, with `pipeline_spans` as
//! their working state): written as runs are scored, one batch at a time under the
//! project's scoring lock (`RollupBatch`), and merged by every window's CI figures
//! (`by_day`, `summary`), so a window reads a few rows per day, however many runs it
//! holds. The arithmetic is `analysis::summary`'s.

mod batch;
mod read;
mod stored;

use diesel::prelude::*;

pub use batch::RollupBatch;
pub use read::{by_day, runs_by_day, summary, DayRange};
pub(crate) use stored::decode as decode_histogram;

use crate::db::schema::{pipeline_spans, run_days, span_days};
use crate::db::DbConnection;

/// Drops the project's rollups, before a rescore writes them again.
pub fn clear(conn: &mut DbConnection, project_id: i64) -> QueryResult<()> {
    diesel::delete(run_days::table.filter(run_days::project_id.eq(project_id))).execute(conn)?;
    diesel::delete(span_days::table.filter(span_days::project_id.eq(project_id))).execute(conn)?;
    diesel::delete(pipeline_spans::table.filter(pipeline_spans::project_id.eq(project_id)))
        .execute(conn)?;
    Ok(())
}
