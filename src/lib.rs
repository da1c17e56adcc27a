//! flakewatch: a self-hosted CI flakiness monitor and test-quality dashboard.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod body_memory;
pub mod cli;
pub mod client;
pub mod codeowners;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod exclusions;
pub mod ingest;
pub mod jobs;
pub mod junit;
pub mod metrics;
pub mod report;
pub mod secrets;
pub mod service;
pub mod store;
pub mod tasks;
pub mod web;
pub mod wording;
