//! SQLite only: moves uploads from the spool (see `store::spool`) into the database, one
//! short transaction each, as soon as the database's write lock can be had.
//!
//! Waiting for that lock is this task's job, so no request does: while a report's store
//! holds it, uploads pile up in the spool and their tasks answer `enqueued`; each move then
//! wakes the workers (a task to claim) and the clients awaiting a spooled task.

use std::sync::Arc;
use std::time::Duration;

use diesel::SqliteConnection;
use tokio::sync::watch;

use super::signals::{Signals, SPOOL_MOVED};
use crate::body_memory::BodyMemory;
use crate::db::{Database, DbError};
use crate::store::spool::{self, Spool};

/// Uploads looked up per pass; a pass goes on until the spool is empty.
const PASS: i64 = 100;
/// Pause before trying again after an error (the database's busy timeout already waited
/// for the lock): a retry delay, nothing waits on it but the retry.
const RETRY: Duration = Duration::from_secs(1);

/// Runs until `shutdown` turns true; what is still spooled then is moved at the next start.
pub async fn run(
    spool: Arc<Spool>,
    memory: Arc<BodyMemory>,
    db: Database,
    signals: Arc<Signals>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        // Registered before the pass, so an upload spooled during it starts another.
        let arrived = spool.arrived().notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        let (pass_spool, pass_db, pass_signals) = (spool.clone(), db.clone(), signals.clone());
        let (stop, pass_memory) = (shutdown.clone(), memory.clone());
        let pass = tokio::task::spawn_blocking(move || {
            move_all(&pass_spool, &pass_memory, &pass_db, &pass_signals, &stop)
        })
        .await;
        let failed = match pass {
            Ok(Ok(())) => false,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "could not move spooled uploads into the database; retrying");
                true
            }
            Err(err) => {
                tracing::error!(error = %err, "the spool mover's pass died; retrying");
                true
            }
        };
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            _ = &mut arrived, if !failed => {}
            _ = tokio::time::sleep(RETRY), if failed => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Moves every spooled upload, oldest first, stopping early at shutdown. An error names
/// how many stayed spooled; the next pass tries them again.
fn move_all(
    spool: &Spool,
    memory: &BodyMemory,
    db: &Database,
    signals: &Signals,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), String> {
    let mut conn = spool.connect().map_err(|err| err.to_string())?;
    let (mut after, mut failures) = (0, 0);
    loop {
        let ids = spool::oldest_after(&mut conn, after, PASS).map_err(|err| err.to_string())?;
        if ids.is_empty() {
            break;
        }
        for id in ids {
            if *shutdown.borrow() {
                return Ok(());
            }
            after = id;
            match move_one(&mut conn, memory, db, id) {
                Ok(()) => {
                    signals.task_enqueued();
                    signals.task_changed(SPOOL_MOVED);
                }
                // One upload that cannot be moved must not hold up the others.
                Err(err) => {
                    tracing::warn!(spooled = id, error = %err, "could not move a spooled upload; it stays spooled");
                    failures += 1;
                }
            }
        }
    }
    match failures {
        0 => Ok(()),
        n => Err(format!("{n} spooled uploads could not be moved this time")),
    }
}

fn move_one(
    conn: &mut SqliteConnection,
    memory: &BodyMemory,
    db: &Database,
    id: i64,
) -> Result<(), DbError> {
    let Some(size) = spool::payload_size(conn, id)? else {
        return Ok(());
    };
    // On a blocking thread of the runtime: waiting for room blocks only this pass.
    let _room = tokio::runtime::Handle::current().block_on(memory.reserve_for_write(size));
    let Some(upload) = spool::load(conn, id)? else {
        return Ok(());
    };
    let mut main = db.connection()?;
    let enqueued = spool::copy_into(&mut main, &upload)?;
    // Committed in the database; only now may the spooled copy go.
    spool::remove(conn, id)?;
    tracing::debug!(
        spooled = id,
        task = enqueued.task_id,
        already_stored = enqueued.duplicate,
        "moved a spooled upload into the database"
    );
    Ok(())
}
