//! `flakewatch serve`: the dashboard and API.

use crate::config::ServeSettings;
use crate::web::{self, AppState};

pub fn run(settings: ServeSettings) -> anyhow::Result<()> {
    let db = crate::db::open(&settings.database)?;
    actix_web::rt::System::new().block_on(async move {
        let bound = web::bind(&settings.bind, settings.http_workers, AppState { db })?;
        tracing::info!(addr = %bound.addr, "flakewatch is listening on http://{}", bound.addr);
        // actix stops gracefully on SIGINT and SIGTERM: it finishes requests in flight.
        bound.server.await?;
        tracing::info!("flakewatch stopped");
        Ok(())
    })
}
