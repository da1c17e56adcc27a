//! Reading query parameters, with errors that name the parameter and show a good value.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime};

use crate::error::ApiError;

pub type Query = HashMap<String, String>;

/// The trimmed value of `name`, or `None` when it is absent or empty.
pub fn text(query: &Query, name: &str) -> Option<String> {
    query
        .get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// An RFC 3339 time, as UTC.
pub fn time(query: &Query, name: &str) -> Result<Option<NaiveDateTime>, ApiError> {
    match text(query, name) {
        None => Ok(None),
        Some(raw) => DateTime::parse_from_rfc3339(&raw)
            .map(|at| Some(at.naive_utc()))
            .map_err(|_| {
                ApiError::bad_field(
                    name,
                    format!("`{name}` must be an RFC 3339 time such as 2026-11-26T15:04:05Z, not `{raw}`"),
                )
            }),
    }
}

/// `limit`, from 1 to `max`, `default` when absent.
pub fn limit(query: &Query, default: i64, max: i64) -> Result<i64, ApiError> {
    match text(query, "limit") {
        None => Ok(default),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_field(
                    "limit",
                    format!("`limit` is a number from 1 to {max}, not `{raw}`"),
                )
            }),
    }
}
