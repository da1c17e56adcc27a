//! Projects: the unit that owns tokens, runs and tests.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{projects, runs};
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = projects)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub default_branch: String,
    pub created_at: NaiveDateTime,
}

/// A project with the figures the dashboard's project list shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProjectOverview {
    pub project: Project,
    pub runs: i64,
    pub last_run_at: Option<NaiveDateTime>,
}

/// Every project, by name, with its run count and latest run.
pub fn list_overviews(conn: &mut DbConnection) -> QueryResult<Vec<ProjectOverview>> {
    let rows: Vec<(Project, i64, Option<NaiveDateTime>)> = projects::table
        .left_join(runs::table.on(runs::project_id.eq(projects::id)))
        .group_by(projects::id)
        .select((
            Project::as_select(),
            diesel::dsl::count(runs::id.nullable()),
            diesel::dsl::max(runs::started_at.nullable()),
        ))
        .order(projects::name)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(project, runs, last_run_at)| ProjectOverview {
            project,
            runs,
            last_run_at,
        })
        .collect())
}

/// Finds a project by name, creating it when new.
pub fn find_or_create(
    conn: &mut DbConnection,
    name: &str,
    now: NaiveDateTime,
) -> QueryResult<Project> {
    if let Some(project) = find(conn, name)? {
        return Ok(project);
    }
    // Another replica may create it between our read and insert: ignore the conflict
    // and read again.
    let new_project = (projects::name.eq(name), projects::created_at.eq(now));
    crate::per_backend!(conn, |c| diesel::insert_into(projects::table)
        .values(new_project)
        .on_conflict(projects::name)
        .do_nothing()
        .execute(c))?;
    projects::table
        .filter(projects::name.eq(name))
        .select(Project::as_select())
        .first(conn)
}

pub fn find(conn: &mut DbConnection, name: &str) -> QueryResult<Option<Project>> {
    projects::table
        .filter(projects::name.eq(name))
        .select(Project::as_select())
        .first(conn)
        .optional()
}
