//! What the pages' typed query structs share: reading one parameter with a clear 400 that
//! names it, and writing parameters back into a link.

use std::collections::HashMap;
use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest};
use chrono::NaiveDate;

use super::error::PageError;
use crate::error::ApiError;

pub type Query = HashMap<String, String>;

/// A page's query string as name → value, or a 400 *page* when it cannot be read (bytes
/// that are not UTF-8 once decoded), where `web::Query` would answer the API's JSON.
pub struct PageQuery(pub Query);

impl FromRequest for PageQuery {
    type Error = PageError;
    type Future = Ready<Result<PageQuery, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            serde_urlencoded::from_str::<Query>(req.query_string())
                .map(PageQuery)
                .map_err(|err| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_query",
                        format!("the query string could not be read: {err}"),
                    )
                    .into()
                }),
        )
    }
}

pub use crate::web::api::query::text;

/// A 400 about one query parameter.
pub fn bad(field: &str, message: impl Into<String>) -> PageError {
    ApiError::bad_field(field, message).into()
}

/// `name` as one of `choices` (`None` when absent or empty).
pub fn choice<T: Copy>(
    query: &Query,
    name: &str,
    choices: &[(&str, T)],
) -> Result<Option<T>, PageError> {
    let Some(raw) = text(query, name) else {
        return Ok(None);
    };
    choices
        .iter()
        .find(|(word, _)| *word == raw)
        .map(|(_, value)| Some(*value))
        .ok_or_else(|| {
            let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
            bad(
                name,
                format!("`{name}` is one of {}, not `{raw}`", words.join(", ")),
            )
        })
}

/// A day as `YYYY-MM-DD`.
pub fn date(query: &Query, name: &str) -> Result<Option<NaiveDate>, PageError> {
    match text(query, name) {
        None => Ok(None),
        Some(raw) => NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                bad(
                    name,
                    format!("`{name}` is a day such as 2026-11-01, not `{raw}`"),
                )
            }),
    }
}

/// A whole number from `min` to `max`.
pub fn number(query: &Query, name: &str, min: i64, max: i64) -> Result<Option<i64>, PageError> {
    match text(query, name) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .map(Some)
            .ok_or_else(|| {
                bad(
                    name,
                    format!("`{name}` is a number from {min} to {max}, not `{raw}`"),
                )
            }),
    }
}

/// `path?a=1&b=2`, leaving out empty values (just `path` when none is left).
pub fn link(path: &str, pairs: &[(&str, String)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    if kept.is_empty() {
        return path.to_owned();
    }
    let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    format!("{path}?{query}")
}

/// A path segment (a project name, a commit), percent-encoded.
pub fn segment(text: &str) -> String {
    let encoded = serde_urlencoded::to_string([("", text)]).unwrap_or_default();
    // `=value`, with `+` for spaces, which a path does not take.
    encoded.trim_start_matches('=').replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Query {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn links_encode_values_and_drop_empty_ones() {
        let pairs = [("branch", "feat/a b&c".to_owned()), ("job", String::new())];
        assert_eq!(
            link("/projects/x/runs", &pairs),
            "/projects/x/runs?branch=feat%2Fa+b%26c"
        );
        assert_eq!(link("/p", &[("job", String::new())]), "/p");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let err = choice(&query(&[("sort", "x")]), "sort", &[("name", 1)]).unwrap_err();
        assert_eq!(err.error.field.as_deref(), Some("sort"));
        assert!(err.error.message.contains("one of name"));
        let err = date(&query(&[("since", "yesterday")]), "since").unwrap_err();
        assert_eq!(err.error.status.as_u16(), 400);
        assert!(number(&query(&[("page", "0")]), "page", 1, 10).is_err());
        assert_eq!(
            number(&query(&[("page", "3")]), "page", 1, 10).unwrap(),
            Some(3)
        );
        assert_eq!(number(&query(&[]), "page", 1, 10).unwrap(), None);
    }
}
