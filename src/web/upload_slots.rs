//! How many uploads one token may have in flight at once. Each upload holds a connection,
//! a temporary file and a share of the body memory while it arrives, so one leaked CI
//! token (or a runaway job) must not be able to hold them all; others' uploads go on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;

use crate::error::ApiError;

pub struct UploadSlots {
    per_token: usize,
    in_flight: Mutex<HashMap<i64, usize>>,
}

/// One upload in flight; its slot is given back when it is dropped, however the
/// request ends.
pub struct Slot {
    slots: Arc<UploadSlots>,
    token_id: i64,
}

impl UploadSlots {
    pub fn new(per_token: usize) -> Arc<UploadSlots> {
        Arc::new(UploadSlots {
            per_token,
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// Uploads in flight, all tokens together.
    pub fn in_flight(&self) -> usize {
        let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        in_flight.values().sum()
    }

    /// A slot for `token_id`, or 429 with `Retry-After` when it has `per_token` already.
    pub fn take(self: &Arc<Self>, token_id: i64) -> Result<Slot, ApiError> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let count = in_flight.entry(token_id).or_insert(0);
        if *count >= self.per_token {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_uploads",
                format!(
                    "this token has {} uploads in progress, the most it may have at once; \
                     wait for one to finish (or raise FLAKEWATCH_UPLOADS_PER_TOKEN)",
                    self.per_token
                ),
            )
            .retry_after(5));
        }
        *count += 1;
        Ok(Slot {
            slots: self.clone(),
            token_id,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut in_flight = self
            .slots
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = in_flight.get_mut(&self.token_id) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.token_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_per_token_and_given_back() {
        let slots = UploadSlots::new(2);
        let a1 = slots.take(1).unwrap();
        let _a2 = slots.take(1).unwrap();
        let err = slots.take(1).err().unwrap();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.retry_after, Some(5));
        let _b = slots.take(2).unwrap();
        drop(a1);
        let _a3 = slots.take(1).unwrap();
    }
}
