//! Wake-ups, so nobody polls: workers wake when a task is enqueued, awaiting clients when
//! their task ends. In one process that is a `Notify` and a broadcast channel; across the
//! processes sharing a PostgreSQL database, `LISTEN/NOTIFY` feeds the same two, and tells
//! the process of every change to what the pages show (`db::changes`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{broadcast, watch, Notify};
use tokio_postgres::AsyncMessage;

use super::queue::{CHANNEL_CHANGED, CHANNEL_ENQUEUED};
use super::Progress;
use crate::db::changes::{DataChanges, CHANNEL_DATA_CHANGED, CHANNEL_SYNC};

/// Sent on the finished channel when notifications may have been missed (the listener
/// reconnected): every waiter re-reads its task.
pub const RESYNC: i64 = -1;
/// Sent on the finished channel when an upload moved from the SQLite spool into the
/// database: waiters on a spooled task (which has no id yet) read it again.
pub const SPOOL_MOVED: i64 = -2;

pub struct Signals {
    /// Changes to the queue this process heard of (uploads, task changes): what the tasks
    /// page keeps is not served past one.
    queue_changes: AtomicU64,
    task_available: Notify,
    task_changed: broadcast::Sender<i64>,
    /// Cancel requests for running tasks of this process. On SQLite this is how a worker
    /// hears of one (a request need not wait for the write lock a store step may hold).
    cancels: Mutex<HashSet<i64>>,
    /// Progress of this process's running tasks, newer than the task row (on SQLite the
    /// row learns it a store step later; on PostgreSQL at each check-in).
    progress: Mutex<HashMap<i64, Progress>>,
}

impl Signals {
    pub fn new() -> Arc<Signals> {
        let (task_changed, _) = broadcast::channel(1024);
        Arc::new(Signals {
            queue_changes: AtomicU64::new(0),
            task_available: Notify::new(),
            task_changed,
            cancels: Mutex::new(HashSet::new()),
            progress: Mutex::new(HashMap::new()),
        })
    }

    /// Wakes every idle worker; each tries to claim, and those that find nothing go back
    /// to waiting.
    pub fn task_enqueued(&self) {
        self.queue_changed();
        self.task_available.notify_waiters();
    }

    /// Counts a change to the queue that wakes nobody (an upload into the SQLite spool).
    pub fn queue_changed(&self) {
        self.queue_changes.fetch_add(1, Ordering::Relaxed);
    }

    /// How many changes to the queue this process heard of.
    pub fn queue_changes(&self) -> u64 {
        self.queue_changes.load(Ordering::Relaxed)
    }

    /// Workers register here *before* they look for work, so a task enqueued between the
    /// look and the wait still wakes them.
    pub fn task_available(&self) -> &Notify {
        &self.task_available
    }

    pub fn task_changed(&self, task_id: i64) {
        self.queue_changed();
        // No receivers simply means nobody is waiting.
        let _ = self.task_changed.send(task_id);
    }

    pub fn request_cancel(&self, task_id: i64) {
        self.cancels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(task_id);
    }

    /// True once if a cancel was requested for `task_id`; clears the request.
    pub fn take_cancel(&self, task_id: i64) -> bool {
        self.cancels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&task_id)
    }

    pub fn report_progress(&self, task_id: i64, progress: Progress) {
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(task_id, progress);
    }

    pub fn progress(&self, task_id: i64) -> Option<Progress> {
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&task_id)
            .copied()
    }

    /// Forgets a task's cancel request and progress once it has stopped running here.
    pub fn task_stopped(&self, task_id: i64) {
        self.take_cancel(task_id);
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&task_id);
    }

    /// Subscribe before reading a task's status, so an end that lands in between is seen.
    pub fn subscribe_changed(&self) -> broadcast::Receiver<i64> {
        self.task_changed.subscribe()
    }
}

/// Relays PostgreSQL notifications into `signals` and `data_changes` until `shutdown` turns
/// true, reconnecting (with a capped back-off) when the connection drops.
pub async fn listen_postgres(
    url: String,
    signals: Arc<Signals>,
    data_changes: Arc<DataChanges>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let ended = tokio::select! {
            ended = relay_until_disconnected(&url, &signals, &data_changes) => ended,
            _ = shutdown.wait_for(|stop| *stop) => {
                data_changes.set_listening(false);
                return;
            }
        };
        // Changes made from now until LISTEN is back would go unheard.
        data_changes.set_listening(false);
        if let Err(err) = ended {
            tracing::warn!(error = %err, "lost the PostgreSQL notification connection; reconnecting");
        }
        // A retry delay, not synchronisation: nothing waits on this sleep but the retry.
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn relay_until_disconnected(
    url: &str,
    signals: &Signals,
    data_changes: &DataChanges,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!(
        "LISTEN {CHANNEL_ENQUEUED}; LISTEN {CHANNEL_CHANGED}; LISTEN {CHANNEL_DATA_CHANGED}; \
         LISTEN {CHANNEL_SYNC}"
    );
    let listen = client.batch_execute(&statement);
    // The connection must be driven for LISTEN to complete, so poll both together.
    tokio::pin!(listen);
    loop {
        tokio::select! {
            done = &mut listen => { done?; break; }
            message = messages.next() => match message {
                Some(Ok(message)) => relay(message, signals, data_changes),
                Some(Err(err)) => return Err(err),
                None => return Ok(()),
            }
        }
    }
    // Anything sent before LISTEN took effect was missed: have everyone look again.
    data_changes.set_listening(true);
    signals.task_enqueued();
    signals.task_changed(RESYNC);
    tracing::debug!("listening for task and data notifications");
    while let Some(message) = messages.next().await {
        relay(message?, signals, data_changes);
    }
    Ok(())
}

/// Notifications come in the order their transactions committed, so a change to page data
/// is counted before the end of a task that made it wakes anyone.
fn relay(message: AsyncMessage, signals: &Signals, data_changes: &DataChanges) {
    if let AsyncMessage::Notification(note) = message {
        match note.channel() {
            CHANNEL_ENQUEUED => signals.task_enqueued(),
            CHANNEL_CHANGED => signals.task_changed(note.payload().parse().unwrap_or(RESYNC)),
            CHANNEL_DATA_CHANGED => data_changes.heard(),
            CHANNEL_SYNC => data_changes.synced(note.payload()),
            _ => {}
        }
    }
}
