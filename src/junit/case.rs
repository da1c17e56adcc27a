//! Building one test-case record from the pieces of a `<testcase>` element, and
//! merging repeated executions of the same test into one record.

use super::duration::DurationValue;
use super::record::{Attempt, AttemptKind, Captured, Outcome, Property, TestCase};
use super::text::CappedText;
use std::sync::Arc;

/// Repeats beyond this many start a new record, so one record stays bounded.
pub(crate) const MAX_ATTEMPTS_PER_RECORD: usize = 100;
/// Properties kept per element; the rest are dropped with a warning.
pub(crate) const MAX_PROPERTIES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResultKind {
    Failure,
    Error,
    Skipped,
}

/// The result fields shared by a test case and each of its attempts.
#[derive(Debug, Default)]
pub(crate) struct ResultParts {
    pub message: Option<String>,
    pub failure_type: Option<String>,
    message_from_failing: bool,
    pub text: CappedText,
    pub out: CappedText,
    pub err: CappedText,
}

impl ResultParts {
    /// A `<failure>`/`<error>`/`<skipped>` opened: keep the first message, preferring
    /// a failing element's over a skip's.
    pub(crate) fn open_result(
        &mut self,
        failing: bool,
        message: Option<String>,
        failure_type: Option<String>,
        text_limit: usize,
    ) {
        let replace = self.message.is_none() && self.failure_type.is_none()
            || (failing && !self.message_from_failing);
        if replace && (message.is_some() || failure_type.is_some()) {
            self.message = message;
            self.failure_type = failure_type;
            self.message_from_failing = failing;
        }
        // Several result elements: keep their bodies apart.
        if !self.text.is_empty() {
            self.text.push_str("\n\n", text_limit);
        }
    }

    /// message, type, text, system-out, system-err
    #[allow(clippy::type_complexity)]
    fn into_fields(
        self,
    ) -> (
        Option<String>,
        Option<String>,
        Option<Captured>,
        Option<Captured>,
        Option<Captured>,
    ) {
        (
            self.message,
            self.failure_type,
            self.text.finish(),
            self.out.finish(),
            self.err.finish(),
        )
    }
}

/// An in-progress `<testcase>`.
#[derive(Debug, Default)]
pub(crate) struct CaseBuilder {
    pub classname: Option<String>,
    pub name: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub duration: Option<DurationValue>,
    pub status: Option<String>,
    pub result: Option<String>,
    pub had_error: bool,
    pub had_failure: bool,
    pub had_skipped: bool,
    pub parts: ResultParts,
    pub properties: Vec<Property>,
    pub attempts: Vec<Attempt>,
    /// Attempt children past `MAX_ATTEMPTS_PER_RECORD`, counted, not kept.
    pub attempts_dropped: u64,
    pub suite_level: bool,
    pub source_line: u64,
}

impl CaseBuilder {
    pub(crate) fn mark_result(&mut self, kind: ResultKind) {
        match kind {
            ResultKind::Failure => self.had_failure = true,
            ResultKind::Error => self.had_error = true,
            ResultKind::Skipped => self.had_skipped = true,
        }
    }

    /// Result elements win over status attributes: a `<failure>` is evidence, while
    /// `status="disabled"` next to a failure (seen in the wild) is a tool's confusion.
    fn outcome(&self) -> Outcome {
        if self.had_error {
            return Outcome::Error;
        }
        if self.had_failure {
            return Outcome::Failed;
        }
        if self.had_skipped {
            return Outcome::Skipped;
        }
        let status = self.status.as_deref().map(str::to_ascii_lowercase);
        let result = self.result.as_deref().map(str::to_ascii_lowercase);
        match status.as_deref() {
            // GoogleTest "notrun", tst "disabled", NUnit-ish "ignored"/"skipped"...
            Some(
                "notrun" | "not_run" | "disabled" | "skipped" | "skip" | "ignored" | "pending",
            ) => {
                return Outcome::Skipped;
            }
            Some("failed" | "fail" | "failure") => return Outcome::Failed,
            Some("error" | "errored") => return Outcome::Error,
            _ => {}
        }
        // GoogleTest: status="run" result="skipped" (GTEST_SKIP) or "suppressed".
        match result.as_deref() {
            Some("skipped" | "suppressed") => Outcome::Skipped,
            _ => Outcome::Passed,
        }
    }

    pub(crate) fn finish(self, suite_path: Arc<[String]>) -> Box<TestCase> {
        let outcome = self.outcome();
        let (message, failure_type, text, system_out, system_err) = self.parts.into_fields();
        Box::new(TestCase {
            suite_path,
            classname: self.classname,
            name: self.name,
            file: self.file,
            line: self.line,
            outcome,
            duration_ms: self.duration.and_then(DurationValue::millis),
            message,
            failure_type,
            text,
            system_out,
            system_err,
            properties: self.properties,
            attempts: self.attempts,
            suite_level: self.suite_level,
            source_line: self.source_line,
        })
    }
}

/// An in-progress `<flakyFailure>`, `<rerunError>`...
#[derive(Debug)]
pub(crate) struct AttemptBuilder {
    pub kind: AttemptKind,
    pub duration_ms: Option<i64>,
    pub parts: ResultParts,
}

impl AttemptBuilder {
    pub(crate) fn finish(self) -> Attempt {
        let outcome = match self.kind {
            AttemptKind::FlakyError | AttemptKind::RerunError => Outcome::Error,
            _ => Outcome::Failed,
        };
        let (message, failure_type, text, system_out, system_err) = self.parts.into_fields();
        Attempt {
            kind: self.kind,
            outcome,
            duration_ms: self.duration_ms,
            message,
            failure_type,
            text,
            system_out,
            system_err,
        }
    }
}

/// Same test for merging repeats: same name, and same classname (or both without
/// one, in the same suite).
pub(crate) fn same_identity(a: &TestCase, b: &TestCase) -> bool {
    a.name == b.name
        && match (nonempty(&a.classname), nonempty(&b.classname)) {
            (Some(x), Some(y)) => x == y,
            (None, None) => a.suite_path == b.suite_path,
            _ => false,
        }
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Moves the record's own execution out as an attempt of kind `Repeat`.
fn take_primary(case: &mut TestCase) -> Attempt {
    Attempt {
        kind: AttemptKind::Repeat,
        outcome: case.outcome,
        duration_ms: case.duration_ms.take(),
        message: case.message.take(),
        failure_type: case.failure_type.take(),
        text: case.text.take(),
        system_out: case.system_out.take(),
        system_err: case.system_err.take(),
    }
}

fn set_primary(case: &mut TestCase, a: Attempt) {
    case.outcome = a.outcome;
    case.duration_ms = a.duration_ms;
    case.message = a.message;
    case.failure_type = a.failure_type;
    case.text = a.text;
    case.system_out = a.system_out;
    case.system_err = a.system_err;
}

/// Merges repeated executions of one test (in document order) into one record.
///
/// All executions are lined up in document order; the one that decides the verdict
/// becomes the record's own: the last that passed if any passed (a pass after
/// failures is flakiness), else the last that failed or errored, else the last. The
/// others become `attempts`. Name, classname, file, line and properties come from
/// the first occurrence.
// Boxed records are what the reader passes along; unboxing here would add moves.
#[allow(clippy::vec_box)]
pub(crate) fn merge_repeats(mut group: Vec<Box<TestCase>>) -> Option<Box<TestCase>> {
    if group.len() <= 1 {
        return group.pop();
    }
    let mut runs = Vec::new();
    for occurrence in &mut group {
        runs.append(&mut occurrence.attempts);
        runs.push(take_primary(occurrence));
    }
    let decider = runs
        .iter()
        .rposition(|a| a.outcome == Outcome::Passed)
        .or_else(|| runs.iter().rposition(|a| a.outcome.is_failing()))
        .unwrap_or(runs.len() - 1);
    let primary = runs.remove(decider);
    let mut record = group.swap_remove(0);
    set_primary(&mut record, primary);
    record.attempts = runs;
    Some(record)
}
