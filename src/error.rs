//! The crate's error types and their one mapping to HTTP.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Why flakewatch could not start. Each message says what is wrong and how to fix it,
/// because it is the one line an operator sees.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("DATABASE_URL `{url}` is not usable: {reason}")]
    BadDatabaseUrl { url: String, reason: String },

    #[error("cannot connect to PostgreSQL at {target}: {reason}. Is the server running and the URL right? (start it with `pg_ctlcluster <version> main start`, or set DATABASE_URL)")]
    PostgresUnreachable { target: String, reason: String },

    #[error("there is no SQLite database at {path}: run the command in the folder where `flakewatch serve` keeps its data, point --database-url (or DATABASE_URL) at that file, or pass --create to start a new, empty database here")]
    SqliteMissing { path: String },

    #[error("cannot open the SQLite database `{path}`: {reason}. Check that its directory exists and is writable, or set DATABASE_URL to another path")]
    SqliteUnusable { path: String, reason: String },

    #[error("the connection to {target} stopped answering: {reason}")]
    ConnectionCheck { target: String, reason: String },

    #[error("cannot apply database migrations to {target}: {reason}")]
    Migration { target: String, reason: String },

    #[error(
        "cannot listen on {addr}: {reason}. Pick another address with --bind or FLAKEWATCH_BIND"
    )]
    Bind { addr: String, reason: String },
}

/// A failed API request: HTTP status plus the JSON body
/// `{"error": {"code": "...", "message": "...", "field": "..."}}`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds after which the client may try again (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A 400 about one named input field.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.to_owned()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", message)
        }
    }

    /// The same error, telling the client to try again after `seconds`.
    pub fn retry_after(self, seconds: u32) -> Self {
        ApiError {
            retry_after: Some(seconds),
            ..self
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The database failed under us; the details go to the log, not to the client.
    pub fn storage(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "storage error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "the database is not answering; try again shortly",
        )
        .retry_after(1)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        })
    }
}
