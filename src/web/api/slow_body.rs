//! Deadlines for reading an upload body, so a client that sends slowly (one byte every
//! few seconds) cannot hold a connection, a worker slot and an upload slot for ever.

use std::time::Duration;

use actix_web::http::StatusCode;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use crate::error::ApiError;
use crate::web::UploadLimits;

/// The body must keep arriving (a chunk at least every `idle`) and be complete within
/// `total` of the first read.
pub struct BodyDeadline {
    ends_at: Instant,
    idle: Duration,
    total: Duration,
}

impl BodyDeadline {
    pub fn start(limits: &UploadLimits) -> BodyDeadline {
        BodyDeadline {
            ends_at: Instant::now() + limits.body_timeout,
            idle: limits.body_idle_timeout,
            total: limits.body_timeout,
        }
    }

    /// The stream's next item, or 408 when it does not come in time.
    pub async fn next<S: Stream + Unpin>(
        &self,
        stream: &mut S,
    ) -> Result<Option<S::Item>, ApiError> {
        let idle_ends = Instant::now() + self.idle;
        let until = idle_ends.min(self.ends_at);
        tokio::time::timeout_at(until, stream.next())
            .await
            .map_err(|_| {
                let why = if until == self.ends_at {
                    format!("it was not complete within {} s", self.total.as_secs())
                } else {
                    format!("no data came for {} s", self.idle.as_secs())
                };
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_too_slow",
                    format!(
                    "the upload body arrived too slowly: {why} (FLAKEWATCH_BODY_TIMEOUT_SECONDS, \
                     FLAKEWATCH_BODY_IDLE_SECONDS); send it again"
                ),
                )
            })
    }
}
