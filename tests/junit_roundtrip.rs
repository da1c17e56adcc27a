//! Property test: random reports written with `JunitWriter` read back into the same
//! items and counts.

use flakewatch::junit::writer::JunitWriter;
use flakewatch::junit::{
    Attempt, AttemptKind, Captured, DeclaredCounts, Item, JunitReader, Outcome, ParseOptions,
    Property, Suite, SuiteEnd, Summary, TestCase,
};
use proptest::prelude::*;
use std::sync::Arc;

/// Text with characters that need escaping, unicode and control characters; never
/// blank (the parser drops whitespace-only bodies).
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 <>&\"'\n\t\r\u{8}\u{1f}éß漢😀\\]]{0,24}".prop_map(|s| format!("x{s}"))
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn captured() -> impl Strategy<Value = Option<Captured>> {
    proptest::option::of(text().prop_map(|text| Captured {
        text,
        truncated: false,
    }))
}

fn properties() -> impl Strategy<Value = Vec<Property>> {
    proptest::collection::vec(
        (text(), "[ -~é]{0,10}").prop_map(|(name, value)| Property { name, value }),
        0..3,
    )
}

fn duration() -> impl Strategy<Value = Option<i64>> {
    proptest::option::of(0i64..10_000_000)
}

fn failing() -> impl Strategy<Value = Outcome> {
    prop_oneof![Just(Outcome::Failed), Just(Outcome::Error)]
}

/// One execution's result fields, consistent with its outcome.
#[derive(Debug, Clone)]
struct Run {
    outcome: Outcome,
    duration_ms: Option<i64>,
    message: Option<String>,
    failure_type: Option<String>,
    text: Option<Captured>,
    system_out: Option<Captured>,
    system_err: Option<Captured>,
}

fn run(outcome: impl Strategy<Value = Outcome>) -> impl Strategy<Value = Run> {
    (
        outcome,
        duration(),
        opt_text(),
        opt_text(),
        captured(),
        captured(),
        captured(),
    )
        .prop_map(
            |(outcome, duration_ms, message, failure_type, text, system_out, system_err)| {
                let passed = outcome == Outcome::Passed;
                Run {
                    outcome,
                    duration_ms,
                    message: message.filter(|_| !passed),
                    failure_type: failure_type.filter(|_| !passed),
                    text: text.filter(|_| !passed),
                    system_out,
                    system_err,
                }
            },
        )
}

fn attempt(kind: AttemptKind, r: Run) -> Attempt {
    Attempt {
        kind,
        outcome: r.outcome,
        duration_ms: r.duration_ms,
        message: r.message,
        failure_type: r.failure_type,
        text: r.text,
        system_out: r.system_out,
        system_err: r.system_err,
    }
}

/// The attempts a case may carry, given its own outcome: Surefire flaky children
/// before a pass, rerun children after a failure, or earlier repeated cases that
/// did not pass (what a rerun tool writes).
fn attempts(own: Outcome) -> BoxedStrategy<Vec<Attempt>> {
    let surefire: BoxedStrategy<Vec<Attempt>> = match own {
        Outcome::Passed => proptest::collection::vec(
            (
                prop_oneof![
                    Just(AttemptKind::FlakyFailure),
                    Just(AttemptKind::FlakyError)
                ],
                run(failing()),
            ),
            1..3,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(k, mut r)| {
                    r.outcome = if k == AttemptKind::FlakyError {
                        Outcome::Error
                    } else {
                        Outcome::Failed
                    };
                    attempt(k, r)
                })
                .collect()
        })
        .boxed(),
        Outcome::Failed | Outcome::Error => proptest::collection::vec(
            (
                prop_oneof![
                    Just(AttemptKind::RerunFailure),
                    Just(AttemptKind::RerunError)
                ],
                run(failing()),
            ),
            1..3,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(k, mut r)| {
                    r.outcome = if k == AttemptKind::RerunError {
                        Outcome::Error
                    } else {
                        Outcome::Failed
                    };
                    attempt(k, r)
                })
                .collect()
        })
        .boxed(),
        Outcome::Skipped => Just(Vec::new()).boxed(),
    };
    let repeats = if own == Outcome::Skipped {
        Just(Vec::new()).boxed()
    } else {
        proptest::collection::vec(
            run(prop_oneof![
                Just(Outcome::Failed),
                Just(Outcome::Error),
                Just(Outcome::Skipped)
            ]),
            1..4,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|r| attempt(AttemptKind::Repeat, r))
                .collect()
        })
        .boxed()
    };
    prop_oneof![3 => Just(Vec::new()), 1 => surefire, 1 => repeats].boxed()
}

fn case() -> impl Strategy<Value = TestCase> {
    let own = prop_oneof![
        4 => Just(Outcome::Passed),
        2 => Just(Outcome::Failed),
        1 => Just(Outcome::Error),
        1 => Just(Outcome::Skipped)
    ];
    (
        own.prop_flat_map(|o| (run(Just(o)), attempts(o))),
        text(),
        opt_text(),
        opt_text(),
        proptest::option::of(1u32..5000),
        properties(),
    )
        .prop_map(
            |((r, attempts), name, classname, file, line, properties)| TestCase {
                suite_path: Arc::from(Vec::new()),
                classname,
                name,
                file,
                line,
                outcome: r.outcome,
                duration_ms: r.duration_ms,
                message: r.message,
                failure_type: r.failure_type,
                text: r.text,
                system_out: r.system_out,
                system_err: r.system_err,
                properties,
                attempts,
                suite_level: false,
                source_line: 0,
            },
        )
}

#[derive(Debug, Clone)]
struct GenSuite {
    suite: Suite,
    cases: Vec<TestCase>,
    children: Vec<GenSuite>,
    end: SuiteEnd,
}

fn suite(depth: u32) -> BoxedStrategy<GenSuite> {
    let children = if depth == 0 {
        Just(Vec::new()).boxed()
    } else {
        proptest::collection::vec(suite(depth - 1), 0..3).boxed()
    };
    (
        text(),
        proptest::collection::vec(case(), 0..6),
        children,
        properties(),
        properties(),
        captured(),
        captured(),
        duration(),
        opt_text(),
    )
        .prop_map(
            |(name, cases, children, props, late, out, err, duration_ms, hostname)| {
                let has_content = !cases.is_empty() || !children.is_empty();
                GenSuite {
                    suite: Suite {
                        path: Arc::from(Vec::new()),
                        name,
                        timestamp: Some("2024-01-02T03:04:05".to_owned()),
                        hostname,
                        id: None,
                        package: None,
                        file: None,
                        duration_ms,
                        declared: DeclaredCounts::default(),
                        properties: props,
                    },
                    cases,
                    children,
                    end: SuiteEnd {
                        path: Arc::from(Vec::new()),
                        system_out: out,
                        system_err: err,
                        // With nothing inside, the suite starts at its end and these
                        // properties would count as leading ones.
                        late_properties: if has_content { late } else { Vec::new() },
                    },
                }
            },
        )
        .boxed()
}

/// Fixes paths and names (unique per suite, so no accidental rerun merges) and
/// lists the items the parser must yield.
fn prepare(s: &mut GenSuite, parent: &[String], items: &mut Vec<Item>) {
    let mut path = parent.to_vec();
    path.push(s.suite.name.clone());
    let path: Arc<[String]> = Arc::from(path);
    s.suite.path = path.clone();
    s.end.path = path.clone();
    items.push(Item::SuiteStart(s.suite.clone()));
    for (i, c) in s.cases.iter_mut().enumerate() {
        c.name = format!("{}#{i}", c.name);
        c.suite_path = path.clone();
        items.push(Item::Case(Box::new(c.clone())));
    }
    for child in &mut s.children {
        prepare(child, &path, items);
    }
    items.push(Item::SuiteEnd(s.end.clone()));
}

fn write(w: &mut JunitWriter<Vec<u8>>, s: &GenSuite) {
    w.start_suite(&s.suite).unwrap();
    for c in &s.cases {
        w.write_case(c).unwrap();
    }
    for child in &s.children {
        write(w, child);
    }
    w.end_suite(
        s.end.system_out.as_ref(),
        s.end.system_err.as_ref(),
        &s.end.late_properties,
    )
    .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn written_reports_read_back_equal(mut suites in proptest::collection::vec(suite(2), 0..4)) {
        let mut expected = Vec::new();
        for s in &mut suites {
            prepare(s, &[], &mut expected);
        }
        let mut writer = JunitWriter::new(Vec::new(), None).unwrap();
        for s in &suites {
            write(&mut writer, s);
        }
        let xml = writer.finish().unwrap();

        let mut reader = JunitReader::new(xml.as_slice(), "gen.xml", ParseOptions::default()).unwrap();
        let mut got = Vec::new();
        while let Some(mut item) = reader.next_item().unwrap() {
            if let Item::Case(c) = &mut item {
                c.source_line = 0;
            }
            got.push(item);
        }
        prop_assert_eq!(&got, &expected, "xml:\n{}", String::from_utf8_lossy(&xml));

        let want: Summary = expected.iter().filter_map(|i| match i { Item::Case(c) => Some(&**c), _ => None }).collect();
        prop_assert_eq!(reader.summary(), want);
    }
}
