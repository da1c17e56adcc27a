//! Limits on a request's head and on connections, the HTTP layer's share of the limits.
//!
//! The HTTP library refuses a head over its fixed 128 KiB buffer with a bare 431 and no
//! body. Our own limits sit below that (`serve` takes at most 96 KiB for either), so the answers clients normally meet are checked
//! here and carry the JSON error body like every other refusal.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

use crate::error::ApiError;

use super::AppState;

/// How large a request's head may be and how many connections are served at once.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Longest path and query string (414 past it).
    pub max_uri_bytes: u64,
    /// Largest total of header names and values (431 past it).
    pub max_header_bytes: u64,
    /// Open connections per HTTP worker; more wait in the kernel's queue until one closes.
    /// (The HTTP library's connection *rate* limit applies to TLS handshakes only, and
    /// flakewatch leaves TLS to a proxy, so there is none to set.)
    pub max_connections: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_uri_bytes: 32 << 10,
            max_header_bytes: 64 << 10,
            max_connections: 25_000,
        }
    }
}

/// Refuses a request whose URI or headers are over the limits, before any handler runs.
pub async fn check_head(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limits = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.request_limits)
        .unwrap_or_default();
    if let Some(refusal) = refusal(&req, &limits) {
        let response = refusal.error_response().map_into_right_body();
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_left_body())
}

fn refusal(req: &ServiceRequest, limits: &RequestLimits) -> Option<ApiError> {
    let uri_bytes = req.uri().path_and_query().map_or(0, |p| p.as_str().len()) as u64;
    if uri_bytes > limits.max_uri_bytes {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!(
                "the request's path and query are {uri_bytes} bytes, over the limit of {}; \
                 send long values in the body (FLAKEWATCH_MAX_URI_BYTES raises the limit)",
                limits.max_uri_bytes
            ),
        ));
    }
    // As sent: "name: value\r\n".
    let header_bytes: u64 = req
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().len() + value.len() + 4) as u64)
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!(
                "the request's headers are {header_bytes} bytes, over the limit of {} \
                 (FLAKEWATCH_MAX_HEADER_BYTES raises the limit)",
                limits.max_header_bytes
            ),
        ));
    }
    None
}
