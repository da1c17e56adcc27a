//! The weekly report: one data set (`data`), the period it covers (`window`) and its
//! formats (`render`: html, md, csv, json).

pub mod data;
pub mod payloads;
pub mod render;
pub mod webhooks;
pub mod window;

pub use data::{load, WeeklyReport};
pub use render::{render, Format};
pub use window::Period;
