//! `/login` and `/logout`: a browser signs in with a read or admin API token (`--auth
//! token`) and gets a session cookie; signing out ends the session.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::render;
use crate::db::DbError;
use crate::error::ApiError;
use crate::secrets;
use crate::store::sessions;
use crate::store::tokens::{self, Scope};
use crate::web::access::{self, AuthMode, SessionInfo, SESSION_COOKIE};
use crate::web::csrf::{self, LOGIN_COOKIE};
use crate::web::AppState;

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    mode: AuthMode,
    session: Option<SessionInfo>,
    csrf: String,
    problem: Option<String>,
}

#[get("/login")]
pub async fn login_page(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, super::PageError> {
    let session = match state.access.mode {
        AuthMode::Token => access::session_of(&req, &state).await?,
        _ => None,
    };
    form_page(&state, session, None, StatusCode::OK)
}

/// The page, with a fresh sign-in form token in its cookie when it shows the form.
fn form_page(
    state: &AppState,
    session: Option<SessionInfo>,
    problem: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, super::PageError> {
    let shows_form = state.access.mode == AuthMode::Token && session.is_none();
    let csrf = secrets::random_hex128();
    let mut response = render(&SignInPage {
        mode: state.access.mode,
        session,
        csrf: csrf.clone(),
        problem,
    })?;
    *response.status_mut() = status;
    if shows_form {
        add_cookie(
            &mut response,
            cookie(state, LOGIN_COOKIE, csrf, "/login", None),
        );
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

#[post("/login")]
pub async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, super::PageError> {
    if state.access.mode != AuthMode::Token {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "sign_in_off",
            "this dashboard does not sign in with tokens (see --auth)",
        )
        .into());
    }
    csrf::check_origin(&req, state.access.public_url.as_deref())?;
    let expected = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned());
    csrf::check_token(expected.as_deref(), &form.csrf)?;
    let plaintext = form.token.trim().to_owned();
    let token = if plaintext.is_empty() {
        None
    } else {
        state
            .db
            .run(move |conn| tokens::authenticate(conn, &plaintext).map_err(DbError::from))
            .await
            .map_err(ApiError::storage)?
    };
    let token = match token {
        None => {
            let problem = "That token is unknown or revoked. Check it, or ask an operator for \
                           a new one.";
            return form_page(&state, None, Some(problem.into()), StatusCode::UNAUTHORIZED);
        }
        Some(token) if !token.scope.allows(Scope::Read) => {
            let problem = format!(
                "That is an {} token, which only sends reports: sign in with a read or admin token.",
                token.scope.as_str()
            );
            return form_page(&state, None, Some(problem), StatusCode::FORBIDDEN);
        }
        Some(token) => token,
    };
    let now = chrono::Utc::now().naive_utc();
    let ttl = state.access.session_ttl;
    let token_id = token.id;
    let secret = state
        .db
        .run(move |conn| sessions::create(conn, token_id, now, now + ttl).map_err(DbError::from))
        .await
        .map_err(ApiError::storage)?;
    tracing::info!(project = %token.project, token = %token.prefix, "dashboard sign-in");
    let mut response = see_other(&format!("/projects/{}", path_segment(&token.project)));
    let max_age = time::Duration::seconds(ttl.num_seconds());
    add_cookie(
        &mut response,
        cookie(&state, SESSION_COOKIE, secret, "/", Some(max_age)),
    );
    add_cookie(&mut response, removal(&state, LOGIN_COOKIE, "/login"));
    Ok(response)
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

#[post("/logout")]
pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignOutForm>,
) -> Result<HttpResponse, super::PageError> {
    csrf::check_origin(&req, state.access.public_url.as_deref())?;
    let Some(session) = access::session_of(&req, &state).await? else {
        return Ok(see_other("/login"));
    };
    csrf::check_token(Some(&session.csrf), &form.csrf)?;
    if let Some(secret) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) {
        state
            .db
            .run(move |conn| sessions::delete(conn, &secret).map_err(DbError::from))
            .await
            .map_err(ApiError::storage)?;
    }
    let mut response = see_other("/login");
    add_cookie(&mut response, removal(&state, SESSION_COOKIE, "/"));
    Ok(response)
}

/// A cookie no script may read and no other site's request carries.
fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    path: &'static str,
    max_age: Option<time::Duration>,
) -> Cookie<'static> {
    let mut cookie = Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.access.secure_cookies())
        .finish();
    if let Some(max_age) = max_age {
        cookie.set_max_age(max_age);
    }
    cookie
}

fn removal(state: &AppState, name: &'static str, path: &'static str) -> Cookie<'static> {
    let mut cookie = cookie(state, name, String::new(), path, None);
    cookie.make_removal();
    cookie
}

fn add_cookie(response: &mut HttpResponse, cookie: Cookie<'static>) {
    // Our cookies are built from plain names and hex values, so this cannot fail.
    if let Err(err) = response.add_cookie(&cookie) {
        tracing::error!(error = %err, "could not set a cookie");
    }
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A project name as one path segment (names are letters, digits, `.`, `_`, `-`; anything
/// else is percent-encoded all the same).
fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
