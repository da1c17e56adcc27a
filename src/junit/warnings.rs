//! Collecting warnings without letting a hostile report grow the list without bound.

use super::error::{Warning, WarningKind};
use super::text::cap_string;

/// Individual warnings kept; past this they are only counted.
const MAX_WARNINGS: usize = 200;
/// A warning quotes names from the report; a hostile name must not make it huge.
const MAX_MESSAGE_BYTES: usize = 1024;

/// A per-kind tally for warnings that would repeat once per test case.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    count: u64,
    first_line: Option<u64>,
}

impl Tally {
    fn add(&mut self, line: u64) {
        self.count += 1;
        self.first_line.get_or_insert(line);
    }
}

#[derive(Debug, Default)]
pub(crate) struct Warnings {
    list: Vec<Warning>,
    dropped: u64,
    missing_duration: Tally,
    invalid_duration: Tally,
    truncated: Tally,
    finished: bool,
}

impl Warnings {
    pub(crate) fn push(&mut self, kind: WarningKind, line: Option<u64>, mut message: String) {
        if self.list.len() < MAX_WARNINGS {
            if cap_string(&mut message, MAX_MESSAGE_BYTES) {
                message.push('…');
            }
            self.list.push(Warning {
                kind,
                line,
                message,
            });
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn missing_duration(&mut self, line: u64) {
        self.missing_duration.add(line);
    }

    pub(crate) fn invalid_duration(&mut self, line: u64) {
        self.invalid_duration.add(line);
    }

    pub(crate) fn truncated(&mut self, line: u64) {
        self.truncated.add(line);
    }

    pub(crate) fn list(&self) -> &[Warning] {
        &self.list
    }

    /// Adds the tallies as single warnings; called once at the end of the report.
    pub(crate) fn finish(&mut self, total_cases: u64, max_text: usize, max_output: usize) {
        if self.finished {
            return;
        }
        self.finished = true;
        let t = self.missing_duration;
        if t.count > 0 {
            self.push(
                WarningKind::MissingDuration,
                t.first_line,
                format!(
                    "{} of {total_cases} test cases have no duration (first at line {})",
                    t.count,
                    t.first_line.unwrap_or(0)
                ),
            );
        }
        let t = self.invalid_duration;
        if t.count > 0 {
            self.push(
                WarningKind::InvalidDuration,
                t.first_line,
                format!(
                    "{} durations are negative, not a number or implausible and were ignored (first at line {})",
                    t.count,
                    t.first_line.unwrap_or(0)
                ),
            );
        }
        let t = self.truncated;
        if t.count > 0 {
            self.push(
                WarningKind::Truncated,
                t.first_line,
                format!(
                    "{} fields were cut (messages and failure text to {max_text} bytes, system-out/err to {max_output} bytes; first at line {})",
                    t.count,
                    t.first_line.unwrap_or(0)
                ),
            );
        }
        if self.dropped > 0 {
            let dropped = self.dropped;
            self.list.push(Warning {
                kind: WarningKind::TooManyWarnings,
                line: None,
                message: format!("{dropped} more warnings were not kept"),
            });
        }
    }
}
