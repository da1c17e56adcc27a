//! Dashboard sessions: a browser signed in with an API token. Only the hash of the
//! session's secret is stored, and a session is good only while its token is live.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::tokens::{self, ApiToken};
use crate::db::schema::web_sessions;
use crate::db::DbConnection;
use crate::secrets;

/// Starts a session for `token_id` and returns its secret (for the cookie; not stored).
/// Sessions that have expired are deleted on the way, so the table does not grow.
pub fn create(
    conn: &mut DbConnection,
    token_id: i64,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<String> {
    diesel::delete(web_sessions::table.filter(web_sessions::expires_at.le(now))).execute(conn)?;
    let secret = format!(
        "fws_{}{}",
        secrets::random_hex128(),
        secrets::random_hex128()
    );
    diesel::insert_into(web_sessions::table)
        .values((
            web_sessions::token_id.eq(token_id),
            web_sessions::session_hash.eq(secrets::token_hash(&secret)),
            web_sessions::created_at.eq(now),
            web_sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(secret)
}

/// The token behind an unexpired session, if that token is still live.
pub fn find(
    conn: &mut DbConnection,
    secret: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<ApiToken>> {
    let token_id: Option<i64> = web_sessions::table
        .filter(web_sessions::session_hash.eq(secrets::token_hash(secret)))
        .filter(web_sessions::expires_at.gt(now))
        .select(web_sessions::token_id)
        .first(conn)
        .optional()?;
    match token_id {
        Some(id) => tokens::live_by_id(conn, id),
        None => Ok(None),
    }
}

/// Ends the session with this secret (signing out); nothing when there is none.
pub fn delete(conn: &mut DbConnection, secret: &str) -> QueryResult<()> {
    diesel::delete(
        web_sessions::table.filter(web_sessions::session_hash.eq(secrets::token_hash(secret))),
    )
    .execute(conn)
    .map(drop)
}
