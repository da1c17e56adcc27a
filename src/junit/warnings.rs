//! Collecting warnings without letting a hostile report grow the list without bound.

use super::error::{Warning, WarningKind};
use super::text::cap_string;
use crate::wording::{agree, count};

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
                    "{} of {} {} no duration (first at line {})",
                    t.count,
                    count(total_cases, "test case"),
                    agree(t.count, "has", "have"),
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
                    "{} {} negative, not a number or implausible and {} ignored (first at line {})",
                    count(t.count, "duration"),
                    agree(t.count, "is", "are"),
                    agree(t.count, "was", "were"),
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
                    "{} {} cut (messages and failure text to {max_text} bytes, system-out/err to {max_output} bytes; first at line {})",
                    count(t.count, "field"),
                    agree(t.count, "was", "were"),
                    t.first_line.unwrap_or(0)
                ),
            );
        }
        if self.dropped > 0 {
            let dropped = self.dropped;
            self.list.push(Warning {
                kind: WarningKind::TooManyWarnings,
                line: None,
                message: format!(
                    "{dropped} more {} {} not kept",
                    agree(dropped, "warning", "warnings"),
                    agree(dropped, "was", "were")
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(warnings: &Warnings) -> Vec<&str> {
        warnings.list().iter().map(|w| w.message.as_str()).collect()
    }

    #[test]
    fn tallies_agree_with_their_counts() {
        let mut one = Warnings::default();
        one.missing_duration(3);
        one.invalid_duration(4);
        one.truncated(5);
        one.finish(1, 10, 20);
        assert_eq!(
            messages(&one),
            [
                "1 of 1 test case has no duration (first at line 3)",
                "1 duration is negative, not a number or implausible and was ignored (first at line 4)",
                "1 field was cut (messages and failure text to 10 bytes, system-out/err to 20 bytes; first at line 5)",
            ]
        );
        let mut two = Warnings::default();
        for line in [3, 9] {
            two.missing_duration(line);
        }
        two.finish(5, 10, 20);
        assert_eq!(
            messages(&two),
            ["2 of 5 test cases have no duration (first at line 3)"]
        );
    }
}
