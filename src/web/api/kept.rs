//! API reads kept in the page cache with the pages' data (`web::page_cache`): called
//! after the token check, keyed by the token's project and that project's data version,
//! which is known first (`web::known_projects`), so an answer is never older than a change
//! this server made or saw a task end with before the request began; another server's
//! change shows once its notification arrives.

use std::sync::Arc;

use diesel::QueryResult;

use crate::db::{DbConnection, DbError};
use crate::error::ApiError;
use crate::web::page_cache::PageKey;
use crate::web::AppState;

/// The data kept under (`page`, `project_id`, its data version, `query`), else `work`'s
/// (once for every request missing it together), then kept. `query` must hold every
/// parameter `work` depends on, in one canonical form.
pub async fn by_data_version<T, F>(
    state: &AppState,
    page: &'static str,
    project_id: i64,
    query: String,
    work: F,
) -> Result<Arc<T>, ApiError>
where
    T: Send + Sync + 'static,
    F: FnOnce(&mut DbConnection) -> QueryResult<T> + Send + 'static,
{
    let data_version = state
        .caches
        .known_projects
        .version(&state.db, project_id)
        .await
        .map_err(ApiError::storage)?;
    let key = PageKey {
        page,
        project_id,
        data_version,
        query,
    };
    // Waiting for another request's computation holds no database connection.
    let compute = || async move {
        state
            .db
            .run(move |conn| work(conn).map(Arc::new).map_err(DbError::from))
            .await
            .map_err(ApiError::storage)
    };
    state.caches.pages.get_or_compute(key, compute).await
}
