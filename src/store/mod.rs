//! Reads and writes of projects, runs, tests and results. Backend-specific SQL lives here
//! (and in `tasks`), nowhere else.

pub mod projects;
