//! The job queue: statuses, claiming with leases, wake-ups, and what a job is given.
//!
//! A job is one piece of background work of a kind (`JobKind`): storing an upload,
//! scoring a project's stored runs, purging old results. Workers claim the oldest enqueued
//! job of the kinds they take (`FOR UPDATE SKIP LOCKED` on PostgreSQL), hold it under a
//! lease they renew at batch boundaries, and end it inside the same transaction that does
//! its work, fenced by the claim number: a worker that lost its lease cannot end the job,
//! so its work is done exactly once. SQLite has one writer, so there the whole queue lives
//! in one process. The handlers of each kind and the worker loop live in `jobs`.

pub mod context;
pub mod model;
pub mod queue;
pub mod signals;
pub mod spool_mover;

pub use context::{BatchObserver, WorkerContext};
pub use model::{millis_between, ClaimedTask, JobKind, Progress, TaskStatus, TaskView, Warning};
pub use signals::Signals;
