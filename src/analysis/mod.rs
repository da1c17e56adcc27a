//! Scoring and classification of tests, failure signatures and CI metrics: pure functions
//! over plain structs, so they are tested without a database.

pub mod signature;
