//! API tokens this server checked lately, kept while it hears of every change (as
//! `known_projects` keeps the projects), so that an API read whose data is kept needs no
//! database either. On PostgreSQL each API request's token lookup was a round trip to a
//! database process, and under load some took up to 435 ms there (their plan ran in
//! 0.04 ms): the API reads had p99 tails of 100-400 ms while the pages, which need no
//! database when kept, stayed under 10 ms.
//!
//! Revoking a token counts as a change (`db::changes`): the server that revoked it refuses
//! it at once, other servers as soon as the notification arrives, and no kept token is
//! trusted for longer than `KEEP_FOR` (a notification connection may die without a word).
//! Unknown tokens are never kept, so a token just created works at once. Requests that
//! check the same token at once share one lookup.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::shared_reads::SharedReads;
use crate::db::changes::Epoch;
use crate::db::{Database, DbError};
use crate::secrets;
use crate::store::tokens::{self, ApiToken};

/// Longest time a kept token is trusted without a new lookup.
const KEEP_FOR: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Kept {
    /// The epoch the tokens were looked up in; a new epoch forgets them all.
    epoch: Option<Epoch>,
    /// By token hash: the token and when it was looked up.
    tokens: HashMap<String, (Instant, ApiToken)>,
}

pub struct KnownTokens {
    /// False with the page cache off: every request looks its token up.
    keep: bool,
    kept: Mutex<Kept>,
    lookups: SharedReads<String, Option<ApiToken>>,
}

impl KnownTokens {
    pub fn new(keep: bool) -> KnownTokens {
        KnownTokens {
            keep,
            kept: Mutex::default(),
            lookups: SharedReads::default(),
        }
    }

    /// The live token with this plaintext, `None` when there is none (unknown or revoked).
    pub async fn authenticate(
        &self,
        db: &Database,
        plaintext: &str,
    ) -> Result<Option<ApiToken>, DbError> {
        let hash = secrets::token_hash(plaintext);
        let look_up = |hash: String| {
            db.run(move |conn| tokens::authenticate_hash(conn, &hash).map_err(DbError::from))
        };
        // Taken before the lookup: a revocation heard during it moves the epoch on, and
        // what the lookup found is then not kept for the new epoch.
        let Some(epoch) = db.changes.epoch().filter(|_| self.keep) else {
            return look_up(hash).await;
        };
        if let Some((at, token)) = self.lock_at(epoch).tokens.get(&hash) {
            if at.elapsed() < KEEP_FOR {
                return Ok(Some(token.clone()));
            }
        }
        let found = self
            .lookups
            .read(epoch, hash.clone(), look_up(hash.clone()))
            .await?;
        if let Some(token) = &found {
            let mut kept = self.lock_at(epoch);
            if kept.epoch == Some(epoch) {
                kept.tokens.insert(hash, (Instant::now(), token.clone()));
            }
        }
        Ok(found)
    }

    /// The kept tokens, forgotten first if they were looked up before `epoch`.
    fn lock_at(&self, epoch: Epoch) -> std::sync::MutexGuard<'_, Kept> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.epoch.is_none_or(|before| before < epoch) {
            *kept = Kept {
                epoch: Some(epoch),
                ..Kept::default()
            };
        }
        kept
    }
}
