//! Which tokens' use this server has recorded lately. A token's "last used" time is
//! written at most once a minute, but the stored time only moves once that write commits:
//! until then every request with the token saw it as due, so 32 clients could send 32
//! updates of one row at once, each waiting for the one before while holding a pool
//! connection other requests needed. Here the first request claims the write and the
//! others skip it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::NaiveDateTime;

use crate::store::tokens::{self, ApiToken};

#[derive(Default)]
pub struct TokenTouches {
    claimed: Mutex<HashMap<i64, NaiveDateTime>>,
}

impl TokenTouches {
    /// Whether this request should record `token`'s use at `now`: its stored time is due
    /// for a write, and no request of this server claimed one within the same minute.
    pub fn claim(&self, token: &ApiToken, now: NaiveDateTime) -> bool {
        if !tokens::needs_touch(token, now) {
            return false;
        }
        let mut claimed = self.claimed.lock().unwrap_or_else(PoisonError::into_inner);
        if claimed
            .get(&token.id)
            .is_some_and(|at| now - *at <= tokens::TOUCH_EVERY)
        {
            return false;
        }
        claimed.insert(token.id, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeDelta};

    use super::*;
    use crate::store::tokens::Scope;

    fn token(id: i64, last_used_at: Option<NaiveDateTime>) -> ApiToken {
        let at = NaiveDate::from_ymd_opt(2026, 12, 1)
            .and_then(|day| day.and_hms_opt(9, 0, 0))
            .expect("a valid time");
        ApiToken {
            id,
            project: "shop".into(),
            project_id: 1,
            scope: Scope::Read,
            label: String::new(),
            prefix: String::new(),
            created_at: at,
            last_used_at,
            revoked_at: None,
        }
    }

    #[test]
    fn one_request_a_minute_records_a_token_s_use() {
        let touches = TokenTouches::default();
        let now = NaiveDate::from_ymd_opt(2026, 12, 8)
            .and_then(|day| day.and_hms_opt(10, 0, 0))
            .expect("a valid time");
        let never_used = token(1, None);
        assert!(touches.claim(&never_used, now), "the first request writes");
        // The write has not landed yet, so the stored time still says it is due.
        assert!(!touches.claim(&never_used, now + TimeDelta::seconds(1)));
        assert!(!touches.claim(&never_used, now + TimeDelta::seconds(60)));
        assert!(touches.claim(&never_used, now + TimeDelta::seconds(61)));
        assert!(touches.claim(&token(2, None), now), "each token on its own");
        let just_used = token(3, Some(now - TimeDelta::seconds(30)));
        assert!(!touches.claim(&just_used, now), "stored a moment ago");
    }
}
