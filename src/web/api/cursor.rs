//! The `cursor` of a list that pages past its `limit`: the answer's `next` is passed back
//! as `?cursor=` with the same filters. It names the last item seen, so paging is a seek
//! (no OFFSET), and items arriving meanwhile never shift a page.

use chrono::{DateTime, NaiveDateTime};

use super::query::{self, Query};
use crate::error::ApiError;

/// The last item of a page: its time and id, the two keys lists are ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: NaiveDateTime,
    pub id: i64,
}

impl Cursor {
    /// `NANOS_ID`: the time as nanoseconds since 1970, so it comes back exact.
    pub fn encode(&self) -> String {
        let nanos = self.at.and_utc().timestamp_nanos_opt().unwrap_or(i64::MAX);
        format!("{nanos}_{}", self.id)
    }

    /// `?cursor=`, or `None` for the first page.
    pub fn from_query(query: &Query) -> Result<Option<Cursor>, ApiError> {
        let Some(raw) = query::text(query, "cursor") else {
            return Ok(None);
        };
        let decoded = raw.split_once('_').and_then(|(nanos, id)| {
            Some(Cursor {
                at: DateTime::from_timestamp_nanos(nanos.parse().ok()?).naive_utc(),
                id: id.parse().ok()?,
            })
        });
        decoded.map(Some).ok_or_else(|| {
            ApiError::bad_field(
                "cursor",
                format!("`cursor` must be the `next` value of the previous page, not `{raw}`"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(cursor: &str) -> Query {
        [("cursor".to_owned(), cursor.to_owned())].into()
    }

    #[test]
    fn a_cursor_comes_back_exactly() {
        let at = DateTime::from_timestamp(1_764_536_400, 123_456_789)
            .unwrap()
            .naive_utc();
        let cursor = Cursor { at, id: 42 };
        let read = Cursor::from_query(&query(&cursor.encode())).unwrap();
        assert_eq!(read, Some(cursor));
        assert_eq!(Cursor::from_query(&Query::new()).unwrap(), None);
    }

    #[test]
    fn a_bad_cursor_is_a_clear_400() {
        for bad in ["x", "12", "12_", "_3", "a_b"] {
            let err = Cursor::from_query(&query(bad)).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("cursor"), "{bad}");
        }
    }
}
