//! Cross-site request forgery defences for the forms that change state (sign-in,
//! sign-out): a token in the form that another site cannot know, and the browser's
//! `Origin` (or `Sec-Fetch-Site`) header, which another site cannot forge.

use actix_web::http::{header, StatusCode};
use actix_web::HttpRequest;

use crate::error::ApiError;

/// The cookie that carries the sign-in form's token before there is a session.
pub const LOGIN_COOKIE: &str = "fw_login_csrf";

/// A signed-in form's token: derived from the session's secret, so nothing more is stored
/// and it ends with the session.
pub fn for_session(session_secret: &str) -> String {
    crate::secrets::sha256_hex(&[b"csrf", session_secret.as_bytes()])[..32].to_owned()
}

/// The form's token must be the expected one.
pub fn check_token(expected: Option<&str>, given: &str) -> Result<(), ApiError> {
    match expected {
        Some(expected) if !given.is_empty() && expected == given => Ok(()),
        _ => Err(forbidden(
            "the form is out of date or was not sent by this dashboard: reload the page and \
             send it again",
        )),
    }
}

/// The request must come from a page of this dashboard: its `Origin` names this server
/// (the public URL, or the `Host` it was sent to); without an `Origin`, `Sec-Fetch-Site`
/// must not say it came from another site.
pub fn check_origin(req: &HttpRequest, public_url: Option<&str>) -> Result<(), ApiError> {
    let get = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(origin) = get(header::ORIGIN) {
        let host = origin.split_once("://").map(|(_, host)| host).unwrap_or("");
        let ours = match public_url {
            Some(public) => origin_of(public).eq_ignore_ascii_case(origin),
            None => {
                get(header::HOST).is_some_and(|h| !host.is_empty() && h.eq_ignore_ascii_case(host))
            }
        };
        return if ours {
            Ok(())
        } else {
            Err(forbidden(&format!(
                "this form was sent from another site ({origin}); open the dashboard itself"
            )))
        };
    }
    match get(header::HeaderName::from_static("sec-fetch-site")) {
        Some("same-origin") | Some("none") | None => Ok(()),
        Some(other) => Err(forbidden(&format!(
            "this form was sent from another site (Sec-Fetch-Site: {other}); open the dashboard itself"
        ))),
    }
}

/// `scheme://host[:port]` of an absolute URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "csrf_refused", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_tokens() {
        assert_eq!(
            origin_of("https://ci.example.com/fw"),
            "https://ci.example.com"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(for_session("a"), for_session("a"));
        assert_ne!(for_session("a"), for_session("b"));
        assert!(check_token(Some("x"), "x").is_ok());
        assert!(check_token(Some("x"), "y").is_err());
        assert!(check_token(None, "").is_err());
        assert!(check_token(Some(""), "").is_err());
    }
}
