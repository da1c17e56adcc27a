//! flakewatch's analyzer: flakiness scoring (pure functions over plain structs), failure
//! signatures, CI-quality metrics, and a simulator of CI histories with known ground truth.

pub mod baselines;
pub mod evaluate;
pub mod evidence;
pub mod histogram;
pub mod metrics;
pub mod model;
pub mod params;
pub mod run_level;
pub mod scorer;
pub mod signature;
pub mod simulator;
pub mod state;
pub mod summary;

pub use evidence::{Evidence, EvidenceKind};
pub use model::{summarize_run, Outcome, RunContext, RunSummary, Status, TestResultObs};
pub use params::Params;
pub use scorer::{go_inactive, inactive_from, observe, observe_in_place, verdict, Verdict};
pub use state::TestState;
