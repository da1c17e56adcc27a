//! Each project's CODEOWNERS file, as its latest upload sent it: tests map to owners by
//! the file path their report gives (see `crate::codeowners`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::codeowners::CodeOwners;
use crate::db::schema::project_codeowners;
use crate::db::DbConnection;

/// Largest CODEOWNERS file kept (GitHub stops reading at 3 MB).
pub const MAX_BYTES: usize = 3 << 20;

pub fn set(
    conn: &mut DbConnection,
    project_id: i64,
    content: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    crate::per_backend!(conn, |c| diesel::insert_into(project_codeowners::table)
        .values((
            project_codeowners::project_id.eq(project_id),
            project_codeowners::content.eq(content),
            project_codeowners::updated_at.eq(now),
        ))
        .on_conflict(project_codeowners::project_id)
        .do_update()
        .set((
            project_codeowners::content.eq(excluded(project_codeowners::content)),
            project_codeowners::updated_at.eq(excluded(project_codeowners::updated_at)),
        ))
        .execute(c))?;
    super::data_versions::bump(conn, project_id)
}

/// The project's owners rules (empty when it never sent a CODEOWNERS file).
pub fn load(conn: &mut DbConnection, project_id: i64) -> QueryResult<CodeOwners> {
    let content: Option<String> = project_codeowners::table
        .find(project_id)
        .select(project_codeowners::content)
        .first(conn)
        .optional()?;
    Ok(content.map_or_else(CodeOwners::default, |text| CodeOwners::parse(&text)))
}

/// The owners of a test, as one display string ("@a @b"), when its report named its file.
pub fn owner_of(owners: &CodeOwners, file: Option<&str>) -> Option<String> {
    let found = owners.owners_of(file?);
    (!found.is_empty()).then(|| found.join(" "))
}
