//! Writes a simulated run as a JUnit XML report, in Maven Surefire's dialect for in-run
//! reruns: a test that failed then passed carries `<flakyFailure>`/`<flakyError>` elements
//! (one per failed try) and no `<failure>`; a test that failed every try carries
//! `<failure>`/`<error>` plus one `<rerunFailure>`/`<rerunError>` per rerun.

use std::fmt::Write;

use super::truth::TestTruth;
use super::{SimResult, SimRun};
use crate::analysis::model::Outcome;

/// The run's report. `tests` gives the names of the cases (`SimHistory::tests`). The run's
/// metadata goes into `<properties>` (ci.commit, ci.branch, ci.pipeline, ci.job, ci.attempt)
/// for readers; an uploader passes it to the API explicitly.
pub fn write_junit(run: &SimRun, tests: &[TestTruth]) -> String {
    let count = |o: Outcome| run.results.iter().filter(|r| r.outcome == o).count();
    let secs: f64 = run
        .results
        .iter()
        .map(|r| f64::from(r.duration_ms) * f64::from(r.attempts) / 1000.0)
        .sum();
    let counts = format!(
        "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{secs:.3}\"",
        run.results.len(),
        count(Outcome::Failed),
        count(Outcome::Error),
        count(Outcome::Skipped)
    );
    let ctx = &run.ctx;
    let mut out = String::with_capacity(256 + run.results.len() * 120);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"{}\" {counts}>", attr(&ctx.job));
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" {counts} timestamp=\"{}\" hostname=\"{}\">",
        attr(&ctx.job),
        run.started_at.format("%Y-%m-%dT%H:%M:%S"),
        attr(&run.runner)
    );
    out.push_str("    <properties>\n");
    let attempt = ctx.attempt.to_string();
    for (name, value) in [
        ("ci.commit", ctx.commit.as_str()),
        ("ci.branch", ctx.branch.as_str()),
        ("ci.pipeline", ctx.pipeline.as_str()),
        ("ci.job", ctx.job.as_str()),
        ("ci.attempt", attempt.as_str()),
    ] {
        let _ = writeln!(
            out,
            "      <property name=\"{name}\" value=\"{}\"/>",
            attr(value)
        );
    }
    out.push_str("    </properties>\n");
    for r in &run.results {
        write_case(&mut out, r, &tests[r.test as usize]);
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn write_case(out: &mut String, r: &SimResult, t: &TestTruth) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
        attr(&t.classname),
        attr(&t.name),
        f64::from(r.duration_ms) / 1000.0
    );
    let error = r.outcome == Outcome::Error;
    let (first, again) = match (r.outcome, error) {
        (Outcome::Skipped, _) => {
            out.push_str(">\n      <skipped/>\n    </testcase>\n");
            return;
        }
        (Outcome::Passed, _) if r.failed_attempts == 0 => {
            out.push_str("/>\n");
            return;
        }
        (Outcome::Passed, _) => ("flakyFailure", "flakyFailure"),
        (_, false) => ("failure", "rerunFailure"),
        (_, true) => ("error", "rerunError"),
    };
    out.push_str(">\n");
    let (kind, message, details) = r.failure.as_ref().map_or(("", "", ""), |f| {
        (f.kind.as_str(), f.message.as_str(), f.details.as_str())
    });
    for i in 0..r.failed_attempts {
        let element = if i == 0 { first } else { again };
        let _ = write!(
            out,
            "      <{element} message=\"{}\" type=\"{}\">",
            attr(message),
            attr(kind)
        );
        if element == "failure" || element == "error" {
            out.push_str(&text(details));
        } else {
            let _ = write!(out, "<stackTrace>{}</stackTrace>", text(details));
        }
        let _ = writeln!(out, "</{element}>");
    }
    out.push_str("    </testcase>\n");
}

/// Characters XML 1.0 allows; others (most control characters) become U+FFFD.
fn xml_char(c: char) -> char {
    match c {
        '\t'
        | '\n'
        | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}' => c,
        _ => '\u{FFFD}',
    }
}

/// Escapes element text.
pub fn text(s: &str) -> String {
    escape(s, false)
}

/// Escapes an attribute value (also quotes, and whitespace a parser would normalise).
pub fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, in_attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().map(xml_char) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if in_attribute => out.push_str("&quot;"),
            '\'' if in_attribute => out.push_str("&apos;"),
            '\n' if in_attribute => out.push_str("&#10;"),
            '\r' if in_attribute => out.push_str("&#13;"),
            '\t' if in_attribute => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::RunContext;
    use crate::analysis::simulator::{Cause, Failure};

    fn result(test: u32, outcome: Outcome, attempts: u8, failed: u8) -> SimResult {
        SimResult {
            test,
            outcome,
            attempts,
            failed_attempts: failed,
            cause: Cause::None,
            duration_ms: 1500,
            failure: (failed > 0).then(|| {
                Box::new(Failure {
                    kind: "AssertionError".into(),
                    message: "expected <a & \"b\"> got 'c'\nline2".into(),
                    details: "trace <x> & y\u{1}".into(),
                    signature: "0".into(),
                })
            }),
        }
    }

    fn truth(name: &str) -> TestTruth {
        TestTruth {
            classname: "tests.a".into(),
            name: name.into(),
            job: 0,
            flaky: None,
            manifestations: Vec::new(),
            disabled_from_pipeline: None,
        }
    }

    fn run(results: Vec<SimResult>) -> SimRun {
        let at = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        SimRun {
            ctx: RunContext {
                run_id: 1,
                at,
                branch: "pr-1-\"x\"".into(),
                on_default_branch: false,
                commit: "abc".into(),
                job: "test-shard-1".into(),
                attempt: 2,
                pipeline: "9".into(),
                tests_in_run: 0,
                failed_in_run: 0,
                top_signature_failures: 0,
                top_signature: None,
            },
            pipeline_idx: 8,
            runner: "linux".into(),
            started_at: at,
            finished_at: at,
            results,
        }
    }

    #[test]
    fn writes_surefire_rerun_elements() {
        let tests = vec![
            truth("ok"),
            truth("flaky"),
            truth("broken"),
            truth("skip"),
            truth("err"),
        ];
        let xml = write_junit(
            &run(vec![
                result(0, Outcome::Passed, 1, 0),
                result(1, Outcome::Passed, 3, 2),
                result(2, Outcome::Failed, 3, 3),
                result(3, Outcome::Skipped, 1, 0),
                result(4, Outcome::Error, 1, 1),
            ]),
            &tests,
        );
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
        assert!(xml.contains("tests=\"5\" failures=\"1\" errors=\"1\" skipped=\"1\""));
        assert_eq!(xml.matches("<testcase ").count(), 5);
        assert_eq!(xml.matches("<flakyFailure ").count(), 2);
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert_eq!(xml.matches("<rerunFailure ").count(), 2);
        assert_eq!(xml.matches("<error ").count(), 1);
        assert_eq!(xml.matches("<skipped/>").count(), 1);
        assert!(xml.contains("<testcase classname=\"tests.a\" name=\"ok\" time=\"1.500\"/>"));
        assert!(xml.contains("<property name=\"ci.attempt\" value=\"2\"/>"));
        assert!(xml.contains("value=\"pr-1-&quot;x&quot;\""));
        // Every opened element is closed.
        for tag in [
            "testsuites",
            "testsuite",
            "properties",
            "flakyFailure",
            "rerunFailure",
            "failure",
            "error",
        ] {
            assert_eq!(
                xml.matches(&format!("<{tag} ")).count() + xml.matches(&format!("<{tag}>")).count(),
                xml.matches(&format!("</{tag}>")).count(),
                "{tag}"
            );
        }
    }

    #[test]
    fn escapes_text_and_attributes() {
        assert_eq!(
            attr("a<b>&\"c\"'\n\t"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;&#10;&#9;"
        );
        assert_eq!(text("a<b>&\"c\"\n"), "a&lt;b&gt;&amp;\"c\"\n");
        assert_eq!(text("bell\u{7}nul\u{0}"), "bell\u{FFFD}nul\u{FFFD}");
        let xml = write_junit(&run(vec![result(0, Outcome::Failed, 1, 1)]), &[truth("t")]);
        assert!(xml.contains(
            "message=\"expected &lt;a &amp; &quot;b&quot;&gt; got &apos;c&apos;&#10;line2\""
        ));
        assert!(xml.contains(">trace &lt;x&gt; &amp; y\u{FFFD}</failure>"));
        assert!(!xml.contains('\u{1}'));
    }
}
