//! Forms that change something (quarantine a test, cancel a store task): shown only to a
//! browser signed in with the project's admin token, each carrying the session's CSRF
//! token and accepted only from this dashboard.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

use super::PageError;
use crate::error::ApiError;
use crate::store::tokens::Scope;
use crate::web::access::Viewer;
use crate::web::{csrf, AppState};

/// The CSRF token of the viewer's session when it may change `project`: signed in with
/// that project's admin token.
pub fn form_token(viewer: &Viewer, project: &str) -> Option<String> {
    viewer
        .session
        .as_ref()
        .filter(|s| s.scope == Scope::Admin && s.project == project)
        .map(|s| s.csrf.clone())
}

/// Checks a form that changes `project`: from this dashboard, with the session's token, by
/// the project's admin. `instead` says how to do it without the dashboard.
pub fn check(
    req: &HttpRequest,
    state: &AppState,
    viewer: &Viewer,
    project: &str,
    given: &str,
    instead: &str,
) -> Result<(), PageError> {
    csrf::check_origin(req, state.access.public_url.as_deref())?;
    let Some(expected) = form_token(viewer, project) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this form needs a sign-in with the project's admin token; {instead}"),
        )
        .into());
    };
    csrf::check_token(Some(&expected), given)?;
    Ok(())
}

/// Back to the page the form was on.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}
