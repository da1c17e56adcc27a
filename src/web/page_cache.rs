//! Computed page data (what a page's template is filled with, never its HTML, which may
//! carry a session's CSRF token or admin-only parts), kept by each server so a page read
//! again is not computed again.
//!
//! Entries are keyed by the project's data version (`store::data_versions`), which every
//! change to what its pages show bumps in the database in the change's own transaction: a
//! request reads the version first, so it never gets data older than what was committed
//! before it began, whichever server made the change. The key also holds the project's
//! id and the page's normalised query, so one project's data is never served for another.

use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

pub struct PageCache {
    entries: Mutex<Lru<PageKey, Entry>>,
}

impl PageCache {
    /// A cache of at most `capacity` pages' data (0: none kept).
    pub fn new(capacity: usize) -> PageCache {
        PageCache {
            entries: Mutex::new(Lru::new(capacity)),
        }
    }

    /// The data kept under `key`, when it is still fresh and of type `T`.
    pub fn get<T: Any + Send + Sync>(&self, key: &PageKey) -> Option<Arc<T>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (stored, value) = entries.get(key)?.clone();
        if stored.elapsed() > FRESH_FOR {
            entries.remove(key);
            return None;
        }
        value.downcast::<T>().ok()
    }

    pub fn put<T: Any + Send + Sync>(&self, key: PageKey, value: Arc<T>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.put(key, (Instant::now(), value));
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
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
    fn a_cache_of_no_entries_keeps_nothing() {
        let cache = PageCache::new(0);
        cache.put(key(1, 1), Arc::new(1_i64));
        assert!(cache.is_empty());
        assert!(cache.get::<i64>(&key(1, 1)).is_none());
    }
}
