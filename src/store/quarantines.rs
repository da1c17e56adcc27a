//! Quarantine: a test whose failures do not fail the CI gate for a while, with an owner, a
//! reason and an issue link. It changes no score, only the gate and the lists. It ends by
//! itself at `expires_at` (read as ended from then on, no timer needed) or when removed.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{quarantines, tests};
use crate::db::DbConnection;
use crate::tasks::model::NaiveDateTimeUtc;

/// What a new quarantine says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewQuarantine {
    pub owner: String,
    pub reason: String,
    pub issue_url: String,
    pub expires_at: Option<NaiveDateTime>,
}

/// Longest owner, reason and issue link.
pub const MAX_TEXT: usize = 1000;

impl NewQuarantine {
    /// Checks what a person typed (API or form): a reason is required, the issue is an http
    /// or https link, no field is over `MAX_TEXT` characters or holds a NUL. The error names
    /// the field.
    pub fn checked(
        owner: &str,
        reason: &str,
        issue_url: &str,
        expires_at: Option<NaiveDateTime>,
    ) -> Result<NewQuarantine, (&'static str, String)> {
        if reason.trim().is_empty() {
            return Err((
                "reason",
                "say why the test is quarantined in `reason`".into(),
            ));
        }
        for (field, value) in [
            ("owner", owner),
            ("reason", reason),
            ("issue_url", issue_url),
        ] {
            if value.chars().count() > MAX_TEXT || value.contains('\0') {
                return Err((
                    field,
                    format!("`{field}` has at most {MAX_TEXT} characters and no NUL"),
                ));
            }
        }
        let url = issue_url.trim();
        let link = url.starts_with("https://") || url.starts_with("http://");
        if !url.is_empty() && !link {
            return Err(("issue_url", "`issue_url` is an http or https link".into()));
        }
        Ok(NewQuarantine {
            owner: owner.trim().to_owned(),
            reason: reason.trim().to_owned(),
            issue_url: url.to_owned(),
            expires_at,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quarantine {
    pub id: i64,
    pub test_id: i64,
    pub classname: String,
    pub name: String,
    pub owner: String,
    pub reason: String,
    pub issue_url: String,
    pub created_at: NaiveDateTimeUtc,
    pub expires_at: Option<NaiveDateTimeUtc>,
}

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
);

fn from_row(row: Row) -> Quarantine {
    let (id, test_id, classname, name, owner, reason, issue_url, created_at, expires_at) = row;
    Quarantine {
        id,
        test_id,
        classname,
        name,
        owner,
        reason,
        issue_url,
        created_at: NaiveDateTimeUtc(created_at),
        expires_at: expires_at.map(NaiveDateTimeUtc),
    }
}

/// The project's quarantines in force at `now`, by test name.
pub fn active(
    conn: &mut DbConnection,
    project_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<Quarantine>> {
    let rows: Vec<Row> = quarantines::table
        .inner_join(tests::table)
        .filter(quarantines::project_id.eq(project_id))
        .filter(quarantines::ended_at.is_null())
        .filter(
            quarantines::expires_at
                .is_null()
                .or(quarantines::expires_at.gt(now)),
        )
        .order((tests::classname, tests::name))
        .select((
            quarantines::id,
            quarantines::test_id,
            tests::classname,
            tests::name,
            quarantines::owner,
            quarantines::reason,
            quarantines::issue_url,
            quarantines::created_at,
            quarantines::expires_at,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Quarantines a test of the project, replacing an open quarantine of it (expired or not).
/// `None` when the project has no such test.
pub fn add(
    conn: &mut DbConnection,
    project_id: i64,
    test_id: i64,
    q: &NewQuarantine,
    now: NaiveDateTime,
) -> QueryResult<Option<Quarantine>> {
    crate::db::write_transaction(conn, |conn| {
        // A bump with no change only empties the caches.
        super::data_versions::bump(conn, project_id)?;
        let exists: i64 = tests::table
            .filter(tests::id.eq(test_id))
            .filter(tests::project_id.eq(project_id))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            return Ok(None);
        }
        end_open(conn, test_id, now)?;
        diesel::insert_into(quarantines::table)
            .values((
                quarantines::project_id.eq(project_id),
                quarantines::test_id.eq(test_id),
                quarantines::owner.eq(&q.owner),
                quarantines::reason.eq(&q.reason),
                quarantines::issue_url.eq(&q.issue_url),
                quarantines::created_at.eq(now),
                quarantines::expires_at.eq(q.expires_at),
            ))
            .execute(conn)?;
        Ok(active(conn, project_id, now)?
            .into_iter()
            .find(|found| found.test_id == test_id))
    })
}

/// Ends the test's quarantine; whether one was in force.
pub fn remove(
    conn: &mut DbConnection,
    project_id: i64,
    test_id: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    crate::db::write_transaction(conn, |conn| {
        super::data_versions::bump(conn, project_id)?;
        let in_force = active(conn, project_id, now)?
            .iter()
            .any(|q| q.test_id == test_id);
        end_open(conn, test_id, now)?;
        Ok(in_force)
    })
}

fn end_open(conn: &mut DbConnection, test_id: i64, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        quarantines::table
            .filter(quarantines::test_id.eq(test_id))
            .filter(quarantines::ended_at.is_null()),
    )
    .set(quarantines::ended_at.eq(now))
    .execute(conn)
    .map(drop)
}

/// The test of the project with this classname and name, for commands that name tests.
pub fn find_test(
    conn: &mut DbConnection,
    project_id: i64,
    classname: &str,
    name: &str,
) -> QueryResult<Vec<i64>> {
    tests::table
        .filter(tests::project_id.eq(project_id))
        .filter(tests::classname.eq(classname))
        .filter(tests::name.eq(name))
        .select(tests::id)
        .load(conn)
}
