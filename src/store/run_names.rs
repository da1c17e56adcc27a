//! Each project's branches and jobs with when a run was last seen on them: the filter
//! choices of the pages, read from a few rows instead of every run of the project.
//!
//! A store adds the names of its run when they are new, and writes nothing when they are
//! known, so concurrent stores of a project do not queue on the same rows; the scorer,
//! one per project at a time, moves `last_seen_at` forward.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::run_names;
use crate::db::DbConnection;

const BRANCH: &str = "branch";
const JOB: &str = "job";

/// Adds the run's branch and job to the project's names, unless already there.
pub fn note(
    conn: &mut DbConnection,
    project_id: i64,
    branch: &str,
    job: &str,
    at: NaiveDateTime,
) -> QueryResult<()> {
    for (kind, name) in [(BRANCH, branch), (JOB, job)] {
        let known = run_names::table
            .find((project_id, kind, name))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        if known {
            continue;
        }
        crate::per_backend!(conn, |c| diesel::insert_into(run_names::table)
            .values((
                run_names::project_id.eq(project_id),
                run_names::kind.eq(kind),
                run_names::name.eq(name),
                run_names::last_seen_at.eq(at),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(())
}

/// The newest start of a scored batch's runs per branch and per job.
#[derive(Debug, Default)]
pub struct Seen(BTreeMap<(&'static str, String), NaiveDateTime>);

impl Seen {
    pub fn add(&mut self, branch: &str, job: &str, at: NaiveDateTime) {
        for key in [(BRANCH, branch.to_owned()), (JOB, job.to_owned())] {
            let newest = self.0.entry(key).or_insert(at);
            *newest = (*newest).max(at);
        }
    }

    /// Moves each name's `last_seen_at` forward to what the batch saw (never back).
    pub fn write(self, conn: &mut DbConnection, project_id: i64) -> QueryResult<()> {
        for ((kind, name), at) in self.0 {
            diesel::update(
                run_names::table
                    .find((project_id, kind, &name))
                    .filter(run_names::last_seen_at.lt(at)),
            )
            .set(run_names::last_seen_at.eq(at))
            .execute(conn)?;
        }
        Ok(())
    }
}

/// The project's branches and jobs, each by name.
pub fn branches_and_jobs(
    conn: &mut DbConnection,
    project_id: i64,
) -> QueryResult<(Vec<String>, Vec<String>)> {
    let rows: Vec<(String, String)> = run_names::table
        .filter(run_names::project_id.eq(project_id))
        .order((run_names::kind, run_names::name))
        .select((run_names::kind, run_names::name))
        .load(conn)?;
    let (branches, jobs): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(kind, _)| kind == BRANCH);
    Ok((
        branches.into_iter().map(|(_, name)| name).collect(),
        jobs.into_iter().map(|(_, name)| name).collect(),
    ))
}
