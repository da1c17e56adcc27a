//! Data that no data version tracks, kept for a few seconds: the store queue changes with
//! every upload and every worker's step, so what is drawn from its history (the tasks
//! page's chart, the store timings of the metrics API) is computed at most once per
//! period instead of once per request, and says when it was computed.
//!
//! It is a page cache (`web::page_cache`) whose "data version" is the number of the
//! period the entry was computed in, counted from the cache's start: an entry is served
//! until its period ends, and the first entry of the next period drops the older ones.
//! Requests that miss together share one computation, as pages do. While the first
//! request of a period computes its entry, the others get the previous period's entry
//! rather than wait for it (otherwise, at the turn of every period, all clients of a busy
//! page wait for one computation): so an entry is at most two periods old. Only data that
//! is the same for every viewer of its key goes here; the caller puts the projects it
//! covers in the key.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::page_cache::{PageCache, PageKey};

/// How long an entry is served at most.
pub const PERIOD: Duration = Duration::from_secs(5);
/// The period of what must follow the queue closely (the tasks page's counts and list),
/// whose entries are also keyed by the queue changes a server heard of.
pub const QUEUE_PERIOD: Duration = Duration::from_secs(1);

/// A kept value and when its computation began (it is at least that fresh).
#[derive(Debug)]
pub struct Recent<T> {
    pub value: T,
    pub computed_at: DateTime<Utc>,
}

pub struct RecentCache {
    period: Duration,
    start: Instant,
    pages: PageCache,
}

impl RecentCache {
    /// A cache of at most `capacity` entries (0: every request computes), each kept for
    /// the rest of the period it was computed in.
    pub fn new(capacity: usize) -> RecentCache {
        RecentCache::with_period(capacity, PERIOD)
    }

    pub fn with_period(capacity: usize, period: Duration) -> RecentCache {
        RecentCache {
            period: period.max(Duration::from_millis(1)),
            start: Instant::now(),
            pages: PageCache::new(capacity),
        }
    }

    /// The value kept under (`page`, `project_id`, `query`) in this period, else
    /// `compute`'s, kept for the rest of it. `project_id` is 0 for data of several
    /// projects, which `query` then names.
    pub async fn get_or_compute<T, E, Fut>(
        &self,
        page: &'static str,
        project_id: i64,
        query: String,
        compute: impl FnOnce() -> Fut,
    ) -> Result<Arc<Recent<T>>, E>
    where
        T: Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>>,
    {
        self.get_or_compute_at(Instant::now(), page, project_id, query, compute)
            .await
    }

    async fn get_or_compute_at<T, E, Fut>(
        &self,
        now: Instant,
        page: &'static str,
        project_id: i64,
        query: String,
        compute: impl FnOnce() -> Fut,
    ) -> Result<Arc<Recent<T>>, E>
    where
        T: Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>>,
    {
        let period = self.period_at(now);
        let key = PageKey {
            page,
            project_id,
            data_version: period,
            query,
        };
        if self.pages.computing(&key) {
            let previous = PageKey {
                data_version: period - 1,
                ..key.clone()
            };
            if let Some(kept) = self.pages.get::<Recent<T>>(&previous) {
                return Ok(kept);
            }
        }
        self.pages
            .get_or_compute(key, move || async move {
                let computed_at = Utc::now();
                let value = compute().await?;
                Ok(Arc::new(Recent { value, computed_at }))
            })
            .await
    }

    /// The number of the period `now` falls in.
    fn period_at(&self, now: Instant) -> i64 {
        let elapsed = now.saturating_duration_since(self.start);
        (elapsed.as_millis() / self.period.as_millis()) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn read(cache: &RecentCache, at: Duration, computed: &AtomicUsize) -> usize {
        let now = cache.start + at;
        let kept = cache
            .get_or_compute_at(now, "tasks_chart", 0, "all".into(), || async {
                Ok::<_, ()>(computed.fetch_add(1, Ordering::SeqCst) + 1)
            })
            .await
            .unwrap();
        kept.value
    }

    #[tokio::test]
    async fn a_value_is_kept_for_the_rest_of_its_period_and_computed_again_after() {
        let cache = RecentCache::with_period(8, Duration::from_secs(5));
        let computed = AtomicUsize::new(0);
        assert_eq!(read(&cache, Duration::from_millis(100), &computed).await, 1);
        assert_eq!(
            read(&cache, Duration::from_millis(4_999), &computed).await,
            1
        );
        assert_eq!(
            read(&cache, Duration::from_millis(5_000), &computed).await,
            2,
            "a new period computes again"
        );
        assert_eq!(
            read(&cache, Duration::from_millis(9_000), &computed).await,
            2
        );
        assert_eq!(cache.pages.len(), 1, "the older period's entry is dropped");
    }

    #[tokio::test]
    async fn the_previous_period_is_served_while_the_next_one_is_computed() {
        let cache = RecentCache::with_period(8, Duration::from_secs(5));
        let computed = AtomicUsize::new(0);
        assert_eq!(read(&cache, Duration::from_millis(100), &computed).await, 1);

        let (finish, finished) = tokio::sync::oneshot::channel::<()>();
        let next = cache.get_or_compute_at(
            cache.start + Duration::from_millis(5_000),
            "tasks_chart",
            0,
            "all".into(),
            || async {
                finished.await.expect("the test ends the computation");
                Ok::<_, ()>(computed.fetch_add(1, Ordering::SeqCst) + 1)
            },
        );
        tokio::pin!(next);
        // Polled once, it starts the next period's computation and waits in it.
        tokio::select! {
            biased;
            _ = &mut next => panic!("the computation cannot have ended"),
            _ = std::future::ready(()) => {}
        }
        let stale = tokio::time::timeout(
            Duration::from_secs(10),
            read(&cache, Duration::from_millis(5_001), &computed),
        )
        .await
        .expect("it waited for the next period's computation");
        assert_eq!(stale, 1, "the previous period's value");
        finish.send(()).expect("the computation is waiting");
        assert_eq!(next.await.unwrap().value, 2);
        assert_eq!(
            read(&cache, Duration::from_millis(5_002), &computed).await,
            2
        );
        assert_eq!(computed.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn keys_keep_projects_and_queries_apart() {
        let cache = RecentCache::with_period(8, Duration::from_secs(5));
        let now = cache.start;
        let value = |project_id: i64, query: &str, value: &'static str| {
            cache.get_or_compute_at(
                now,
                "metrics_tasks",
                project_id,
                query.into(),
                move || async move { Ok::<_, ()>(value) },
            )
        };
        assert_eq!(value(1, "since=a", "one a").await.unwrap().value, "one a");
        assert_eq!(value(2, "since=a", "two a").await.unwrap().value, "two a");
        assert_eq!(value(1, "since=b", "one b").await.unwrap().value, "one b");
        assert_eq!(value(1, "since=a", "other").await.unwrap().value, "one a");
    }

    #[tokio::test]
    async fn a_cache_of_no_entries_computes_every_time() {
        let cache = RecentCache::with_period(0, Duration::from_secs(5));
        let computed = AtomicUsize::new(0);
        read(&cache, Duration::ZERO, &computed).await;
        read(&cache, Duration::ZERO, &computed).await;
        assert_eq!(computed.load(Ordering::SeqCst), 2);
    }
}
