//! The CI upload client: what `flakewatch upload` and `flakewatch tasks` use to reach a
//! flakewatch server. No database here; only HTTP, files and the CI environment.

pub mod await_task;
pub mod bundle;
pub mod ci_env;
pub mod files;
pub mod http;
pub mod report;
pub mod task;
pub mod verdict;
pub mod warnings;
