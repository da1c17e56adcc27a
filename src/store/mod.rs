//! Reads and writes of projects, runs, tests and results. Backend-specific SQL lives here
//! (and in `tasks`), nowhere else.

pub mod instance;
pub mod projects;
pub mod results;
pub mod tokens;
pub mod uploads;
