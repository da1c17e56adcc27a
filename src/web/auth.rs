//! Bearer-token authentication for the API.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;

use super::AppState;
use crate::db::DbError;
use crate::error::ApiError;
use crate::store::tokens::{self, ApiToken, Scope};
use crate::wording::with_article;

/// The token in `Authorization: Bearer ...`, if it is live and allows `needed`.
pub async fn require(
    req: &HttpRequest,
    state: &AppState,
    needed: Scope,
) -> Result<ApiToken, ApiError> {
    let token = authenticated(req, state).await?;
    check_scope(&token, needed)?;
    Ok(token)
}

/// The token, if it allows `needed` on `project`.
pub async fn for_project(
    req: &HttpRequest,
    state: &AppState,
    project: &str,
    needed: Scope,
) -> Result<ApiToken, ApiError> {
    let token = require(req, state, needed).await?;
    check_project(&token, project)?;
    Ok(token)
}

/// The request's API token, whatever its scope.
pub async fn authenticated(req: &HttpRequest, state: &AppState) -> Result<ApiToken, ApiError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let Some(plaintext) = header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "this call needs an API token, sent as `Authorization: Bearer TOKEN` (the \
             flakewatch commands send --token or FLAKEWATCH_TOKEN); `flakewatch token create` \
             creates one",
        ));
    };
    let token = state
        .caches
        .known_tokens
        .authenticate(&state.db, plaintext)
        .await
        .map_err(ApiError::storage)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the API token is unknown or revoked: check --token or FLAKEWATCH_TOKEN, or create \
                 a new token with `flakewatch token create` where the server's database is",
            )
        })?;
    // Recording the use is a write; it must never hold up the request (on SQLite it would
    // wait for any store transaction in progress), so it happens on the side.
    let now = chrono::Utc::now().naive_utc();
    if state.token_touches.claim(&token, now) {
        let (db, id) = (state.db.clone(), token.id);
        actix_web::rt::spawn(async move {
            if let Err(err) = db
                .run(move |conn| tokens::touch(conn, id, now).map_err(DbError::from))
                .await
            {
                tracing::debug!(error = %err, "could not record a token's use");
            }
        });
    }
    Ok(token)
}

/// Refuses a token whose scope does not allow `needed` (admin allows everything).
pub fn check_scope(token: &ApiToken, needed: Scope) -> Result<(), ApiError> {
    if !token.scope.allows(needed) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!(
                "this is {}; this call needs {}",
                with_article(&format!("{} token", token.scope.as_str())),
                with_article(&match needed {
                    Scope::Admin => "admin token".to_owned(),
                    other => format!("{} or admin token", other.as_str()),
                })
            ),
        ));
    }
    Ok(())
}

/// Refuses a token used for another project than the one it belongs to.
pub fn check_project(token: &ApiToken, project: &str) -> Result<(), ApiError> {
    if token.project == project {
        Ok(())
    } else {
        Err(ApiError {
            field: Some("project".into()),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_project",
                format!(
                    "this token belongs to project `{}`, not `{project}`",
                    token.project
                ),
            )
        })
    }
}
