//! Whether this process hears of every change to what the pages show, and a count of the
//! changes it heard: while it hears them all, a server may keep the projects and their data
//! versions in memory instead of reading them for every request (`web::known_projects`).
//!
//! A change is heard two ways:
//! - made by this process: `changed_here` marks the thread's connection, and the change is
//!   counted when the connection goes back to the pool (after its transaction ended, before
//!   anyone is told the change is done);
//! - made by any process on PostgreSQL: `changed_here` also sends a notification with the
//!   change's transaction, which every process's listener counts (`tasks::signals`).
//!
//! SQLite has no notifications (a command in another process may change the file), so there
//! nothing is ever heard of for sure and pages read the versions each time.

use std::cell::Cell;
use std::sync::{Mutex, PoisonError};

use diesel::sql_types::Text;
use diesel::RunQueryDsl;
use tokio::sync::watch;

use super::DbConnection;

/// The PostgreSQL notification channel of changes to what pages show.
pub const CHANNEL_DATA_CHANGED: &str = "flakewatch_data_changed";
/// A channel for barriers: notifications arrive in the order their transactions committed,
/// so a process that relayed a payload sent here has heard every change committed before
/// it was sent (tests wait on this before reading through another replica).
pub const CHANNEL_SYNC: &str = "flakewatch_sync";

thread_local! {
    /// Set when this thread's connection changed page data; taken when it goes back.
    static CHANGED_HERE: Cell<bool> = const { Cell::new(false) };
}

/// Notes that this thread's connection is changing what pages show (and, on PostgreSQL,
/// tells every process once the transaction commits).
pub fn changed_here(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    CHANGED_HERE.set(true);
    notify(conn, CHANNEL_DATA_CHANGED, "")
}

/// Whether this thread changed page data since the last call.
pub(super) fn take_changed_here() -> bool {
    CHANGED_HERE.replace(false)
}

/// NOTIFY on PostgreSQL, delivered when the surrounding transaction commits; nothing on
/// SQLite.
pub fn notify(conn: &mut DbConnection, channel: &str, payload: &str) -> diesel::QueryResult<()> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(channel)
            .bind::<Text, _>(payload)
            .execute(pg)?;
    }
    Ok(())
}

/// A point in the sequence of changes heard: data read at one epoch is current as long as
/// the epoch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Epoch(u64);

#[derive(Default)]
pub struct DataChanges {
    heard: Mutex<Heard>,
    /// Follows `Heard::listening`, for whoever must wait until every change is heard.
    listening: watch::Sender<bool>,
    /// The latest payload relayed from `CHANNEL_SYNC`.
    synced: watch::Sender<String>,
}

#[derive(Default)]
struct Heard {
    /// True while the listener's LISTEN is in effect: no change can go unheard.
    listening: bool,
    count: u64,
}

impl DataChanges {
    /// The current epoch, or `None` while a change could go unheard.
    pub fn epoch(&self) -> Option<Epoch> {
        let heard = self.lock();
        heard.listening.then_some(Epoch(heard.count))
    }

    /// A change was heard: whatever was read before it is no longer current.
    pub fn heard(&self) {
        self.lock().count += 1;
    }

    /// The listener started or stopped hearing every change. Either way, what was read
    /// before is not trusted (changes made while it was deaf were missed).
    pub fn set_listening(&self, listening: bool) {
        let mut heard = self.lock();
        heard.listening = listening;
        heard.count += 1;
        self.listening.send_replace(listening);
    }

    /// A barrier's payload was relayed: every change committed before it is heard.
    pub fn synced(&self, payload: &str) {
        self.synced.send_replace(payload.to_owned());
    }

    /// Returns once the barrier `payload` was relayed (see `CHANNEL_SYNC`).
    pub async fn until_synced(&self, payload: &str) {
        let mut synced = self.synced.subscribe();
        // The sender lives as long as `self`, so the wait cannot fail.
        let _ = synced.wait_for(|latest| latest == payload).await;
    }

    /// Returns once every change is heard (`true`), or once changes could go unheard
    /// (`false`); at once if that is so already.
    pub async fn until_listening(&self, wanted: bool) {
        let mut listening = self.listening.subscribe();
        // The sender lives as long as `self`, so the wait cannot fail.
        let _ = listening.wait_for(|listening| *listening == wanted).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Heard> {
        self.heard.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_exists_only_while_listening_and_moves_with_every_change() {
        let changes = DataChanges::default();
        assert_eq!(changes.epoch(), None, "nothing is heard before listening");
        changes.set_listening(true);
        let first = changes.epoch().expect("listening");
        assert_eq!(changes.epoch(), Some(first), "no change, same epoch");
        changes.heard();
        let second = changes.epoch().expect("listening");
        assert_ne!(first, second);
        changes.set_listening(false);
        assert_eq!(changes.epoch(), None);
        changes.set_listening(true);
        assert_ne!(
            changes.epoch(),
            Some(second),
            "deaf for a while: nothing read before holds"
        );
    }

    #[test]
    fn a_change_made_here_is_taken_once() {
        CHANGED_HERE.set(true);
        assert!(take_changed_here());
        assert!(!take_changed_here());
    }
}
