//! Progress of long database work on stderr: a bar redrawn in place on a terminal, one
//! line per 10% in a CI log.

use std::io::{IsTerminal, Write};

use crate::wording::count;

/// A progress printer for `done` of `total` units named `unit` ("run").
pub struct Progress {
    unit: &'static str,
    interactive: bool,
    last_percent: Option<usize>,
}

impl Progress {
    pub fn new(unit: &'static str) -> Self {
        Progress {
            unit,
            interactive: std::io::stderr().is_terminal(),
            last_percent: None,
        }
    }

    pub fn update(&mut self, done: usize, total: usize) {
        let percent = done * 100 / total.max(1);
        if self.last_percent == Some(percent) {
            return;
        }
        self.last_percent = Some(percent);
        if self.interactive {
            let filled = percent / 5;
            eprint!(
                "\r[{}{}] {percent:>3}% {done} of {}",
                "#".repeat(filled),
                " ".repeat(20 - filled),
                count(total, self.unit)
            );
            let _ = std::io::stderr().flush();
        } else if percent % 10 == 0 {
            eprintln!("{percent}% ({done} of {})", count(total, self.unit));
        }
    }

    /// Ends the bar's line on a terminal.
    pub fn finish(&self) {
        if self.interactive && self.last_percent.is_some() {
            eprintln!();
        }
    }
}
