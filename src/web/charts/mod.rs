//! Charts drawn on the server: plain daily series in, an inline SVG string out (plotters'
//! `SVGBackend::with_string`), with a `<title>` and `<desc>` for screen readers. Colours
//! are mid-tones that read on a light or a dark page; text and axes follow the page's
//! colours through the stylesheet (`.chart text`).

mod feedback;
mod frame;
mod red_runs;

pub use feedback::feedback_per_day;
pub use red_runs::red_runs_per_day;

use chrono::NaiveDate;

/// One day's red runs by what made them red.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRed {
    pub day: NaiveDate,
    pub false_alarms: usize,
    pub broken: usize,
    pub other: usize,
}

impl DayRed {
    pub fn total(&self) -> usize {
        self.false_alarms + self.broken + self.other
    }
}

/// One day's median time to feedback (pipeline start to last finish), if anything ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayFeedback {
    pub day: NaiveDate,
    pub p50_minutes: Option<f64>,
}
