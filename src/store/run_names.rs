//! Each project's branches and jobs: the filter choices of the pages, read from a few rows
//! instead of every run of the project.
//!
//! A store adds the names of its run when they are new, and writes nothing when they are
//! known, so concurrent stores of a project do not queue on the same rows.

use diesel::prelude::*;

use crate::db::schema::run_names;
use crate::db::DbConnection;

const BRANCH: &str = "branch";
const JOB: &str = "job";

/// Adds the run's branch and job to the project's names, unless already there.
pub fn note(conn: &mut DbConnection, project_id: i64, branch: &str, job: &str) -> QueryResult<()> {
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
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(())
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
