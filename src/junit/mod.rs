//! Streaming JUnit XML parser.
//!
//! [`JunitReader`] reads a report from any [`std::io::Read`] — plain or gzip (detected
//! by its magic bytes), in UTF-8, UTF-16 or a legacy encoding named by the XML
//! declaration — and yields [`Item`]s in document order: a [`Suite`] start, each
//! [`TestCase`], a [`SuiteEnd`]. Memory stays bounded whatever the input: captured
//! text is cut at [`ParseOptions`] limits, one XML token may not exceed
//! `max_token_bytes`, nesting may not exceed `max_depth`, and decompression stops at
//! `max_decompressed_bytes`. DTD entities are never expanded (a DOCTYPE that declares
//! any is rejected).
//!
//! # Test identity
//! A test is identified by **classname + name**. Where a tool writes no classname
//! (or an empty one) the **suite path** (the names of the enclosing `<testsuite>`s,
//! outermost first, joined with `/`) stands in for it. `<testsuites>` containers and
//! the file name are not part of the identity, so the same test from two runs (or two
//! shards) is the same test. See [`TestCase::identity`].
//!
//! # Outcomes and in-run attempts
//! A case is `error` if it has an `<error>`, else `failed` with a `<failure>`, else
//! `skipped` with a `<skipped>`; without any of these, a `status`/`result` attribute
//! decides (`notrun`, `disabled`, `ignored`, `skipped`... mean skipped; `failed` and
//! `error` mean what they say), else it passed.
//!
//! Extra executions of a test in the same run become [`Attempt`]s of one record:
//! * Surefire/nextest `<flakyFailure>`/`<flakyError>` (failed, then passed on re-run)
//!   and `<rerunFailure>`/`<rerunError>` (failed on every re-run) children. The case's
//!   own result stays the verdict: with only flaky children it **passed** (and is
//!   flaky in the run); with rerun children it **failed**.
//! * Repeated `<testcase>` elements (pytest-rerunfailures, TestNG retries, retry
//!   plugins). **Rule:** a `<testcase>` is merged into the record right before it
//!   when (1) both are in the same suite with nothing but non-suite elements
//!   between them, (2) they have the same identity and a non-empty name, and
//!   (3) the `<testcase>` right before it did **not** pass. Re-run tools only re-run
//!   what failed (TestNG marks the retried attempt skipped), so a same-named case
//!   after a pass is another parameterisation (Boost.Test data cases, Fixie
//!   generics, jest `test.each` with a fixed title) and stays its own record. In a
//!   merged record the last execution that passed decides (a pass after failures is
//!   flakiness), else the last that failed or errored; the others become attempts.
//!   Only adjacent cases are merged, so the parser holds one record back at most;
//!   at most 100 attempts go into one record. A repeat that is not merged is kept
//!   as its own record and, when not adjacent, reported with a `DuplicateIdentity`
//!   warning. Caveat: same-named parameterised cases where the first fails look
//!   exactly like a rerun and are merged.
//!
//! [`TestCase::is_flaky_in_run`] is true when the verdict is passed and an attempt
//! failed. [`Summary`] counts records (not `<testcase>` elements).
//!
//! A `<failure>`/`<error>` directly inside a `<testsuite>` (Ant, when a class cannot
//! load) becomes a record named `(suite)` with the suite name as classname.

mod case;
mod dialect;
mod duration;
mod error;
mod input;
mod reader;
mod record;
mod summary;
mod text;
mod warnings;
pub mod writer;

pub use dialect::Dialect;
pub use duration::{parse_duration, DurationValue};
pub use error::{ErrorKind, ParseError, Warning, WarningKind};
pub use reader::JunitReader;
pub use record::{
    Attempt, AttemptKind, Captured, DeclaredCounts, Item, Outcome, Property, RunInfo, Suite,
    SuiteEnd, TestCase, TestIdentity,
};
pub use summary::Summary;

use serde::Serialize;
use std::io::Read;

/// Limits that keep a hostile or broken report from exhausting memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Bytes of each system-out/system-err kept; the rest is cut and marked truncated.
    pub max_captured_output: usize,
    /// Bytes of each failure message and failure text kept.
    pub max_text: usize,
    /// Deepest element nesting accepted.
    pub max_depth: usize,
    /// Largest report accepted once decompressed.
    pub max_decompressed_bytes: u64,
    /// Largest single tag (with its attributes) or uninterrupted text run buffered.
    /// quick-xml hands over a text run whole, so one `<system-out>` larger than this fails
    /// the report instead of being truncated; the default leaves room for real captured
    /// output while keeping memory bounded.
    pub max_token_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_captured_output: 64 * 1024,
            max_text: 64 * 1024,
            max_depth: 256,
            max_decompressed_bytes: 2 * 1024 * 1024 * 1024,
            max_token_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A whole report read into memory: for tests, the CLI `parse` command and small uploads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParsedReport {
    pub run: Option<RunInfo>,
    pub suites: Vec<Suite>,
    pub cases: Vec<TestCase>,
    pub summary: Summary,
    pub dialect: Dialect,
    pub warnings: Vec<Warning>,
}

/// Reads a whole report. Suite ends are dropped; use [`JunitReader`] to stream.
pub fn parse_all<R: Read>(
    input: R,
    source_name: &str,
    opts: ParseOptions,
) -> Result<ParsedReport, ParseError> {
    let mut reader = JunitReader::new(input, source_name, opts)?;
    let mut suites = Vec::new();
    let mut cases = Vec::new();
    while let Some(item) = reader.next_item()? {
        match item {
            Item::SuiteStart(s) => suites.push(s),
            Item::Case(c) => cases.push(*c),
            Item::SuiteEnd(_) => {}
        }
    }
    Ok(ParsedReport {
        run: reader.run_info().cloned(),
        suites,
        summary: reader.summary(),
        dialect: reader.dialect(),
        warnings: reader.warnings().to_vec(),
        cases,
    })
}
