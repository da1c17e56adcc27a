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
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::db::changes::Epoch;
use crate::db::{Database, DbError};
use crate::secrets;
use crate::store::tokens::{self, ApiToken};

/// Longest time a kept token is trusted without a new lookup.
const KEEP_FOR: Duration = Duration::from_secs(2);

type Lookup = Result<Option<ApiToken>, Arc<DbError>>;

#[derive(Default)]
struct Kept {
    /// The epoch the tokens were looked up in; a new epoch forgets them all.
    epoch: Option<Epoch>,
    /// By token hash: the token and when it was looked up.
    tokens: HashMap<String, (Instant, ApiToken)>,
    /// Lookups under way in this epoch, by token hash.
    looking_up: HashMap<String, Arc<OnceCell<Lookup>>>,
}

pub struct KnownTokens {
    /// False with the page cache off: every request looks its token up.
    keep: bool,
    kept: Mutex<Kept>,
}

impl KnownTokens {
    pub fn new(keep: bool) -> KnownTokens {
        KnownTokens {
            keep,
            kept: Mutex::default(),
        }
    }

    /// The live token with this plaintext, `None` when there is none (unknown or revoked).
    pub async fn authenticate(
        &self,
        db: &Database,
        plaintext: &str,
    ) -> Result<Option<ApiToken>, DbError> {
        let hash = secrets::token_hash(plaintext);
        // Taken before the lookup: a revocation heard during it moves the epoch on, and
        // what the lookup found is then not kept for the new epoch.
        let Some(epoch) = db.changes.epoch().filter(|_| self.keep) else {
            return db
                .run(move |conn| tokens::authenticate_hash(conn, &hash).map_err(DbError::from))
                .await;
        };
        let lookup = {
            let mut kept = self.lock_at(epoch);
            if let Some((at, token)) = kept.tokens.get(&hash) {
                if at.elapsed() < KEEP_FOR {
                    return Ok(Some(token.clone()));
                }
            }
            // A request that began before a change the kept tokens already reflect looks
            // its token up alone: the lookups under way belong to the newer epoch.
            (kept.epoch == Some(epoch)).then(|| {
                kept.looking_up
                    .entry(hash.clone())
                    .or_insert_with(|| Arc::new(OnceCell::new()))
                    .clone()
            })
        };
        let Some(lookup) = lookup else {
            return db
                .run(move |conn| tokens::authenticate_hash(conn, &hash).map_err(DbError::from))
                .await;
        };
        let key = hash.clone();
        let found = lookup
            .get_or_init(|| async {
                db.run(move |conn| tokens::authenticate_hash(conn, &key).map_err(DbError::from))
                    .await
                    .map_err(Arc::new)
            })
            .await
            .clone();
        let mut kept = self.lock_at(epoch);
        if kept
            .looking_up
            .get(&hash)
            .is_some_and(|under_way| Arc::ptr_eq(under_way, &lookup))
        {
            kept.looking_up.remove(&hash);
        }
        if let Ok(Some(token)) = &found {
            if kept.epoch == Some(epoch) {
                kept.tokens.insert(hash, (Instant::now(), token.clone()));
            }
        }
        found.map_err(DbError::Shared)
    }

    /// The kept tokens, forgotten first if they were looked up before `epoch`.
    fn lock_at(&self, epoch: Epoch) -> std::sync::MutexGuard<'_, Kept> {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.epoch != Some(epoch) && kept.epoch.is_none_or(|before| before < epoch) {
            *kept = Kept {
                epoch: Some(epoch),
                ..Kept::default()
            };
        }
        kept
    }
}
