//! Computed page data (what a page's template is filled with, never its HTML, which may
//! carry a session's CSRF token or admin-only parts), kept by each server so a page read
//! again is not computed again.
//!
//! Entries are keyed by the project's data version (`store::data_versions`), which every
//! change to what its pages show bumps in the database in the change's own transaction: a
//! request learns the version first (`web::known_projects`), so it never gets data older
//! than a change this server made or saw a task end with before the request began; another
//! server's change shows once its notification arrives. The key also holds the project's
//! id and the page's normalised query, so one project's data is never served for another.
//!
//! Clients that miss the same entry at once share one computation of it (the first one
//! computes, the others wait for its result) instead of each computing the same page.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::lru::Lru;

/// How long an entry is served: pages also read the clock (a quarantine's expiry, "today"
/// for a project without runs), which no data version tracks.
const FRESH_FOR: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// Which page (its handler's name).
    pub page: &'static str,
    pub project_id: i64,
    pub data_version: i64,
    /// The page's parameters, parsed and written back in one canonical form.
    pub query: String,
}

type Entry = (Instant, Arc<dyn Any + Send + Sync>);

/// One computation under way: a `OnceCell<Arc<T>>` for the page's data type `T`.
type Flight = Arc<dyn Any + Send + Sync>;

/// A request's part in a flight, given up however the request ends (a dropped request
/// never gets past its `await`).
struct Landing<'a, T: Any + Send + Sync> {
    cache: &'a PageCache,
    key: &'a PageKey,
    flight: Arc<OnceCell<Arc<T>>>,
}

impl<T: Any + Send + Sync> Drop for Landing<'_, T> {
    fn drop(&mut self) {
        self.cache.land_flight(self.key, &self.flight);
    }
}

pub struct PageCache {
    capacity: usize,
    entries: Mutex<Kept>,
    in_flight: Mutex<HashMap<PageKey, Flight>>,
}

/// The entries, and each project's newest data version among them: entries of older
/// versions can never be asked for again (a request reads the version first), so they
/// go as soon as a newer one is kept. A project changing all the time (uploads scored
/// every few seconds) then holds one version's pages, not the cache's capacity of stale
/// ones.
struct Kept {
    pages: Lru<PageKey, Entry>,
    newest: HashMap<i64, i64>,
}

impl PageCache {
    /// A cache of at most `capacity` pages' data (0: none kept, and nothing shared: every
    /// request computes its page).
    pub fn new(capacity: usize) -> PageCache {
        PageCache {
            capacity,
            entries: Mutex::new(Kept {
                pages: Lru::new(capacity),
                newest: HashMap::new(),
            }),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The data kept under `key`; else the result of the computation of it under way,
    /// waited for; else `compute`'s, which is then kept. When the computing request is
    /// dropped or fails, a waiting one computes instead.
    pub async fn get_or_compute<T, E, Fut>(
        &self,
        key: PageKey,
        compute: impl FnOnce() -> Fut,
    ) -> Result<Arc<T>, E>
    where
        T: Any + Send + Sync,
        Fut: Future<Output = Result<Arc<T>, E>>,
    {
        if let Some(kept) = self.get::<T>(&key) {
            return Ok(kept);
        }
        if self.capacity == 0 {
            return compute().await;
        }
        let flight = Landing {
            cache: self,
            key: &key,
            flight: self.join_flight::<T>(&key),
        };
        let computed = flight.flight.get_or_try_init(compute).await.cloned();
        drop(flight);
        let data = computed?;
        self.put(key, data.clone());
        Ok(data)
    }

    fn join_flight<T: Any + Send + Sync>(&self, key: &PageKey) -> Arc<OnceCell<Arc<T>>> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let flight = in_flight
            .entry(key.clone())
            .or_insert_with(|| Arc::new(OnceCell::<Arc<T>>::new()));
        // The page is part of the key and each page has one data type, so this always
        // matches; were it not to, this request would simply compute on its own.
        flight
            .clone()
            .downcast::<OnceCell<Arc<T>>>()
            .unwrap_or_else(|_| Arc::new(OnceCell::new()))
    }

    /// The flight is over for this request (ended, failed or dropped): it is forgotten once
    /// it has a result or nobody else waits on it, so a later miss (at a newer version, or
    /// after an error) starts another.
    fn land_flight<T: Any + Send + Sync>(&self, key: &PageKey, flight: &Arc<OnceCell<Arc<T>>>) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let same = in_flight.get(key).is_some_and(|f| {
            std::ptr::eq(
                Arc::as_ptr(f).cast::<()>(),
                Arc::as_ptr(flight).cast::<()>(),
            )
        });
        // Two holders: the map and this request.
        if same && (flight.initialized() || Arc::strong_count(flight) <= 2) {
            in_flight.remove(key);
        }
    }

    /// Whether a computation of `key` is under way.
    pub fn computing(&self, key: &PageKey) -> bool {
        let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        in_flight.contains_key(key)
    }

    /// Requests waiting on (or running) the computation of `key`, for tests.
    #[cfg(test)]
    fn sharing(&self, key: &PageKey) -> usize {
        let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        in_flight
            .get(key)
            .map_or(0, |flight| Arc::strong_count(flight) - 1)
    }

    /// The data kept under `key`, when it is still fresh and of type `T`.
    pub fn get<T: Any + Send + Sync>(&self, key: &PageKey) -> Option<Arc<T>> {
        let mut kept = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (stored, value) = kept.pages.get(key)?.clone();
        if stored.elapsed() > FRESH_FOR {
            kept.pages.remove(key);
            return None;
        }
        value.downcast::<T>().ok()
    }

    /// Keeps `value` under `key`, unless a newer version of the project's data is kept
    /// already; a newer version drops the project's older entries.
    pub fn put<T: Any + Send + Sync>(&self, key: PageKey, value: Arc<T>) {
        let mut kept = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let newest = kept
            .newest
            .entry(key.project_id)
            .or_insert(key.data_version);
        if key.data_version < *newest {
            return;
        }
        if key.data_version > *newest {
            *newest = key.data_version;
            let (project_id, version) = (key.project_id, key.data_version);
            kept.pages
                .retain(|k| k.project_id != project_id || k.data_version >= version);
        }
        kept.pages.put(key, (Instant::now(), value));
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pages
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(project_id: i64, data_version: i64) -> PageKey {
        PageKey {
            page: "project",
            project_id,
            data_version,
            query: "?days=7".into(),
        }
    }

    #[test]
    fn data_is_found_only_under_its_project_version_and_type() {
        let cache = PageCache::new(8);
        cache.put(key(1, 3), Arc::new("shop".to_owned()));
        assert_eq!(
            cache.get::<String>(&key(1, 3)).as_deref(),
            Some(&"shop".to_owned())
        );
        assert!(cache.get::<String>(&key(2, 3)).is_none(), "another project");
        assert!(cache.get::<String>(&key(1, 4)).is_none(), "a newer version");
        assert!(
            cache.get::<i64>(&key(1, 3)).is_none(),
            "another page's type"
        );
    }

    #[test]
    fn a_newer_version_drops_the_projects_older_entries_only() {
        let cache = PageCache::new(8);
        cache.put(key(1, 3), Arc::new("shop v3".to_owned()));
        cache.put(key(2, 3), Arc::new("docs v3".to_owned()));
        cache.put(key(1, 4), Arc::new("shop v4".to_owned()));
        assert!(
            cache.get::<String>(&key(1, 3)).is_none(),
            "older version dropped"
        );
        assert!(cache.get::<String>(&key(1, 4)).is_some());
        assert!(
            cache.get::<String>(&key(2, 3)).is_some(),
            "other project kept"
        );
        // A computation that began before the change ends after it: not kept.
        cache.put(key(1, 3), Arc::new("shop v3 again".to_owned()));
        assert!(cache.get::<String>(&key(1, 3)).is_none());
        assert_eq!(cache.len(), 2);
    }

    #[tokio::test]
    async fn clients_missing_at_once_share_one_computation() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cache = Arc::new(PageCache::new(8));
        let computed = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(tokio::sync::Notify::new());
        let clients: Vec<_> = (0..6)
            .map(|_| {
                let (cache, computed, release) = (cache.clone(), computed.clone(), release.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_compute(key(1, 1), || async move {
                            computed.fetch_add(1, Ordering::SeqCst);
                            release.notified().await;
                            Ok::<_, ()>(Arc::new("page".to_owned()))
                        })
                        .await
                })
            })
            .collect();
        // Every client has joined the one computation before it may end.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while cache.sharing(&key(1, 1)) < 6 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the clients never met"
            );
            tokio::task::yield_now().await;
        }
        release.notify_one();
        for client in clients {
            assert_eq!(client.await.unwrap().unwrap().as_str(), "page");
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        assert_eq!(cache.sharing(&key(1, 1)), 0, "the flight is forgotten");
        assert!(
            cache.get::<String>(&key(1, 1)).is_some(),
            "and its data kept"
        );
    }

    #[tokio::test]
    async fn a_failed_computation_is_not_kept_and_the_next_miss_computes_again() {
        let cache = PageCache::new(8);
        let failed = cache
            .get_or_compute(key(1, 1), || async { Err::<Arc<String>, _>("broken") })
            .await;
        assert_eq!(failed, Err("broken"));
        let again = cache
            .get_or_compute(key(1, 1), || async {
                Ok::<_, &str>(Arc::new("page".to_owned()))
            })
            .await;
        assert_eq!(again.unwrap().as_str(), "page");
    }

    #[test]
    fn a_cache_of_no_entries_keeps_nothing() {
        let cache = PageCache::new(0);
        cache.put(key(1, 1), Arc::new(1_i64));
        assert!(cache.is_empty());
        assert!(cache.get::<i64>(&key(1, 1)).is_none());
    }
}
