//! What a server keeps between requests so that pages are not computed again, all sized by
//! `--page-cache-entries` (0 keeps nothing): built in one place, so the server and the
//! tests' servers keep the same.

use std::sync::Arc;

use super::known_projects::KnownProjects;
use super::known_tokens::KnownTokens;
use super::page_cache::PageCache;
use super::recent_cache::{RecentCache, QUEUE_PERIOD};

#[derive(Clone)]
pub struct Caches {
    /// Computed page data, by project data version (`page_cache`).
    pub pages: Arc<PageCache>,
    /// The projects and their data versions, kept while every change is heard.
    pub known_projects: Arc<KnownProjects>,
    /// The API tokens checked lately, kept while every change is heard.
    pub known_tokens: Arc<KnownTokens>,
    /// Data of the store queue, kept for a few seconds (`recent_cache`).
    pub recent: Arc<RecentCache>,
    /// The tasks page's counts and list and the scoring backlog, kept for a second.
    pub queue: Arc<RecentCache>,
}

impl Caches {
    /// Each cache holds at most `entries` entries; with 0 every request is computed.
    pub fn new(entries: usize) -> Self {
        Caches {
            pages: Arc::new(PageCache::new(entries)),
            known_projects: Arc::new(KnownProjects::new(entries > 0)),
            known_tokens: Arc::new(KnownTokens::new(entries > 0)),
            recent: Arc::new(RecentCache::new(entries)),
            queue: Arc::new(RecentCache::with_period(entries, QUEUE_PERIOD)),
        }
    }
}
