//! `flakewatch worker`: store workers without the HTTP server, to scale storing out on
//! PostgreSQL (several processes, one database).

use crate::config::WorkerProcessSettings;
use crate::db::{Backend, DatabaseTarget};
use crate::service::{termination_signal, Background};

pub fn run(mut settings: WorkerProcessSettings) -> anyhow::Result<()> {
    if DatabaseTarget::parse(&settings.database.database_url)?.backend() == Backend::Sqlite {
        anyhow::bail!(
            "`flakewatch worker` needs PostgreSQL: a SQLite database is served by one `flakewatch serve` process, which runs its own workers (set DATABASE_URL=postgres://...)"
        );
    }
    settings.worker.delivery.public_url = settings.public_url.clone();
    let db = crate::db::open(&settings.database)?;
    let count = settings.worker.worker_count().max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        // No spool and no uploads here: the body memory is never drawn on.
        let body_memory = crate::body_memory::BodyMemory::new(u64::MAX);
        let background = Background::start(&db, &settings.worker, count, None, None, body_memory);
        tracing::info!(workers = count, "flakewatch worker is running");
        termination_signal().await;
        background.shutdown().await;
        Ok(())
    })
}
