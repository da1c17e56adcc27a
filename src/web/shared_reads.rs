//! Reads shared by the requests that need them at once, within one epoch of the changes a
//! server hears (`db::changes`): every change sends all requests in progress to read again
//! together (32 clients, several changes per CI run), and each taking a pool connection for
//! the same small read kept them waiting seconds for one. Used by `web::known_projects`
//! and `web::known_tokens`.
//!
//! A failed read is shared too: with the database down, the waiting requests all answer at
//! once rather than each waiting for its own attempt; the next request tries again.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use crate::db::changes::Epoch;
use crate::db::DbError;

type Shared<V> = Arc<OnceCell<Result<V, Arc<DbError>>>>;

struct UnderWay<K, V> {
    epoch: Option<Epoch>,
    reads: HashMap<K, Shared<V>>,
}

pub struct SharedReads<K, V> {
    under_way: Mutex<UnderWay<K, V>>,
}

impl<K, V> Default for SharedReads<K, V> {
    fn default() -> Self {
        SharedReads {
            under_way: Mutex::new(UnderWay {
                epoch: None,
                reads: HashMap::new(),
            }),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> SharedReads<K, V> {
    /// `read`'s result, or that of the read of `key` under way in the same `epoch`. A
    /// request of an older epoch than the reads under way reads alone: what they find may
    /// reflect changes it must not see mixed with what it read before.
    pub async fn read(
        &self,
        epoch: Epoch,
        key: K,
        read: impl Future<Output = Result<V, DbError>>,
    ) -> Result<V, DbError> {
        let shared = {
            let mut under_way = self.lock();
            if under_way.epoch.is_none_or(|at| at < epoch) {
                under_way.epoch = Some(epoch);
                under_way.reads.clear();
            }
            (under_way.epoch == Some(epoch)).then(|| {
                under_way
                    .reads
                    .entry(key.clone())
                    .or_insert_with(|| Arc::new(OnceCell::new()))
                    .clone()
            })
        };
        let Some(shared) = shared else {
            return read.await;
        };
        let result = shared
            .get_or_init(|| async { read.await.map_err(Arc::new) })
            .await
            .clone();
        // Over: a later request reads again (the caller keeps what it wants kept).
        let mut under_way = self.lock();
        if under_way
            .reads
            .get(&key)
            .is_some_and(|now| Arc::ptr_eq(now, &shared))
        {
            under_way.reads.remove(&key);
        }
        result.map_err(DbError::Shared)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UnderWay<K, V>> {
        self.under_way
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
