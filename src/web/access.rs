//! Who may read the dashboard: the `--auth` mode, and [`Viewer`], the extractor a page
//! handler takes to require sign-in.
//!
//! - `open`: everyone who reaches the server reads everything (the default on loopback).
//! - `token`: a browser signs in on `/login` with a read or admin API token and reads that
//!   token's project; an admin token also sees that project's store tasks.
//! - `proxy`: a reverse proxy that signs people in names the user in a header; only the
//!   configured proxy addresses are believed. Group `flakewatch-admin` reads everything,
//!   `flakewatch-PROJECT` reads that project.

use std::net::{IpAddr, SocketAddr};

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderName};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;

use super::{csrf, AppState};
use crate::config::AccessSettings;
pub use crate::config::AuthMode;
use crate::db::DbError;
use crate::error::ApiError;
use crate::store::sessions;
use crate::store::tokens::Scope;

/// The cookie that carries a dashboard session's secret.
pub const SESSION_COOKIE: &str = "fw_session";
/// The proxy group that reads every project and the task list.
pub const ADMIN_GROUP: &str = "flakewatch-admin";
/// Prefix of the proxy groups that read one project each.
pub const PROJECT_GROUP_PREFIX: &str = "flakewatch-";

/// The access settings as the server applies them.
#[derive(Debug, Clone)]
pub struct Access {
    pub mode: AuthMode,
    pub public_url: Option<String>,
    pub session_ttl: chrono::Duration,
    pub proxy_user_header: HeaderName,
    pub proxy_groups_header: HeaderName,
    pub trusted_proxies: Vec<IpAddr>,
    /// Hash of the secret `/metrics` requires, if any.
    pub metrics_token_hash: Option<String>,
}

impl Access {
    /// `--auth` as given, else `open` on a loopback address and `token` elsewhere.
    pub fn from_settings(settings: &AccessSettings, bound: SocketAddr) -> Result<Access, String> {
        let mode = settings.auth.unwrap_or(if bound.ip().is_loopback() {
            AuthMode::Open
        } else {
            AuthMode::Token
        });
        if mode == AuthMode::Proxy && settings.trusted_proxies.is_empty() {
            return Err(
                "--auth proxy needs the proxies' addresses in --trusted-proxies \
                        (FLAKEWATCH_TRUSTED_PROXIES), e.g. 127.0.0.1"
                    .into(),
            );
        }
        let header = |flag: &str, name: &str| {
            HeaderName::try_from(name).map_err(|_| format!("{flag} `{name}` is not a header name"))
        };
        Ok(Access {
            mode,
            public_url: settings.public_url.clone(),
            session_ttl: chrono::Duration::hours(i64::from(settings.session_hours)),
            proxy_user_header: header("--proxy-user-header", &settings.proxy_user_header)?,
            proxy_groups_header: header("--proxy-groups-header", &settings.proxy_groups_header)?,
            trusted_proxies: settings.trusted_proxies.clone(),
            metrics_token_hash: settings
                .metrics_token
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(crate::secrets::token_hash),
        })
    }

    /// The given mode with every other setting at its default (tests, embedding).
    pub fn with_mode(mode: AuthMode) -> Access {
        Access {
            mode,
            public_url: None,
            session_ttl: chrono::Duration::hours(12),
            proxy_user_header: HeaderName::from_static("x-forwarded-user"),
            proxy_groups_header: HeaderName::from_static("x-forwarded-groups"),
            trusted_proxies: Vec::new(),
            metrics_token_hash: None,
        }
    }

    /// Session cookies are `Secure` when the server is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.to_ascii_lowercase().starts_with("https://"))
    }
}

/// Who is reading a page and what they may read.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// `None`: every project.
    projects: Option<Vec<String>>,
    admin: bool,
    /// The signed-in session: how it is named on the page, and its CSRF token.
    pub session: Option<SessionInfo>,
}

#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub project: String,
    pub scope: Scope,
    pub token_prefix: String,
    pub csrf: String,
}

impl Viewer {
    pub fn can_read(&self, project: &str) -> bool {
        self.projects
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == project))
    }

    /// Whether this viewer is an admin of `project` (may see its deliveries and tasks).
    pub fn administers(&self, project: &str) -> bool {
        self.admin && self.can_read(project)
    }

    /// The projects whose store tasks this viewer may see (`None`: every project's), or
    /// 403 when it may see none.
    pub fn admin_of(&self) -> Result<Option<&[String]>, ApiError> {
        if self.admin {
            Ok(self.projects.as_deref())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_required",
                "the store tasks are for admins: sign in with an admin token",
            ))
        }
    }

    async fn resolve(req: &HttpRequest) -> Result<Viewer, actix_web::Error> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .expect("AppState is registered on the app");
        match state.access.mode {
            AuthMode::Open => Ok(Viewer {
                projects: None,
                admin: true,
                session: None,
            }),
            AuthMode::Proxy => from_proxy(req, &state.access).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "not_signed_in",
                    "this dashboard is signed in to through its proxy: open it through the proxy",
                )
                .into()
            }),
            AuthMode::Token => {
                let session = match session_of(req, state).await? {
                    Some(session) => session,
                    None => return Err(SignInRequired.into()),
                };
                Ok(Viewer {
                    projects: Some(vec![session.project.clone()]),
                    admin: session.scope == Scope::Admin,
                    session: Some(session),
                })
            }
        }
    }
}

impl FromRequest for Viewer {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Viewer, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Viewer::resolve(&req).await })
    }
}

/// The live session the request's cookie names, if any.
pub async fn session_of(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<SessionInfo>, ApiError> {
    let Some(secret) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    let lookup = secret.clone();
    let token = state
        .db
        .run(move |conn| {
            sessions::find(conn, &lookup, chrono::Utc::now().naive_utc()).map_err(DbError::from)
        })
        .await
        .map_err(ApiError::storage)?;
    Ok(token
        .filter(|token| token.scope.allows(Scope::Read))
        .map(|token| SessionInfo {
            project: token.project,
            scope: token.scope,
            token_prefix: token.prefix,
            csrf: csrf::for_session(&secret),
        }))
}

/// The proxy's user, when the request comes from a trusted proxy and names one.
fn from_proxy(req: &HttpRequest, access: &Access) -> Option<Viewer> {
    let peer = req.peer_addr()?.ip();
    if !access.trusted_proxies.contains(&peer) {
        return None;
    }
    let header = |name: &HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or("")
    };
    if header(&access.proxy_user_header).is_empty() {
        return None;
    }
    let groups: Vec<&str> = header(&access.proxy_groups_header)
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .collect();
    if groups.contains(&ADMIN_GROUP) {
        return Some(Viewer {
            projects: None,
            admin: true,
            session: None,
        });
    }
    let projects = groups
        .iter()
        .filter_map(|g| g.strip_prefix(PROJECT_GROUP_PREFIX))
        .map(str::to_owned)
        .collect();
    Some(Viewer {
        projects: Some(projects),
        admin: false,
        session: None,
    })
}

/// A page was asked for without a session: the browser is sent to the sign-in page.
#[derive(Debug, thiserror::Error)]
#[error("sign in to see this page")]
pub struct SignInRequired;

impl ResponseError for SignInRequired {
    fn status_code(&self) -> StatusCode {
        StatusCode::SEE_OTHER
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login"))
            .finish()
    }
}

/// `/metrics` with `--metrics-token`: the secret as a bearer token, else 401.
pub fn check_metrics(req: &HttpRequest, access: &Access) -> Result<(), ApiError> {
    let Some(expected) = &access.metrics_token_hash else {
        return Ok(());
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    if !given.is_empty() && crate::secrets::token_hash(given) == *expected {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "/metrics needs the metrics token (--metrics-token) as `Authorization: Bearer TOKEN`",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(auth: Option<AuthMode>, proxies: &str) -> AccessSettings {
        AccessSettings {
            auth,
            public_url: None,
            session_hours: 12,
            proxy_user_header: "X-Forwarded-User".into(),
            proxy_groups_header: "X-Forwarded-Groups".into(),
            trusted_proxies: proxies.split(',').filter_map(|p| p.parse().ok()).collect(),
            metrics_token: None,
        }
    }

    #[test]
    fn open_on_loopback_and_token_elsewhere_unless_told() {
        let mode = |auth, addr: &str| {
            Access::from_settings(&settings(auth, "127.0.0.1"), addr.parse().unwrap())
                .unwrap()
                .mode
        };
        assert_eq!(mode(None, "127.0.0.1:8080"), AuthMode::Open);
        assert_eq!(mode(None, "[::1]:8080"), AuthMode::Open);
        assert_eq!(mode(None, "0.0.0.0:8080"), AuthMode::Token);
        assert_eq!(mode(None, "192.168.1.5:8080"), AuthMode::Token);
        assert_eq!(mode(Some(AuthMode::Open), "0.0.0.0:8080"), AuthMode::Open);
        assert_eq!(mode(Some(AuthMode::Proxy), "0.0.0.0:8080"), AuthMode::Proxy);
    }

    #[test]
    fn proxy_mode_needs_trusted_addresses() {
        let err = Access::from_settings(
            &settings(Some(AuthMode::Proxy), ""),
            "0.0.0.0:8080".parse().unwrap(),
        )
        .unwrap_err();
        assert!(err.contains("--trusted-proxies"), "{err}");
    }
}
