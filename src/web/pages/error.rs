//! Errors as pages: the API's `ApiError` (same status, same message) rendered as HTML with
//! a way back, so a browser never shows raw JSON.

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::error::ApiError;

/// A failed page request. `back` is the nearest page that does exist.
#[derive(Debug)]
pub struct PageError {
    pub error: ApiError,
    /// Boxed: most errors have none, and results stay small.
    pub back: Option<Box<Back>>,
}

/// A link out of an error page.
#[derive(Debug, Clone)]
pub struct Back {
    pub href: String,
    pub label: String,
}

impl PageError {
    pub fn not_found(message: impl Into<String>) -> PageError {
        ApiError::not_found(message).into()
    }

    /// Names the page to go back to instead of the project list.
    pub fn back_to(mut self, href: impl Into<String>, label: impl Into<String>) -> PageError {
        self.back = Some(Box::new(Back {
            href: href.into(),
            label: label.into(),
        }));
        self
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> PageError {
        PageError { error, back: None }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    heading: &'static str,
    status: u16,
    message: &'a str,
    field: Option<&'a str>,
    back: Option<&'a Back>,
}

fn heading(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "That address asks for something we cannot show",
        404 => "Not found",
        503 => "The database is not answering",
        _ => "Something went wrong",
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.error.status
    }

    fn error_response(&self) -> HttpResponse {
        let page = ErrorPage {
            heading: heading(self.error.status),
            status: self.error.status.as_u16(),
            message: &self.error.message,
            field: self.error.field.as_deref(),
            back: self.back.as_deref(),
        };
        let mut response = HttpResponse::build(self.error.status);
        if self.error.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", "5"));
        }
        match page.render() {
            Ok(html) => response.content_type(ContentType::html()).body(html),
            // The error page itself failed: plain text still says what happened.
            Err(_) => response
                .content_type(ContentType::plaintext())
                .body(self.error.message.clone()),
        }
    }
}
