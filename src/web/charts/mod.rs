//! Charts drawn on the server: plain daily series in, an inline SVG string out (plotters'
//! `SVGBackend::with_string`), with a `<title>` and `<desc>` for screen readers. Colours
//! are mid-tones that read on a light or a dark page; text and axes follow the page's
//! colours through the stylesheet (`.chart text`).

mod bars;
mod frame;
mod lines;
mod red_runs;
mod sparkline;

pub use bars::{daily_bars, DailyBars};
pub use frame::{BROKEN, LINE, OTHER, SECOND};
pub use lines::{daily_lines, Daily, Line};
pub use red_runs::red_runs_per_day;
pub use sparkline::sparkline;

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
