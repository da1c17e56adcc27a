//! flakewatch: a self-hosted CI flakiness monitor and test-quality dashboard.
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod error;
pub mod store;
pub mod web;
