//! Projects: the unit that owns tokens, runs and tests, and its settings.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{project_data_versions, projects, runs};
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = projects)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub default_branch: String,
    pub created_at: NaiveDateTime,
    /// Shown instead of the name where set.
    pub display_name: String,
    /// Who chose the default branch: `assumed` (nobody: `main`), `ci` (an upload's CI
    /// system said) or `setting` (an admin; uploads no longer change it).
    pub default_branch_source: String,
}

impl Project {
    pub fn title(&self) -> &str {
        if self.display_name.is_empty() {
            &self.name
        } else {
            &self.display_name
        }
    }
}

/// Longest project name.
pub const MAX_NAME_CHARS: usize = 100;

/// Checks a project name: 1 to 100 letters, digits, `.`, `_` and `-`, starting with a
/// letter or digit. Names go into URLs and file names as they are, so nothing there needs
/// encoding; a `/` (as in `group/repo`) is refused with the way out.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a project name cannot be empty".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "a project name has at most {MAX_NAME_CHARS} characters"
        ));
    }
    if name.contains('/') {
        return Err(format!(
            "project names cannot contain `/`: use `{}` for `{name}`",
            name.replace('/', "-")
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "project names use letters, digits, `.`, `_` and `-` only, and `{bad}` is none of them"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("a project name starts with a letter or a digit".into());
    }
    Ok(())
}

/// A branch name as a setting: not empty, no spaces at either end, at most 255 characters.
pub fn validate_branch(branch: &str) -> Result<(), String> {
    if branch.trim().is_empty() {
        return Err("the default branch cannot be empty".into());
    }
    if branch.trim() != branch || branch.chars().count() > 255 {
        return Err(format!(
            "`{branch}` is not a branch name (no spaces at either end, at most 255 characters)"
        ));
    }
    Ok(())
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

/// Every project, by name.
pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<Project>> {
    projects::table
        .order(projects::name)
        .select(Project::as_select())
        .load(conn)
}

/// One project with its run count and latest run.
pub fn overview(conn: &mut DbConnection, project: Project) -> QueryResult<ProjectOverview> {
    let (runs, last_run_at) = runs::table
        .filter(runs::project_id.eq(project.id))
        .select((
            diesel::dsl::count(runs::id),
            diesel::dsl::max(runs::started_at),
        ))
        .first(conn)?;
    Ok(ProjectOverview {
        project,
        runs,
        last_run_at,
    })
}

/// Finds a project by name, creating it when new. The name must pass `validate_name`.
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
    let created = crate::per_backend!(conn, |c| diesel::insert_into(projects::table)
        .values(new_project)
        .on_conflict(projects::name)
        .do_nothing()
        .execute(c))?;
    let project: Project = projects::table
        .filter(projects::name.eq(name))
        .select(Project::as_select())
        .first(conn)?;
    if created > 0 {
        // The home page lists it.
        super::data_versions::bump(conn, project.id)?;
    }
    Ok(project)
}

/// How many projects there are.
pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    projects::table.count().get_result(conn)
}

pub fn find(conn: &mut DbConnection, name: &str) -> QueryResult<Option<Project>> {
    projects::table
        .filter(projects::name.eq(name))
        .select(Project::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_id(conn: &mut DbConnection, id: i64) -> QueryResult<Project> {
    projects::table
        .find(id)
        .select(Project::as_select())
        .first(conn)
}

pub fn set_display_name(conn: &mut DbConnection, id: i64, display_name: &str) -> QueryResult<()> {
    diesel::update(projects::table.find(id))
        .set(projects::display_name.eq(display_name))
        .execute(conn)?;
    super::data_versions::bump(conn, id)
}

/// Sets the default branch as an admin's choice and marks which runs ran on it. Returns
/// whether it changed (then the project must be scored again).
pub fn set_default_branch(conn: &mut DbConnection, id: i64, branch: &str) -> QueryResult<bool> {
    let before = find_by_id(conn, id)?;
    diesel::update(projects::table.find(id))
        .set((
            projects::default_branch.eq(branch),
            projects::default_branch_source.eq("setting"),
        ))
        .execute(conn)?;
    super::data_versions::bump(conn, id)?;
    if before.default_branch == branch {
        return Ok(false);
    }
    mark_default_branch_runs(conn, id, branch)?;
    Ok(true)
}

/// A default branch taken from an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedBranch {
    pub branch: String,
    /// Runs already stored changed sides: the project must be scored again.
    pub runs_remarked: bool,
}

/// Takes the default branch an upload's CI system named, unless an admin set one. Returns
/// it when it changed. The conditional UPDATE lets one of several concurrent stores make
/// the change, once.
pub fn adopt_reported_default_branch(
    conn: &mut DbConnection,
    id: i64,
    reported: &str,
) -> QueryResult<Option<AdoptedBranch>> {
    if validate_branch(reported).is_err() {
        return Ok(None);
    }
    let changed = diesel::update(
        projects::table
            .find(id)
            .filter(projects::default_branch_source.ne("setting"))
            .filter(
                projects::default_branch
                    .ne(reported)
                    .or(projects::default_branch_source.eq("assumed")),
            ),
    )
    .set((
        projects::default_branch.eq(reported),
        projects::default_branch_source.eq("ci"),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(None);
    }
    super::data_versions::bump(conn, id)?;
    let runs_marked = mark_default_branch_runs(conn, id, reported)?;
    Ok(Some(AdoptedBranch {
        branch: reported.to_owned(),
        runs_remarked: runs_marked > 0,
    }))
}

/// Marks each run of the project as on the default branch or not; returns how many runs
/// changed their mark.
fn mark_default_branch_runs(conn: &mut DbConnection, id: i64, branch: &str) -> QueryResult<usize> {
    let on = diesel::update(
        runs::table
            .filter(runs::project_id.eq(id))
            .filter(runs::branch.eq(branch))
            .filter(runs::on_default_branch.eq(false)),
    )
    .set(runs::on_default_branch.eq(true))
    .execute(conn)?;
    let off = diesel::update(
        runs::table
            .filter(runs::project_id.eq(id))
            .filter(runs::branch.ne(branch))
            .filter(runs::on_default_branch.eq(true)),
    )
    .set(runs::on_default_branch.eq(false))
    .execute(conn)?;
    Ok(on + off)
}

/// The project named `name` with its data version (0 before its first change), in one
/// indexed read.
pub fn find_with_data_version(
    conn: &mut DbConnection,
    name: &str,
) -> QueryResult<Option<(Project, i64)>> {
    let found: Option<(Project, Option<i64>)> = projects::table
        .left_join(project_data_versions::table)
        .filter(projects::name.eq(name))
        .select((
            Project::as_select(),
            project_data_versions::version.nullable(),
        ))
        .first(conn)
        .optional()?;
    Ok(found.map(|(project, version)| (project, version.unwrap_or(0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_with_a_way_out() {
        for good in ["shop", "shop-web", "a.b_c-9", "9lives"] {
            assert_eq!(validate_name(good), Ok(()), "{good}");
        }
        assert!(validate_name("acme/shop")
            .unwrap_err()
            .contains("use `acme-shop`"));
        assert!(validate_name("shop web").unwrap_err().contains("` `"));
        assert!(validate_name("").is_err());
        assert!(validate_name("-shop").is_err());
        assert!(validate_name(&"x".repeat(101)).is_err());
    }
}
