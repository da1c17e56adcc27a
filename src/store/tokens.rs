//! API tokens: created once, stored hashed, checked on every API call.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::projects::{self, Project};
use crate::db::schema::{api_tokens, projects as projects_table};
use crate::db::DbConnection;
use crate::secrets;

/// What a token may do. `Admin` includes everything `Read` and `Upload` may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Send test reports (CI jobs).
    Upload,
    /// Read tests, scores and metrics (dashboards, quarantine steps).
    Read,
    /// Everything, including the task list and cancelling tasks (operators).
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Upload => "upload",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Scope {
        match text {
            "upload" => Scope::Upload,
            "read" => Scope::Read,
            _ => Scope::Admin,
        }
    }

    /// Whether a token of this scope may act where `needed` is required.
    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::Admin || self == needed
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub project: String,
    pub project_id: i64,
    pub scope: Scope,
    pub label: String,
    /// The first characters of the token, to recognise it in lists.
    pub prefix: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

type TokenRow = (
    i64,
    String,
    i64,
    String,
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

fn from_row(row: TokenRow) -> ApiToken {
    let (id, project, project_id, scope, label, prefix, created_at, last_used_at, revoked_at) = row;
    ApiToken {
        id,
        project,
        project_id,
        scope: Scope::parse(&scope),
        label,
        prefix,
        created_at,
        last_used_at,
        revoked_at,
    }
}

macro_rules! token_columns {
    () => {
        (
            api_tokens::id,
            projects_table::name,
            api_tokens::project_id,
            api_tokens::scope,
            api_tokens::label,
            api_tokens::prefix,
            api_tokens::created_at,
            api_tokens::last_used_at,
            api_tokens::revoked_at,
        )
    };
}

/// Creates a token (and the project, when new) and returns it with the plaintext token,
/// which is shown once and never stored.
pub fn create(
    conn: &mut DbConnection,
    project: &str,
    scope: Scope,
    label: &str,
    now: NaiveDateTime,
) -> QueryResult<(ApiToken, String)> {
    let project: Project = projects::find_or_create(conn, project, now)?;
    let plaintext = format!("fw_{}_{}", scope.as_str(), secrets::random_hex128());
    let prefix: String = plaintext.chars().take(14).collect();
    let id: i64 = crate::per_backend!(conn, |c| diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::project_id.eq(project.id),
            api_tokens::scope.eq(scope.as_str()),
            api_tokens::label.eq(label),
            api_tokens::prefix.eq(&prefix),
            api_tokens::token_hash.eq(secrets::token_hash(&plaintext)),
            api_tokens::created_at.eq(now),
        ))
        .returning(api_tokens::id)
        .get_result(c))?;
    let token = find_by_id(conn, id)?;
    Ok((token, plaintext))
}

fn find_by_id(conn: &mut DbConnection, id: i64) -> QueryResult<ApiToken> {
    api_tokens::table
        .inner_join(projects_table::table)
        .filter(api_tokens::id.eq(id))
        .select(token_columns!())
        .first::<TokenRow>(conn)
        .map(from_row)
}

/// The live (not revoked) token with this plaintext.
pub fn authenticate(conn: &mut DbConnection, plaintext: &str) -> QueryResult<Option<ApiToken>> {
    authenticate_hash(conn, &secrets::token_hash(plaintext))
}

/// The live (not revoked) token whose plaintext has this hash (`secrets::token_hash`).
pub fn authenticate_hash(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<ApiToken>> {
    api_tokens::table
        .inner_join(projects_table::table)
        .filter(api_tokens::token_hash.eq(hash))
        .filter(api_tokens::revoked_at.is_null())
        .select(token_columns!())
        .first::<TokenRow>(conn)
        .optional()
        .map(|row| row.map(from_row))
}

/// How often a token's "last used" time is written at most (minute resolution is plenty).
pub const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// Whether `token`'s "last used" time is worth a write.
pub fn needs_touch(token: &ApiToken, now: NaiveDateTime) -> bool {
    token.last_used_at.is_none_or(|at| now - at > TOUCH_EVERY)
}

pub fn touch(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(api_tokens::table.filter(api_tokens::id.eq(id)))
        .set(api_tokens::last_used_at.eq(now))
        .execute(conn)
        .map(drop)
}

/// Every token, optionally of one project, newest first.
pub fn list(conn: &mut DbConnection, project: Option<&str>) -> QueryResult<Vec<ApiToken>> {
    let mut query = api_tokens::table
        .inner_join(projects_table::table)
        .select(token_columns!())
        .order(api_tokens::id.desc())
        .into_boxed();
    if let Some(project) = project {
        query = query.filter(projects_table::name.eq(project.to_owned()));
    }
    Ok(query
        .load::<TokenRow>(conn)?
        .into_iter()
        .map(from_row)
        .collect())
}

/// Revokes the token with this id; `false` when there is none or it was already revoked.
pub fn revoke(conn: &mut DbConnection, id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let changed = diesel::update(
        api_tokens::table
            .filter(api_tokens::id.eq(id))
            .filter(api_tokens::revoked_at.is_null()),
    )
    .set(api_tokens::revoked_at.eq(now))
    .execute(conn)?;
    // Servers keep the tokens they checked while they hear of every change
    // (`web::known_tokens`): this one must be heard.
    crate::db::changes::changed_here(conn)?;
    // Its dashboard sessions end with it (lookups check the token too; this frees the rows).
    diesel::delete(
        crate::db::schema::web_sessions::table
            .filter(crate::db::schema::web_sessions::token_id.eq(id)),
    )
    .execute(conn)?;
    Ok(changed == 1)
}

/// The live (not revoked) token with this id.
pub fn live_by_id(conn: &mut DbConnection, id: i64) -> QueryResult<Option<ApiToken>> {
    api_tokens::table
        .inner_join(projects_table::table)
        .filter(api_tokens::id.eq(id))
        .filter(api_tokens::revoked_at.is_null())
        .select(token_columns!())
        .first::<TokenRow>(conn)
        .optional()
        .map(|row| row.map(from_row))
}
