//! The headers every response carries, from one middleware, and `HEAD` served wherever
//! `GET` is.
//!
//! The pages use no inline script or style, so the policy can forbid both outright: an
//! injected `<script>` or `style=` attribute does nothing even if escaping ever failed.
//! The one script (copy buttons) is a file we serve.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{DefaultHeaders, Next};

/// Only our own stylesheet, script file and images, forms that post back to us, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The headers, each set unless a handler set its own.
pub const HEADERS: [(&str, &str); 5] = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    // `frame-ancestors` above is the modern form; this covers older browsers.
    ("X-Frame-Options", "DENY"),
    // Links out (a build URL) do not carry the dashboard's paths to the CI system.
    ("Referrer-Policy", "same-origin"),
    // Pages and API answers are per session or token: no shared cache may keep one for
    // the next reader. The stylesheet sets its own.
    ("Cache-Control", "no-store"),
];

/// The middleware that adds [`HEADERS`].
pub fn middleware() -> DefaultHeaders {
    HEADERS
        .iter()
        .fold(DefaultHeaders::new(), |headers, &pair| headers.add(pair))
}

/// Routes are declared for `GET`; a `HEAD` request is routed as one. The HTTP layer still
/// knows the request was `HEAD` and sends the headers (with the body's length) but no body.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exact_header_values() {
        assert_eq!(
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        assert_eq!(
            HEADERS,
            [
                ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                ("X-Content-Type-Options", "nosniff"),
                ("X-Frame-Options", "DENY"),
                ("Referrer-Policy", "same-origin"),
                ("Cache-Control", "no-store"),
            ]
        );
    }
}
