//! Reads and writes of projects, runs, tests and results. Backend-specific SQL lives here
//! (and in `tasks`), nowhere else.

pub mod ci_metrics;
pub mod data_versions;
pub mod deliveries;
pub mod duration_days;
pub mod impact;
pub mod instance;
pub mod owners;
pub mod project_gauges;
pub mod project_settings;
pub mod projects;
pub mod quarantines;
pub mod results;
pub mod retention;
pub mod run_names;
pub mod run_verdicts;
pub mod run_views;
pub mod scores;
pub mod sessions;
pub mod spool;
pub mod staging;
pub mod task_rollups;
pub mod task_views;
pub mod test_search;
pub mod test_views;
pub mod tokens;
pub mod uploads;
pub mod window_rollups;
