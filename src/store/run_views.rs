//! Reading runs for the dashboard.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::runs;
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = runs)]
pub struct RunRow {
    pub id: i64,
    pub branch: String,
    pub commit_sha: String,
    pub job: String,
    pub attempt: i32,
    pub build_url: String,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    pub tests: i32,
    pub failed: i32,
    pub errors: i32,
    pub flaky_in_run: i32,
    pub red_flaky: i32,
    pub red_broken: i32,
}

impl RunRow {
    pub fn red(&self) -> bool {
        self.failed + self.errors > 0
    }

    /// Why the run was red, in a few words.
    pub fn verdict(&self) -> &'static str {
        let red = self.failed + self.errors;
        if red == 0 {
            "green"
        } else if self.red_broken > 0 {
            "broken test"
        } else if self.red_flaky == red {
            "false alarm (flaky)"
        } else {
            "new failure"
        }
    }

    pub fn minutes(&self) -> f64 {
        (self.finished_at - self.started_at).num_seconds().max(0) as f64 / 60.0
    }
}

/// The project's newest runs.
pub fn recent(conn: &mut DbConnection, project_id: i64, limit: i64) -> QueryResult<Vec<RunRow>> {
    runs::table
        .filter(runs::project_id.eq(project_id))
        .order((runs::started_at.desc(), runs::id.desc()))
        .limit(limit)
        .select(RunRow::as_select())
        .load(conn)
}
