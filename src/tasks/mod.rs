//! The store-task queue: statuses, claiming with leases, wake-ups, and the worker loop.
//!
//! A task is one upload waiting to be stored. Workers claim the oldest enqueued task
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), hold it under a lease they renew at batch
//! boundaries, and finish it inside the same transaction that stores its results, fenced by
//! the claim number: a worker that lost its lease cannot complete the task, so results are
//! stored exactly once. SQLite has one writer, so there the whole queue lives in one process.

pub mod model;
pub mod queue;
pub mod signals;
pub mod worker;

pub use model::{millis_between, ClaimedTask, Progress, TaskStatus, TaskView, Warning};
pub use signals::Signals;
