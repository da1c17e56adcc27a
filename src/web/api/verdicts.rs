//! A run's verdict (which failures are known flaky, already broken, quarantined or new),
//! the quarantine list, and the project's CODEOWNERS file.

use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;

use crate::db::schema::{runs, uploads};
use crate::db::{DbConnection, DbError};
use crate::error::ApiError;
use crate::store::quarantines::{self, NewQuarantine};
use crate::store::tokens::Scope;
use crate::store::{owners, run_verdicts};
use crate::web::{auth, AppState};

fn now() -> chrono::NaiveDateTime {
    Utc::now().naive_utc()
}

/// Read and admin tokens of the project may read any verdict; an upload token the verdict
/// of a run it uploaded (so a CI job can print its own verdict with the token it has).
#[get("/projects/{project}/runs/{run}/verdict")]
pub async fn verdict(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (project, run) = path.into_inner();
    let token = auth::authenticated(&req, &state).await?;
    auth::check_project(&token, &project)?;
    let run_id: i64 = run
        .parse()
        .map_err(|_| ApiError::bad_field("run", format!("the run id is a number, not `{run}`")))?;
    let (project_id, token_id, scope) = (token.project_id, token.id, token.scope);
    let answer = state
        .db
        .run(move |conn| {
            if scope == Scope::Upload && uploaded_by(conn, run_id)? != Some(token_id) {
                return Ok::<_, DbError>(Err(()));
            }
            Ok(Ok(run_verdicts::verdict(conn, project_id, run_id, now())?))
        })
        .await
        .map_err(ApiError::storage)?;
    match answer {
        Err(()) => {
            // Not `auth::check_scope`: its message would wrongly say upload tokens may not.
            Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "insufficient_scope",
                "an upload token may read the verdicts of the runs it uploaded; this run came \
                 with another token: use a read or admin token",
            ))
        }
        Ok(Some(verdict)) => Ok(HttpResponse::Ok().json(verdict)),
        Ok(None) => Err(ApiError::not_found(format!(
            "project `{project}` has no run {run_id}"
        ))),
    }
}

/// The API token a run's upload came with.
fn uploaded_by(conn: &mut DbConnection, run_id: i64) -> QueryResult<Option<i64>> {
    Ok(runs::table
        .inner_join(uploads::table)
        .filter(runs::id.eq(run_id))
        .select(uploads::token_id)
        .first::<Option<i64>>(conn)
        .optional()?
        .flatten())
}

#[get("/projects/{project}/quarantine")]
pub async fn list_quarantine(
    req: HttpRequest,
    state: web::Data<AppState>,
    project: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = auth::for_project(&req, &state, &project, Scope::Read).await?;
    let project_id = token.project_id;
    let list = state
        .db
        .run(move |conn| quarantines::active(conn, project_id, now()).map_err(DbError::from))
        .await
        .map_err(ApiError::storage)?;
    Ok(HttpResponse::Ok().json(json!({ "project": token.project, "quarantine": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineBody {
    /// The test, by id or by classname and name.
    test_id: Option<i64>,
    classname: Option<String>,
    name: Option<String>,
    #[serde(default)]
    owner: String,
    reason: String,
    #[serde(default)]
    issue_url: String,
    /// RFC 3339; omitted: until removed.
    expires_at: Option<String>,
}

impl QuarantineBody {
    fn into_new(self) -> Result<(TestRef, NewQuarantine), ApiError> {
        let test = match (self.test_id, self.classname, self.name) {
            (Some(id), None, None) => TestRef::Id(id),
            (None, Some(classname), Some(name)) => TestRef::Name(classname, name),
            _ => {
                return Err(ApiError::bad_field(
                    "test_id",
                    "name the test by `test_id`, or by `classname` and `name`",
                ))
            }
        };
        let expires_at = match self.expires_at.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(
                DateTime::parse_from_rfc3339(raw)
                    .map_err(|_| {
                        ApiError::bad_field(
                            "expires_at",
                            format!("`expires_at` is an RFC 3339 time such as 2026-12-31T00:00:00Z, not `{raw}`"),
                        )
                    })?
                    .naive_utc(),
            ),
        };
        let new = NewQuarantine::checked(&self.owner, &self.reason, &self.issue_url, expires_at)
            .map_err(|(field, message)| ApiError::bad_field(field, message))?;
        Ok((test, new))
    }
}

enum TestRef {
    Id(i64),
    Name(String, String),
}

#[post("/projects/{project}/quarantine")]
pub async fn add_quarantine(
    req: HttpRequest,
    state: web::Data<AppState>,
    project: web::Path<String>,
    body: web::Json<QuarantineBody>,
) -> Result<HttpResponse, ApiError> {
    let token = auth::for_project(&req, &state, &project, Scope::Admin).await?;
    let (test, new) = body.into_inner().into_new()?;
    let project_id = token.project_id;
    let added = state
        .db
        .run(move |conn| {
            let ids = match test {
                TestRef::Id(id) => vec![id],
                TestRef::Name(classname, name) => {
                    quarantines::find_test(conn, project_id, &classname, &name)?
                }
            };
            let [test_id] = ids[..] else {
                return Ok::<_, DbError>(Err(ids.len()));
            };
            Ok(Ok(quarantines::add(
                conn,
                project_id,
                test_id,
                &new,
                now(),
            )?))
        })
        .await
        .map_err(ApiError::storage)?;
    match added {
        Ok(Some(q)) => Ok(HttpResponse::Created().json(q)),
        Ok(None) | Err(0) => Err(ApiError::not_found(format!(
            "project `{project}` has no such test"
        ))),
        Err(n) => Err(ApiError::bad_field(
            "name",
            format!("{n} tests of `{project}` have this classname and name: name it by `test_id`"),
        )),
    }
}

#[delete("/projects/{project}/quarantine/{test}")]
pub async fn remove_quarantine(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (project, test) = path.into_inner();
    let token = auth::for_project(&req, &state, &project, Scope::Admin).await?;
    let test_id: i64 = test.parse().map_err(|_| {
        ApiError::bad_field("test", format!("the test id is a number, not `{test}`"))
    })?;
    let project_id = token.project_id;
    let removed = state
        .db
        .run(move |conn| {
            quarantines::remove(conn, project_id, test_id, now()).map_err(DbError::from)
        })
        .await
        .map_err(ApiError::storage)?;
    if removed {
        Ok(HttpResponse::Ok().json(json!({ "test_id": test_id, "quarantined": false })))
    } else {
        Err(ApiError::not_found(format!(
            "test {test_id} of `{project}` is not quarantined"
        )))
    }
}

/// Replaces the project's CODEOWNERS file (upload or admin token): `flakewatch upload`
/// sends it with the reports.
#[put("/projects/{project}/codeowners")]
pub async fn set_codeowners(
    req: HttpRequest,
    state: web::Data<AppState>,
    project: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let token = auth::authenticated(&req, &state).await?;
    auth::check_project(&token, &project)?;
    if token.scope == Scope::Read {
        auth::check_scope(&token, Scope::Upload)?;
    }
    if body.len() > owners::MAX_BYTES {
        return Err(ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a CODEOWNERS file has at most {} bytes", owners::MAX_BYTES),
        ));
    }
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| ApiError::bad_field("body", "the CODEOWNERS file is not UTF-8 text"))?
        .replace('\0', "");
    let rules = crate::codeowners::CodeOwners::parse(&text).len();
    let project_id = token.project_id;
    state
        .db
        .run(move |conn| owners::set(conn, project_id, &text, now()).map_err(DbError::from))
        .await
        .map_err(ApiError::storage)?;
    Ok(HttpResponse::Ok().json(json!({ "project": token.project, "rules": rules })))
}
