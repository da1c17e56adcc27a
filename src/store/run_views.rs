//! Reading runs for the dashboard: the newest, a filtered page of them (seek paging on
//! `(started_at, id)`), one run, the runs of a commit and the attempts of a job.

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
    list(
        conn,
        &RunFilter {
            project_id,
            limit,
            ..RunFilter::default()
        },
    )
}

/// Red runs, green runs, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outcome {
    #[default]
    Any,
    Red,
    Green,
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub project_id: i64,
    pub branch: Option<String>,
    pub job: Option<String>,
    pub outcome: Outcome,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    /// Only runs older than this `(started_at, id)`: the last run of the previous page.
    pub before: Option<(NaiveDateTime, i64)>,
    pub limit: i64,
}

/// The project's runs matching `filter`, newest first.
pub fn list(conn: &mut DbConnection, filter: &RunFilter) -> QueryResult<Vec<RunRow>> {
    let mut query = runs::table
        .filter(runs::project_id.eq(filter.project_id))
        .order((runs::started_at.desc(), runs::id.desc()))
        .limit(filter.limit)
        .select(RunRow::as_select())
        .into_boxed();
    if let Some(branch) = &filter.branch {
        query = query.filter(runs::branch.eq(branch.clone()));
    }
    if let Some(job) = &filter.job {
        query = query.filter(runs::job.eq(job.clone()));
    }
    let red = (runs::failed + runs::errors).gt(0);
    match filter.outcome {
        Outcome::Any => {}
        Outcome::Red => query = query.filter(red),
        Outcome::Green => query = query.filter((runs::failed + runs::errors).eq(0)),
    }
    if let Some(since) = filter.since {
        query = query.filter(runs::started_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(runs::started_at.lt(until));
    }
    if let Some((at, id)) = filter.before {
        query = query.filter(
            runs::started_at
                .lt(at)
                .or(runs::started_at.eq(at).and(runs::id.lt(id))),
        );
    }
    query.load(conn)
}

/// One run of the project.
pub fn find(conn: &mut DbConnection, project_id: i64, run_id: i64) -> QueryResult<Option<RunRow>> {
    runs::table
        .filter(runs::project_id.eq(project_id))
        .filter(runs::id.eq(run_id))
        .select(RunRow::as_select())
        .first(conn)
        .optional()
}

/// Every run of a commit (each job and attempt), by job then attempt.
pub fn of_commit(
    conn: &mut DbConnection,
    project_id: i64,
    commit_sha: &str,
) -> QueryResult<Vec<RunRow>> {
    runs::table
        .filter(runs::project_id.eq(project_id))
        .filter(runs::commit_sha.eq(commit_sha))
        .order((runs::job, runs::attempt, runs::started_at, runs::id))
        .select(RunRow::as_select())
        .load(conn)
}

/// The project's branches and jobs, for filter choices.
pub fn branches_and_jobs(
    conn: &mut DbConnection,
    project_id: i64,
) -> QueryResult<(Vec<String>, Vec<String>)> {
    super::run_names::branches_and_jobs(conn, project_id)
}

/// The start of the project's newest run, if it has any.
pub fn newest_start(
    conn: &mut DbConnection,
    project_id: i64,
) -> QueryResult<Option<NaiveDateTime>> {
    runs::table
        .filter(runs::project_id.eq(project_id))
        .select(diesel::dsl::max(runs::started_at))
        .first(conn)
}
