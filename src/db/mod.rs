//! Storage plumbing: which database, how to connect, the pool, the schema, migrations.
//! Queries live in `store` and `tasks`, not here.

pub mod changes;
mod connection;
pub mod migrations;
mod pool;
pub mod schema;
mod target;
pub mod wal;

pub use connection::{
    connect, without_flush_wait, without_flush_wait_pg, write_transaction, DbConnection,
    MultiBackend,
};
pub use pool::{open, open_for_command, Checkout, Database, DbError, DbPool, PooledConnection};
pub use target::{redact, Backend, DatabaseTarget};
