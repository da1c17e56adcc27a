//! Each project's data version: a number that grows with every change to what its pages
//! show (a scoring batch, a quarantine, a setting, a retention purge, a new project).
//! Bumped in the transaction that makes the change, so whoever reads the new number also
//! sees the change; page caches key their entries by it (`web::page_cache`), and every
//! process hears of the change (`db::changes`).

use diesel::prelude::*;

use crate::db::schema::project_data_versions;
use crate::db::DbConnection;

/// Marks the project's page data as changed.
pub fn bump(conn: &mut DbConnection, project_id: i64) -> QueryResult<()> {
    crate::per_backend!(conn, |c| diesel::insert_into(project_data_versions::table)
        .values((
            project_data_versions::project_id.eq(project_id),
            project_data_versions::version.eq(1),
        ))
        .on_conflict(project_data_versions::project_id)
        .do_update()
        .set(project_data_versions::version.eq(project_data_versions::version + 1))
        .execute(c))?;
    crate::db::changes::changed_here(conn)
}

/// Every project's data version (projects never changed are absent: version 0).
pub fn all(conn: &mut DbConnection) -> QueryResult<std::collections::HashMap<i64, i64>> {
    let rows: Vec<(i64, i64)> = project_data_versions::table
        .select((
            project_data_versions::project_id,
            project_data_versions::version,
        ))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// One project's data version (0 before its first change), by primary key.
pub fn of(conn: &mut DbConnection, project_id: i64) -> QueryResult<i64> {
    project_data_versions::table
        .find(project_id)
        .select(project_data_versions::version)
        .first(conn)
        .optional()
        .map(|version| version.unwrap_or(0))
}
