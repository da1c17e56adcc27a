//! How warnings reach a person: information as plain notes, problems as `warning:` lines,
//! and a kind that repeats (a test that appears twice, once per test) shown a few times
//! with the rest counted, so a CI log or a terminal is not flooded.

use std::collections::HashMap;

use super::task::Task;
use crate::junit::WarningKind;

/// Lines shown for each kind of warning; the rest are counted.
pub const SHOWN_PER_KIND: usize = 3;

/// Task warning codes that tell something rather than warn of a problem: the tool that
/// wrote the report, and how many files a bundle held.
const INFORMATION: [&str; 2] = [WarningKind::DialectDetected.code(), "files"];

/// A message about a report, of some kind (a warning code such as `duplicate_identity`).
pub struct Note {
    pub kind: String,
    pub text: String,
}

/// The lines a task's warnings make, in the order the server listed them.
pub fn task_lines(task: &Task) -> Vec<String> {
    let (info, problems): (Vec<_>, Vec<_>) = task
        .warnings
        .iter()
        .map(|w| Note {
            kind: w.code.clone(),
            text: w.message.clone(),
        })
        .partition(|note| INFORMATION.contains(&note.kind.as_str()));
    let mut lines: Vec<String> = info
        .into_iter()
        .map(|note| format!("flakewatch: {}", note.text))
        .collect();
    lines.extend(grouped(problems));
    lines
}

/// `warning: KIND: TEXT` lines, at most [`SHOWN_PER_KIND`] of each kind, then one line
/// counting the kind's other warnings.
pub fn grouped(notes: impl IntoIterator<Item = Note>) -> Vec<String> {
    let mut shown: HashMap<String, usize> = HashMap::new();
    let mut hidden: Vec<(String, usize)> = Vec::new();
    let mut lines = Vec::new();
    for note in notes {
        let seen = shown.entry(note.kind.clone()).or_default();
        *seen += 1;
        if *seen <= SHOWN_PER_KIND {
            lines.push(format!("warning: {}: {}", note.kind, note.text));
        } else if let Some(entry) = hidden.iter_mut().find(|(kind, _)| *kind == note.kind) {
            entry.1 += 1;
        } else {
            hidden.push((note.kind, 1));
        }
    }
    for (kind, more) in hidden {
        lines.push(format!("warning: {kind}: and {more} more of this kind"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeats_are_counted_and_information_is_not_a_warning() {
        let mut warnings = vec![json!({"code": "dialect_detected",
                                       "message": "a.xml: report written by pytest"})];
        for line in 1..=5 {
            warnings.push(json!({"code": "duplicate_identity",
                                 "message": format!("a.xml: line {line}: test t appears more than once")}));
        }
        warnings.push(json!({"code": "count_mismatch", "message": "a.xml: tests=3 but 2 found"}));
        let task = Task::from_json(&json!({"id": 1, "project": "p", "status": "completed",
                                           "warnings": warnings}))
        .unwrap();
        assert_eq!(
            task_lines(&task),
            [
                "flakewatch: a.xml: report written by pytest",
                "warning: duplicate_identity: a.xml: line 1: test t appears more than once",
                "warning: duplicate_identity: a.xml: line 2: test t appears more than once",
                "warning: duplicate_identity: a.xml: line 3: test t appears more than once",
                "warning: count_mismatch: a.xml: tests=3 but 2 found",
                "warning: duplicate_identity: and 2 more of this kind",
            ]
        );
    }
}
