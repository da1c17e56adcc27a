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

/// Checks the raw query string before it is decoded, since decoding hides the problems:
/// every `%` starts a two-digit hex escape, each value decodes to UTF-8, and no value holds
/// a NUL (which PostgreSQL cannot store). The error names the parameter.
pub fn check_encoding(raw: &str) -> Result<(), ApiError> {
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(key)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_else(|| key.chars().take(64).collect());
        let problem = match decode(value) {
            Err(()) => {
                "holds a `%` that is not followed by two hex digits (send `%25` for a percent sign)"
            }
            Ok(bytes) if std::str::from_utf8(&bytes).is_err() => "is not UTF-8 once decoded",
            Ok(bytes) if bytes.contains(&0) => "holds a NUL character (%00)",
            Ok(_) => continue,
        };
        return Err(ApiError::bad_field(&name, format!("`{name}` {problem}")));
    }
    Ok(())
}

/// Percent-decodes `text` (`+` is a space); `Err` on a malformed escape.
fn decode(text: &str) -> Result<Vec<u8>, ()> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(())?;
                let hex = std::str::from_utf8(hex).map_err(drop)?;
                out.push(u8::from_str_radix(hex, 16).map_err(drop)?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod encoding_tests {
    use super::check_encoding;

    #[test]
    fn bad_escapes_invalid_utf8_and_nul_name_their_parameter() {
        assert!(check_encoding("branch=main&commit=abc%20def&job=a+b&x").is_ok());
        for (raw, field) in [
            ("branch=ma%00in", "branch"),
            ("branch=main&commit=%ZZ", "commit"),
            ("job=%F", "job"),
            ("job=%FF%FE", "job"),
            ("bui%6Cd_url=%00", "build_url"),
        ] {
            let err = check_encoding(raw).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{raw}");
        }
    }
}
