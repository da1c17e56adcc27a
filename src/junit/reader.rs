//! The streaming state machine: quick-xml events in, [`Item`]s out.
//!
//! One event is read at a time into a reused buffer; an element stack tells where
//! text goes. Finished test cases wait in `pending` for one step so that a repeat of
//! the same test right after it can be merged into it (see the module docs).

use super::case::{
    merge_repeats, same_identity, AttemptBuilder, CaseBuilder, ResultKind, ResultParts,
    MAX_ATTEMPTS_PER_RECORD, MAX_PROPERTIES,
};
use super::dialect::{Dialect, DialectDetector};
use super::duration::{parse_duration, DurationValue};
use super::error::{ErrorKind, ParseError, Warning, WarningKind};
use super::input::{self, Decoded, InputFault, InputInfo, OpenError, Position, Tracker};
use super::record::{
    AttemptKind, DeclaredCounts, Item, Outcome, Property, RunInfo, Suite, SuiteEnd, TestCase,
};
use super::summary::Summary;
use super::text::{
    attr_view, cap_string, resolve_reference, scan_attributes, unescape_attr, CappedText,
};
use super::warnings::Warnings;
use super::ParseOptions;
use quick_xml::errors::{Error as XmlError, IllFormedError, SyntaxError};
use quick_xml::events::{BytesStart, Event};
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::sync::Arc;

/// Test identities remembered for the duplicate warning; past this, no more checks,
/// so memory stays bounded on huge reports.
const MAX_TRACKED_IDENTITIES: usize = 100_000;
/// quick-xml's event buffer is shrunk back after a token larger than this.
const KEPT_BUFFER_CAPACITY: usize = 1 << 20;

/// Where character data inside the current element goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    Discard,
    CaseText,
    CaseOut,
    CaseErr,
    AttemptText,
    AttemptOut,
    AttemptErr,
    SuiteOut,
    SuiteErr,
    PropertyValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PropertyOwner {
    Run,
    Suite,
    Case,
}

/// What an open element is, for routing its children and its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    /// `<testsuites>` / `<testrun>`; `root` for the outermost one.
    Container {
        root: bool,
    },
    Suite,
    Case,
    /// `<failure>`/`<error>`/`<skipped>` of a case, or directly in a suite.
    Result,
    Attempt,
    Properties(PropertyOwner),
    Property,
    /// A text-only child (`system-out`, `stackTrace`, an unknown element...).
    Text(Sink),
}

impl Elem {
    fn sink(self) -> Sink {
        match self {
            Elem::Result => Sink::CaseText,
            Elem::Attempt => Sink::AttemptText,
            Elem::Property => Sink::PropertyValue,
            Elem::Text(sink) => sink,
            _ => Sink::Discard,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Elem::Container { .. } => "<testsuites>",
            Elem::Suite => "<testsuite>",
            Elem::Case => "<testcase>",
            Elem::Result => "a <failure>/<error>/<skipped> element",
            Elem::Attempt => "a <flakyFailure>/<rerunFailure> element",
            Elem::Properties(_) => "<properties>",
            Elem::Property => "<property>",
            Elem::Text(_) => "an element",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Open {
    elem: Elem,
    line: u64,
}

/// Occurrences counted the way report writers count them (repeats counted each).
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    tests: u64,
    failures: u64,
    errors: u64,
    skipped: u64,
}

impl Counts {
    fn add_outcome(&mut self, outcome: Outcome) {
        self.tests += 1;
        match outcome {
            Outcome::Failed => self.failures += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Passed => {}
        }
    }

    fn add(&mut self, other: Counts) {
        self.tests += other.tests;
        self.failures += other.failures;
        self.errors += other.errors;
        self.skipped += other.skipped;
    }

    /// Describes every declared count that disagrees with what was seen.
    fn disagreements(&self, declared: &DeclaredCounts) -> Vec<String> {
        let pairs = [
            ("tests", declared.tests, self.tests),
            ("failures", declared.failures, self.failures),
            ("errors", declared.errors, self.errors),
            ("skipped", declared.skipped, self.skipped),
        ];
        pairs
            .iter()
            .filter_map(|&(what, declared, seen)| match declared {
                Some(d) if d != seen => Some(format!("{what}={d} but {seen} found")),
                _ => None,
            })
            .collect()
    }
}

/// `message`, `type` and `time` of a result or attempt element.
struct ResultAttrs {
    message: Option<String>,
    failure_type: Option<String>,
    duration_ms: Option<i64>,
}

struct SuiteFrame {
    suite: Suite,
    started: bool,
    out: CappedText,
    err: CappedText,
    late_properties: Vec<Property>,
    counts: Counts,
    line: u64,
}

#[derive(Default)]
struct PropertyBuilder {
    owner: Option<PropertyOwner>,
    name: String,
    value: Option<String>,
    text: CappedText,
}

/// Streaming JUnit XML reader. Call [`JunitReader::next_item`] until it returns `None`.
pub struct JunitReader<R: Read> {
    xml: quick_xml::Reader<Tracker<Decoded<R>>>,
    buf: Vec<u8>,
    source_name: String,
    opts: ParseOptions,
    info: InputInfo,
    stack: Vec<Open>,
    suites: Vec<SuiteFrame>,
    case: Option<CaseBuilder>,
    attempt: Option<AttemptBuilder>,
    property: PropertyBuilder,
    /// Finished executions of one test, waiting to see whether the next case repeats it.
    #[allow(clippy::vec_box)] // records stay boxed from builder to caller: fewer moves
    pending: Vec<Box<TestCase>>,
    /// Outcome of the `<testcase>` element that last went into `pending`.
    pending_last: Outcome,
    out: VecDeque<Item>,
    run: Option<RunInfo>,
    run_counts: Counts,
    summary: Summary,
    seen_identities: HashSet<u64, BuildHasherDefault<PreHashed>>,
    warnings: Warnings,
    detector: DialectDetector,
    roots_seen: u32,
    /// Line of the start tag being handled (set in `open`).
    tag_line: u64,
    /// Any markup at all (declaration, comment...) before the end.
    saw_markup: bool,
    empty_path: Arc<[String]>,
    failed: Option<ParseError>,
    done: bool,
}

impl<R: Read> JunitReader<R> {
    /// Opens a report: sniffs gzip and the encoding. Fails only on an empty input or
    /// a read error; everything else surfaces from `next_item`.
    pub fn new(input: R, source_name: &str, opts: ParseOptions) -> Result<Self, ParseError> {
        let at_start = |kind| ParseError {
            source_name: source_name.to_owned(),
            line: 1,
            column: 1,
            kind,
        };
        let (decoded, info) = match input::open(input, opts.max_decompressed_bytes) {
            Ok(opened) => opened,
            Err(OpenError::Empty) => return Err(at_start(ErrorKind::Empty)),
            Err(OpenError::Io(e)) => return Err(at_start(fault_kind(&e))),
        };
        let mut xml = quick_xml::Reader::from_reader(Tracker::new(decoded, opts.max_token_bytes));
        let config = xml.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        config.check_comments = false;
        // Sloppy tools write bare `&`; keep it as text rather than reject the report.
        config.allow_dangling_amp = true;
        let mut warnings = Warnings::default();
        if let Some(note) = &info.encoding_note {
            warnings.push(WarningKind::Encoding, Some(1), note.clone());
        }
        Ok(JunitReader {
            xml,
            buf: Vec::with_capacity(4096),
            source_name: source_name.to_owned(),
            opts,
            info,
            stack: Vec::new(),
            suites: Vec::new(),
            case: None,
            attempt: None,
            property: PropertyBuilder::default(),
            pending: Vec::new(),
            pending_last: Outcome::Passed,
            out: VecDeque::new(),
            run: None,
            run_counts: Counts::default(),
            summary: Summary::default(),
            seen_identities: HashSet::default(),
            warnings,
            detector: DialectDetector::default(),
            roots_seen: 0,
            tag_line: 1,
            saw_markup: false,
            empty_path: Arc::from(Vec::new()),
            failed: None,
            done: false,
        })
    }

    /// The next suite start, test case or suite end, in document order; `None` at the end.
    /// After an error, the same error is returned again.
    pub fn next_item(&mut self) -> Result<Option<Item>, ParseError> {
        loop {
            if let Some(item) = self.out.pop_front() {
                return Ok(Some(item));
            }
            if let Some(err) = &self.failed {
                return Err(err.clone());
            }
            if self.done {
                return Ok(None);
            }
            if let Err(err) = self.step() {
                self.failed = Some(err.clone());
                return Err(err);
            }
        }
    }

    pub fn warnings(&self) -> &[Warning] {
        self.warnings.list()
    }

    pub fn dialect(&self) -> Dialect {
        self.detector.dialect()
    }

    /// Decompressed bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.xml.get_ref().bytes_read()
    }

    /// Counts of the records yielded so far (all of them once `next_item` gave `None`).
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// The root `<testsuites>` attributes, once seen.
    pub fn run_info(&self) -> Option<&RunInfo> {
        self.run.as_ref()
    }

    /// Whether the input was gzip-compressed.
    pub fn was_gzip(&self) -> bool {
        self.info.gzip
    }

    /// The encoding the report was read in (`UTF-8`, `UTF-16LE`, `windows-1252`...).
    pub fn encoding(&self) -> &'static str {
        self.info.encoding
    }

    fn step(&mut self) -> Result<(), ParseError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if buf.capacity() > KEPT_BUFFER_CAPACITY {
            buf = Vec::with_capacity(4096);
        }
        self.xml.get_mut().start_token();
        let result = match self.xml.read_event_into(&mut buf) {
            Ok(event) => self.handle(event),
            Err(e) => Err(self.xml_error(e)),
        };
        self.buf = buf;
        result
    }

    fn handle(&mut self, event: Event<'_>) -> Result<(), ParseError> {
        match event {
            Event::Start(e) => self.open(&e, false),
            Event::Empty(e) => self.open(&e, true),
            Event::End(_) => self.close(),
            Event::Text(t) => self.text(&t),
            Event::CData(t) => {
                self.push_text(&t);
                Ok(())
            }
            Event::GeneralRef(r) => {
                let sink = self.current_sink();
                if sink == Sink::Discard {
                    return self.check_top_level_text("&");
                }
                let resolved = resolve_reference(&r);
                self.push_to(sink, &resolved);
                Ok(())
            }
            Event::DocType(d) => {
                self.saw_markup = true;
                self.doctype(&d)
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {
                self.saw_markup = true;
                Ok(())
            }
            Event::Eof => self.eof(),
        }
    }

    // ---- errors and positions -------------------------------------------------

    fn error_at(&self, pos: Position, kind: ErrorKind) -> ParseError {
        ParseError {
            source_name: self.source_name.clone(),
            line: pos.line,
            column: pos.column,
            kind,
        }
    }

    /// An error about the event being read: placed where that event starts.
    fn error_here(&mut self, kind: ErrorKind) -> ParseError {
        let start = self.start();
        self.error_at(start, kind)
    }

    /// Where the event being handled starts (computed lazily by the tracker).
    fn start(&mut self) -> Position {
        self.xml.get_mut().token_start()
    }

    fn xml_error(&mut self, err: XmlError) -> ParseError {
        let here = self.start();
        let end = self.xml.get_mut().position();
        let unclosed = |what: &str| {
            self.error_at(
                end,
                ErrorKind::Truncated {
                    context: format!("inside {what} that starts at line {}", here.line),
                },
            )
        };
        match err {
            XmlError::Io(io) => match InputFault::from_io(&io) {
                Some(InputFault::TokenTooLarge(_)) => self.error_at(here, fault_kind(&io)),
                _ => self.error_at(end, fault_kind(&io)),
            },
            XmlError::Syntax(s) => match s {
                SyntaxError::UnclosedCData => unclosed("a CDATA section"),
                SyntaxError::UnclosedComment => unclosed("a comment"),
                SyntaxError::UnclosedTag
                | SyntaxError::UnclosedSingleQuotedAttributeValue
                | SyntaxError::UnclosedDoubleQuotedAttributeValue => unclosed("a tag"),
                SyntaxError::UnclosedDoctype => unclosed("the DOCTYPE"),
                SyntaxError::UnclosedPI | SyntaxError::UnclosedXmlDecl => {
                    unclosed("a processing instruction")
                }
                other => self.error_here(ErrorKind::Malformed {
                    detail: other.to_string(),
                }),
            },
            XmlError::IllFormed(IllFormedError::MissingEndTag(name)) => self.error_at(
                end,
                ErrorKind::Truncated {
                    context: format!("inside <{}>", sanitize(&name)),
                },
            ),
            XmlError::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => self
                .error_here(ErrorKind::Malformed {
                    detail: format!(
                        "closing tag </{}> does not match the open <{}>",
                        sanitize(&found),
                        sanitize(&expected)
                    ),
                }),
            XmlError::IllFormed(IllFormedError::UnmatchedEndTag(name)) => {
                self.error_here(ErrorKind::Malformed {
                    detail: format!("closing tag </{}> has no opening tag", sanitize(&name)),
                })
            }
            other => self.error_here(ErrorKind::Malformed {
                detail: other.to_string(),
            }),
        }
    }

    // ---- element routing --------------------------------------------------------

    fn current_sink(&self) -> Sink {
        self.stack.last().map_or(Sink::Discard, |o| o.elem.sink())
    }

    fn open(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), ParseError> {
        if self.stack.len() >= self.opts.max_depth {
            return Err(self.error_here(ErrorKind::TooDeep {
                limit: self.opts.max_depth,
            }));
        }
        self.tag_line = self.start().line;
        let local = e.local_name();
        let name: &str = local.as_ref();
        let parent = self.stack.last().map(|o| o.elem);
        let elem = match parent {
            None => self.open_root(e, name)?,
            Some(Elem::Container { .. }) => match name {
                "testsuite" => self.open_suite(e)?,
                "testsuites" => Elem::Container { root: false },
                "testcase" => self.open_case(e)?,
                "properties" => Elem::Properties(PropertyOwner::Run),
                _ => Elem::Text(Sink::Discard),
            },
            Some(Elem::Suite) => match name {
                "testcase" => self.open_case(e)?,
                "testsuite" => self.open_suite(e)?,
                "properties" => Elem::Properties(PropertyOwner::Suite),
                "property" => self.open_property(e, PropertyOwner::Suite)?,
                "system-out" => Elem::Text(Sink::SuiteOut),
                "system-err" => Elem::Text(Sink::SuiteErr),
                "error" | "failure" => self.open_suite_result(e, name)?,
                _ => Elem::Text(Sink::Discard),
            },
            Some(Elem::Case) => match name {
                "failure" => self.open_result(e, ResultKind::Failure)?,
                "error" => self.open_result(e, ResultKind::Error)?,
                "skipped" => self.open_result(e, ResultKind::Skipped)?,
                "flakyFailure" => self.open_attempt(e, AttemptKind::FlakyFailure)?,
                "flakyError" => self.open_attempt(e, AttemptKind::FlakyError)?,
                "rerunFailure" => self.open_attempt(e, AttemptKind::RerunFailure)?,
                "rerunError" => self.open_attempt(e, AttemptKind::RerunError)?,
                "system-out" => Elem::Text(Sink::CaseOut),
                "system-err" => Elem::Text(Sink::CaseErr),
                "properties" => Elem::Properties(PropertyOwner::Case),
                "property" => self.open_property(e, PropertyOwner::Case)?,
                _ => Elem::Text(Sink::Discard),
            },
            Some(Elem::Attempt) => match name {
                "system-out" => Elem::Text(Sink::AttemptOut),
                "system-err" => Elem::Text(Sink::AttemptErr),
                _ => Elem::Text(Sink::AttemptText),
            },
            Some(Elem::Properties(owner)) => match name {
                "property" => self.open_property(e, owner)?,
                _ => Elem::Text(Sink::Discard),
            },
            // Children of a failure (e.g. <message>, <stack-trace>) add to its text.
            Some(other) => Elem::Text(other.sink()),
        };
        self.stack.push(Open {
            elem,
            line: self.tag_line,
        });
        if empty {
            self.close()?;
        }
        Ok(())
    }

    fn open_root(&mut self, e: &BytesStart<'_>, name: &str) -> Result<Elem, ParseError> {
        self.roots_seen += 1;
        if self.roots_seen == 2 {
            self.warnings.push(
                WarningKind::Leniency,
                Some(self.tag_line),
                "the report has more than one root element (concatenated files?); all are read"
                    .to_owned(),
            );
        }
        match name {
            "testsuites" | "testrun" => {
                if self.run.is_none() {
                    let mut run = RunInfo::default();
                    self.for_each_attr(e, |key, value| match key {
                        "name" => run.name = Some(unescape_attr(value)),
                        "timestamp" => run.timestamp = Some(unescape_attr(value)),
                        "time" => run.duration_ms = parse_duration(&attr_view(value)).millis(),
                        _ => read_declared(&mut run.declared, key, value),
                    })?;
                    if let Some(n) = &run.name {
                        self.detector.root_name(n);
                    }
                    self.run = Some(run);
                }
                Ok(Elem::Container { root: true })
            }
            "testsuite" => self.open_suite(e),
            _ if self.roots_seen > 1 => Ok(Elem::Text(Sink::Discard)),
            _ if name.eq_ignore_ascii_case("html") => Err(self.error_here(ErrorKind::Html)),
            _ => Err(self.error_here(ErrorKind::NotJunit {
                root: sanitize(name),
                hint: not_junit_hint(name).to_owned(),
            })),
        }
    }

    fn open_suite(&mut self, e: &BytesStart<'_>) -> Result<Elem, ParseError> {
        self.flush_pending();
        self.ensure_started();
        let mut suite = Suite {
            path: self.empty_path.clone(),
            name: String::new(),
            timestamp: None,
            hostname: None,
            id: None,
            package: None,
            file: None,
            duration_ms: None,
            declared: DeclaredCounts::default(),
            properties: Vec::new(),
        };
        let mut schema = None;
        let mut bad_duration = false;
        self.for_each_attr(e, |key, value| match key {
            "name" => suite.name = unescape_attr(value),
            "timestamp" => suite.timestamp = Some(unescape_attr(value)),
            "hostname" => suite.hostname = Some(unescape_attr(value)),
            "id" => suite.id = Some(unescape_attr(value)),
            "package" => suite.package = Some(unescape_attr(value)),
            "file" | "filepath" => suite.file = Some(unescape_attr(value)),
            "time" => match parse_duration(&attr_view(value)) {
                DurationValue::Millis(ms) => suite.duration_ms = Some(ms),
                DurationValue::Invalid => bad_duration = true,
                DurationValue::Missing => {}
            },
            "noNamespaceSchemaLocation" => schema = Some(unescape_attr(value)),
            _ => read_declared(&mut suite.declared, key, value),
        })?;
        if bad_duration {
            self.warnings.invalid_duration(self.tag_line);
        }
        self.detector
            .suite(&suite.name, schema.as_deref(), suite.hostname.as_deref());
        let mut path: Vec<String> = self.current_path().to_vec();
        path.push(suite.name.clone());
        suite.path = Arc::from(path);
        self.suites.push(SuiteFrame {
            suite,
            started: false,
            out: CappedText::default(),
            err: CappedText::default(),
            late_properties: Vec::new(),
            counts: Counts::default(),
            line: self.tag_line,
        });
        Ok(Elem::Suite)
    }

    fn open_case(&mut self, e: &BytesStart<'_>) -> Result<Elem, ParseError> {
        self.ensure_started();
        let mut case = CaseBuilder {
            source_line: self.tag_line,
            ..CaseBuilder::default()
        };
        let mut class_attr = None;
        let mut has_assertions = false;
        let mut duration_attr = None;
        self.for_each_attr(e, |key, value| match key {
            "name" => case.name = unescape_attr(value),
            "classname" => case.classname = Some(unescape_attr(value)),
            "class" => class_attr = Some(unescape_attr(value)),
            "file" | "filepath" => case.file = Some(unescape_attr(value)),
            "line" | "lineno" => case.line = attr_view(value).trim().parse().ok(),
            "time" => case.duration = Some(parse_duration(&attr_view(value))),
            "duration" => duration_attr = Some(unescape_attr(value)),
            "status" => case.status = Some(unescape_attr(value)),
            "result" => case.result = Some(unescape_attr(value)),
            "assertions" => has_assertions = true,
            _ => {}
        })?;
        if duration_attr.is_some() {
            self.detector.bazel_duration_attr();
        }
        self.detector.case(
            class_attr.is_some(),
            has_assertions,
            case.status.as_deref(),
            case.result.is_some(),
        );
        if case.classname.as_deref().is_none_or(str::is_empty) && class_attr.is_some() {
            case.classname = class_attr;
        }
        if case.duration.is_none() {
            // Bazel writes `duration` next to `time`; alone it is seconds too.
            case.duration = duration_attr.map(|d| parse_duration(&d));
        }
        self.case = Some(case);
        Ok(Elem::Case)
    }

    /// Reads `message` and `type`, capped.
    fn result_attrs(&mut self, e: &BytesStart<'_>) -> Result<ResultAttrs, ParseError> {
        let (mut message, mut failure_type, mut duration) = (None, None, None);
        self.for_each_attr(e, |key, value| match key {
            "message" => message = Some(unescape_attr(value)),
            "type" => failure_type = Some(unescape_attr(value)),
            "time" => duration = parse_duration(&attr_view(value)).millis(),
            _ => {}
        })?;
        let limit = self.opts.max_text;
        for field in [&mut message, &mut failure_type].into_iter().flatten() {
            if cap_string(field, limit) {
                self.warnings.truncated(self.tag_line);
            }
        }
        Ok(ResultAttrs {
            message,
            failure_type,
            duration_ms: duration,
        })
    }

    fn open_result(&mut self, e: &BytesStart<'_>, kind: ResultKind) -> Result<Elem, ParseError> {
        let ResultAttrs {
            message,
            failure_type,
            ..
        } = self.result_attrs(e)?;
        let limit = self.opts.max_text;
        if let Some(case) = self.case.as_mut() {
            case.mark_result(kind);
            case.parts
                .open_result(kind != ResultKind::Skipped, message, failure_type, limit);
        }
        Ok(Elem::Result)
    }

    /// `<error>`/`<failure>` directly in a suite: the suite itself failed (Ant writes
    /// this when a test class cannot be loaded). Becomes a record named `(suite)`.
    fn open_suite_result(&mut self, e: &BytesStart<'_>, name: &str) -> Result<Elem, ParseError> {
        self.ensure_started();
        let suite_name = self.suites.last().map(|f| f.suite.name.clone());
        let mut case = CaseBuilder {
            classname: suite_name,
            name: "(suite)".to_owned(),
            suite_level: true,
            source_line: self.tag_line,
            ..CaseBuilder::default()
        };
        let kind = if name == "error" {
            ResultKind::Error
        } else {
            ResultKind::Failure
        };
        let ResultAttrs {
            message,
            failure_type,
            ..
        } = self.result_attrs(e)?;
        case.mark_result(kind);
        case.parts
            .open_result(true, message, failure_type, self.opts.max_text);
        self.case = Some(case);
        Ok(Elem::Result)
    }

    fn open_attempt(&mut self, e: &BytesStart<'_>, kind: AttemptKind) -> Result<Elem, ParseError> {
        self.detector.rerun_element();
        let ResultAttrs {
            message,
            failure_type,
            duration_ms,
        } = self.result_attrs(e)?;
        let mut parts = ResultParts::default();
        parts.open_result(true, message, failure_type, self.opts.max_text);
        self.attempt = Some(AttemptBuilder {
            kind,
            duration_ms,
            parts,
        });
        Ok(Elem::Attempt)
    }

    fn open_property(
        &mut self,
        e: &BytesStart<'_>,
        owner: PropertyOwner,
    ) -> Result<Elem, ParseError> {
        let mut property = PropertyBuilder {
            owner: Some(owner),
            ..PropertyBuilder::default()
        };
        self.for_each_attr(e, |key, value| match key {
            "name" => property.name = unescape_attr(value),
            "value" => property.value = Some(unescape_attr(value)),
            _ => {}
        })?;
        if let Some(value) = property.value.as_mut() {
            if cap_string(value, self.opts.max_text) {
                self.warnings.truncated(self.tag_line);
            }
        }
        self.detector.property(&property.name);
        self.property = property;
        Ok(Elem::Property)
    }

    fn for_each_attr(
        &mut self,
        e: &BytesStart<'_>,
        f: impl FnMut(&str, &str),
    ) -> Result<(), ParseError> {
        scan_attributes(e.attributes_raw(), f).map_err(|detail| {
            self.error_here(ErrorKind::Malformed {
                detail: format!("bad attribute: {detail}"),
            })
        })
    }

    // ---- closing elements -------------------------------------------------------

    fn close(&mut self) -> Result<(), ParseError> {
        let Some(open) = self.stack.pop() else {
            return Ok(());
        };
        match open.elem {
            Elem::Container { root } => {
                self.flush_pending();
                if root && self.stack.is_empty() {
                    self.check_run_counts();
                }
            }
            Elem::Suite => self.close_suite(),
            Elem::Case => self.close_case(),
            Elem::Result => {
                // A suite-level result is a complete record of its own.
                if self.stack.last().map(|o| o.elem) == Some(Elem::Suite) {
                    self.close_case();
                }
            }
            Elem::Attempt => {
                if let (Some(attempt), Some(case)) = (self.attempt.take(), self.case.as_mut()) {
                    let attempt = attempt.finish();
                    if attempt.text.as_ref().is_some_and(|t| t.truncated) {
                        self.warnings.truncated(open.line);
                    }
                    if case.attempts.len() < MAX_ATTEMPTS_PER_RECORD {
                        case.attempts.push(attempt);
                    } else {
                        case.attempts_dropped += 1;
                    }
                }
            }
            Elem::Property => self.close_property(open.line),
            Elem::Properties(_) | Elem::Text(_) => {}
        }
        Ok(())
    }

    fn close_property(&mut self, line: u64) {
        let builder = std::mem::take(&mut self.property);
        let value = match builder.value {
            Some(v) => v,
            None => builder.text.into_string(),
        };
        let property = Property {
            name: builder.name,
            value,
        };
        let target = match builder.owner {
            Some(PropertyOwner::Case) => self.case.as_mut().map(|c| &mut c.properties),
            Some(PropertyOwner::Suite) => self.suites.last_mut().map(|f| {
                if f.started {
                    &mut f.late_properties
                } else {
                    &mut f.suite.properties
                }
            }),
            Some(PropertyOwner::Run) | None => None,
        };
        if let Some(list) = target {
            if list.len() < MAX_PROPERTIES {
                list.push(property);
            } else if list.len() == MAX_PROPERTIES {
                self.warnings.push(
                    WarningKind::Truncated,
                    Some(line),
                    format!("more than {MAX_PROPERTIES} properties on one element; the rest were dropped"),
                );
            }
        }
    }

    fn close_case(&mut self) {
        let Some(builder) = self.case.take() else {
            return;
        };
        let line = builder.source_line;
        if builder.attempts_dropped > 0 {
            self.warnings.push(
                WarningKind::Truncated,
                Some(line),
                format!(
                    "{} beyond the first {MAX_ATTEMPTS_PER_RECORD} of one <testcase> {} dropped",
                    crate::wording::count(builder.attempts_dropped, "re-run"),
                    crate::wording::agree(builder.attempts_dropped, "was", "were")
                ),
            );
        }
        match builder.duration {
            None | Some(DurationValue::Missing) if !builder.suite_level => {
                self.warnings.missing_duration(line)
            }
            Some(DurationValue::Invalid) => self.warnings.invalid_duration(line),
            _ => {}
        }
        let path = self.current_path_arc();
        let case = builder.finish(path);
        if [&case.text, &case.system_out, &case.system_err]
            .into_iter()
            .flatten()
            .any(|c| c.truncated)
        {
            self.warnings.truncated(line);
        }
        match self.suites.last_mut() {
            Some(frame) => frame.counts.add_outcome(case.outcome),
            None => self.run_counts.add_outcome(case.outcome),
        }
        let this_outcome = case.outcome;
        let is_rerun = self
            .pending
            .first()
            .is_some_and(|first| is_rerun_of(first, self.pending.len(), self.pending_last, &case));
        if !is_rerun {
            self.flush_pending();
        }
        self.pending.push(case);
        self.pending_last = this_outcome;
    }

    fn close_suite(&mut self) {
        self.ensure_started();
        self.flush_pending();
        let Some(frame) = self.suites.pop() else {
            return;
        };
        let problems = frame.counts.disagreements(&frame.suite.declared);
        if !problems.is_empty() {
            self.warnings.push(
                WarningKind::CountMismatch,
                Some(frame.line),
                format!(
                    "suite \"{}\" declares {}",
                    frame.suite.name,
                    problems.join(", ")
                ),
            );
        }
        match self.suites.last_mut() {
            Some(parent) => parent.counts.add(frame.counts),
            None => self.run_counts.add(frame.counts),
        }
        let (out, err) = (frame.out.finish(), frame.err.finish());
        for c in [&out, &err].into_iter().flatten() {
            if c.truncated {
                self.warnings.truncated(frame.line);
            }
        }
        self.out.push_back(Item::SuiteEnd(SuiteEnd {
            path: frame.suite.path,
            system_out: out,
            system_err: err,
            late_properties: frame.late_properties,
        }));
    }

    fn check_run_counts(&mut self) {
        let Some(run) = &self.run else {
            return;
        };
        let problems = self.run_counts.disagreements(&run.declared);
        if !problems.is_empty() {
            let message = format!("the report's <testsuites> declares {}", problems.join(", "));
            self.warnings
                .push(WarningKind::CountMismatch, Some(1), message);
        }
    }

    /// Emits the innermost suite's start once its leading properties are known.
    fn ensure_started(&mut self) {
        if let Some(frame) = self.suites.last_mut() {
            if !frame.started {
                frame.started = true;
                let suite = frame.suite.clone();
                self.out.push_back(Item::SuiteStart(suite));
            }
        }
    }

    fn flush_pending(&mut self) {
        let group = std::mem::take(&mut self.pending);
        if let Some(record) = merge_repeats(group) {
            self.release(record);
        }
    }

    /// A record is final: count it, check for a non-adjacent duplicate, yield it.
    fn release(&mut self, record: Box<TestCase>) {
        self.summary.add(&record);
        if self.seen_identities.len() < MAX_TRACKED_IDENTITIES
            && !record.name.is_empty()
            && !self.seen_identities.insert(identity_hash(&record))
        {
            self.warnings.push(
                WarningKind::DuplicateIdentity,
                Some(record.source_line),
                format!(
                    "test {} appears more than once; each occurrence is kept as its own record",
                    record.identity()
                ),
            );
        }
        self.out.push_back(Item::Case(record));
    }

    fn current_path(&self) -> &[String] {
        self.suites.last().map_or(&[], |f| &f.suite.path)
    }

    fn current_path_arc(&self) -> Arc<[String]> {
        self.suites
            .last()
            .map_or_else(|| self.empty_path.clone(), |f| f.suite.path.clone())
    }

    // ---- character data ---------------------------------------------------------

    fn text(&mut self, raw: &str) -> Result<(), ParseError> {
        // Indentation around <stackTrace>/<system-out> inside a <flakyFailure> is
        // layout, not part of the stack trace.
        let top = self.stack.last().map(|o| o.elem);
        if top == Some(Elem::Attempt) && raw.trim().is_empty() {
            return Ok(());
        }
        match self.current_sink() {
            Sink::Discard => self.check_top_level_text(raw),
            _ => {
                self.push_text(raw);
                Ok(())
            }
        }
    }

    /// Text before the first element means the file is not XML at all.
    fn check_top_level_text(&mut self, raw: &str) -> Result<(), ParseError> {
        if !self.stack.is_empty() || self.roots_seen > 0 {
            return Ok(());
        }
        match raw.trim_start() {
            "" => Ok(()),
            rest => {
                let found: String = rest.chars().take(16).collect();
                Err(self.error_here(ErrorKind::NotXml {
                    found: format!("{:?}", found),
                }))
            }
        }
    }

    fn push_text(&mut self, raw: &str) {
        let sink = self.current_sink();
        self.push_to(sink, raw);
    }

    fn push_to(&mut self, sink: Sink, raw: &str) {
        let (text_limit, out_limit) = (self.opts.max_text, self.opts.max_captured_output);
        let (target, limit): (Option<&mut CappedText>, usize) = match sink {
            Sink::Discard => return,
            Sink::CaseText => (self.case.as_mut().map(|c| &mut c.parts.text), text_limit),
            Sink::CaseOut => (self.case.as_mut().map(|c| &mut c.parts.out), out_limit),
            Sink::CaseErr => (self.case.as_mut().map(|c| &mut c.parts.err), out_limit),
            Sink::AttemptText => (self.attempt.as_mut().map(|a| &mut a.parts.text), text_limit),
            Sink::AttemptOut => (self.attempt.as_mut().map(|a| &mut a.parts.out), out_limit),
            Sink::AttemptErr => (self.attempt.as_mut().map(|a| &mut a.parts.err), out_limit),
            Sink::SuiteOut => (self.suites.last_mut().map(|f| &mut f.out), out_limit),
            Sink::SuiteErr => (self.suites.last_mut().map(|f| &mut f.err), out_limit),
            Sink::PropertyValue => (Some(&mut self.property.text), text_limit),
        };
        if let Some(target) = target {
            target.push_str(raw, limit);
        }
    }

    fn doctype(&mut self, content: &str) -> Result<(), ParseError> {
        if content.contains("<!ENTITY") {
            return Err(self.error_here(ErrorKind::EntityDeclaration));
        }
        let name = content.trim_ascii_start().as_bytes();
        if name.len() >= 4 && name[..4].eq_ignore_ascii_case(b"html") {
            return Err(self.error_here(ErrorKind::Html));
        }
        Ok(())
    }

    fn eof(&mut self) -> Result<(), ParseError> {
        let end = self.xml.get_mut().position();
        if let Some(open) = self
            .stack
            .iter()
            .rev()
            .find(|o| !matches!(o.elem, Elem::Text(_)))
            .or(self.stack.last())
        {
            return Err(self.error_at(
                end,
                ErrorKind::Truncated {
                    context: format!(
                        "inside {} that starts at line {}",
                        open.elem.describe(),
                        open.line
                    ),
                },
            ));
        }
        if self.roots_seen == 0 && !self.saw_markup {
            return Err(self.error_at(end, ErrorKind::Empty));
        }
        if self.roots_seen == 0 {
            // Only a declaration or comments.
            return Err(self.error_at(
                end,
                ErrorKind::Truncated {
                    context: "before the first element".to_owned(),
                },
            ));
        }
        self.flush_pending();
        if self.xml.get_ref().replaced_invalid_bytes() {
            self.warnings.push(
                WarningKind::Encoding,
                None,
                format!(
                    "bytes that are not valid {} were replaced with U+FFFD",
                    self.info.encoding
                ),
            );
        }
        let total = self.summary.tests;
        self.warnings
            .finish(total, self.opts.max_text, self.opts.max_captured_output);
        let dialect = self.detector.dialect();
        if dialect != Dialect::Generic {
            self.warnings.push(
                WarningKind::DialectDetected,
                None,
                format!("report written by {}", dialect.name()),
            );
        }
        self.done = true;
        Ok(())
    }
}

/// A 64-bit hash of the identity (classname or suite path, then name), without
/// building the identity string; word-at-a-time multiply-rotate (FxHash-style).
/// Collisions only cost a spurious warning.
fn identity_hash(case: &TestCase) -> u64 {
    fn feed(h: &mut u64, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            *h = (h.rotate_left(5) ^ word).wrapping_mul(K);
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        *h = (h.rotate_left(5) ^ u64::from_le_bytes(last) ^ (bytes.len() as u64) << 56)
            .wrapping_mul(K);
    }
    let mut h = 0u64;
    match case.classname.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => feed(&mut h, c.as_bytes()),
        None => {
            for part in case.suite_path.iter() {
                feed(&mut h, part.as_bytes());
            }
        }
    }
    feed(&mut h, &[0xff]);
    feed(&mut h, case.name.as_bytes());
    h
}

/// Hasher for keys that are already hashes.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Whether `next` re-runs the test of `record`: same identity, a real name, and the
/// execution right before it did not pass. Re-run tools only re-run what failed
/// (TestNG marks the retried attempt skipped), so a same-named case after a pass is
/// another parameterisation (Boost.Test, Fixie generics, jest `test.each`), not a rerun.
fn is_rerun_of(first: &TestCase, group_len: usize, last: Outcome, next: &TestCase) -> bool {
    last != Outcome::Passed
        && !next.name.is_empty()
        && group_len + first.attempts.len() <= MAX_ATTEMPTS_PER_RECORD
        && same_identity(first, next)
}

/// Reads `tests`/`failures`/`errors`/`skipped` (and `skip`, `skips`, `disabled`).
fn read_declared(declared: &mut DeclaredCounts, key: &str, value: &str) {
    let parse = || value.trim().parse::<u64>().ok();
    match key {
        "tests" => declared.tests = parse(),
        "failures" => declared.failures = parse(),
        "errors" => declared.errors = parse(),
        "skipped" | "skip" | "skips" => {
            declared.skipped = Some(declared.skipped.unwrap_or(0) + parse().unwrap_or(0))
        }
        // GoogleTest and tst count disabled tests apart from skipped ones.
        "disabled" => {
            if let Some(n) = parse().filter(|&n| n > 0) {
                declared.skipped = Some(declared.skipped.unwrap_or(0) + n);
            }
        }
        _ => {}
    }
}

fn not_junit_hint(root: &str) -> &'static str {
    match root {
        "assemblies" | "assembly" => {
            " (it is xUnit.net's own format: run `dotnet test --logger junit`, or convert it)"
        }
        "test-run" | "test-results" => " (it is NUnit's own format: convert it to JUnit first)",
        "TestRun" => " (it is a Visual Studio TRX file: convert it to JUnit first)",
        _ => "",
    }
}

/// Names from the input, made safe to show in one line.
fn sanitize(s: &str) -> String {
    let mut out: String = s.chars().take(40).flat_map(char::escape_debug).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

fn fault_kind(err: &std::io::Error) -> ErrorKind {
    match InputFault::from_io(err) {
        Some(InputFault::TooLarge(limit)) => ErrorKind::TooLarge { limit: *limit },
        Some(InputFault::TokenTooLarge(limit)) => ErrorKind::TokenTooLarge { limit: *limit },
        Some(InputFault::Gzip(detail)) => ErrorKind::Gzip {
            detail: detail.clone(),
        },
        Some(InputFault::GzipTruncated) => ErrorKind::Truncated {
            context: "in the gzip stream".to_owned(),
        },
        None => ErrorKind::Io {
            detail: err.to_string(),
        },
    }
}
