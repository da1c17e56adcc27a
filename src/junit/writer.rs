//! A small JUnit XML writer for the records this parser yields: used by the
//! round-trip tests, the benchmark generator and the history simulator.
//!
//! Output is what the parser reads back into equal records: Surefire-style attempts
//! become `<flakyFailure>`/`<rerunFailure>`... children; `Repeat` attempts become
//! `<testcase>` elements written before the record's own one.

use super::record::{Attempt, AttemptKind, Captured, Outcome, Property, RunInfo, Suite, TestCase};
use std::io::{self, Write};

/// Writes one report. Call `start_suite`/`write_case`/`end_suite`, then `finish`.
pub struct JunitWriter<W: Write> {
    out: W,
    depth: usize,
}

impl<W: Write> JunitWriter<W> {
    /// Writes the XML declaration and the opening `<testsuites>`.
    pub fn new(mut out: W, run: Option<&RunInfo>) -> io::Result<Self> {
        out.write_all(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites")?;
        if let Some(run) = run {
            write_opt_attr(&mut out, "name", run.name.as_deref())?;
            write_opt_attr(&mut out, "timestamp", run.timestamp.as_deref())?;
            if let Some(ms) = run.duration_ms {
                write_attr(&mut out, "time", &seconds(ms))?;
            }
            write_counts(&mut out, &run.declared)?;
        }
        out.write_all(b">\n")?;
        Ok(JunitWriter { out, depth: 1 })
    }

    fn indent(&mut self) -> io::Result<()> {
        for _ in 0..self.depth {
            self.out.write_all(b"  ")?;
        }
        Ok(())
    }

    /// Opens a `<testsuite>` with its attributes and leading properties.
    pub fn start_suite(&mut self, suite: &Suite) -> io::Result<()> {
        self.indent()?;
        self.out.write_all(b"<testsuite")?;
        write_attr(&mut self.out, "name", &suite.name)?;
        write_counts(&mut self.out, &suite.declared)?;
        if let Some(ms) = suite.duration_ms {
            write_attr(&mut self.out, "time", &seconds(ms))?;
        }
        write_opt_attr(&mut self.out, "timestamp", suite.timestamp.as_deref())?;
        write_opt_attr(&mut self.out, "hostname", suite.hostname.as_deref())?;
        write_opt_attr(&mut self.out, "id", suite.id.as_deref())?;
        write_opt_attr(&mut self.out, "package", suite.package.as_deref())?;
        write_opt_attr(&mut self.out, "file", suite.file.as_deref())?;
        self.out.write_all(b">\n")?;
        self.depth += 1;
        self.write_properties(&suite.properties)
    }

    /// Closes the innermost suite, writing its trailing output and properties first.
    pub fn end_suite(
        &mut self,
        system_out: Option<&Captured>,
        system_err: Option<&Captured>,
        late_properties: &[Property],
    ) -> io::Result<()> {
        self.write_properties(late_properties)?;
        self.write_text_element("system-out", system_out.map(|c| c.text.as_str()))?;
        self.write_text_element("system-err", system_err.map(|c| c.text.as_str()))?;
        self.depth -= 1;
        self.indent()?;
        self.out.write_all(b"</testsuite>\n")
    }

    /// Writes one record: its `Repeat` attempts as earlier `<testcase>`s, then itself.
    pub fn write_case(&mut self, case: &TestCase) -> io::Result<()> {
        if case.suite_level {
            return self.write_result(
                case.outcome,
                case.message.as_deref(),
                case.failure_type.as_deref(),
                case.text.as_ref(),
            );
        }
        let mut first = true;
        for repeat in case
            .attempts
            .iter()
            .filter(|a| a.kind == AttemptKind::Repeat)
        {
            self.open_case(case, repeat.duration_ms, first)?;
            first = false;
            self.write_execution(repeat)?;
            self.close_case()?;
        }
        self.open_case(case, case.duration_ms, first)?;
        self.write_result(
            case.outcome,
            case.message.as_deref(),
            case.failure_type.as_deref(),
            case.text.as_ref(),
        )?;
        for attempt in case
            .attempts
            .iter()
            .filter(|a| a.kind != AttemptKind::Repeat)
        {
            self.write_attempt(attempt)?;
        }
        self.write_text_element(
            "system-out",
            case.system_out.as_ref().map(|c| c.text.as_str()),
        )?;
        self.write_text_element(
            "system-err",
            case.system_err.as_ref().map(|c| c.text.as_str()),
        )?;
        self.close_case()
    }

    /// Closes `<testsuites>` and hands back the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"</testsuites>\n")?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn open_case(
        &mut self,
        case: &TestCase,
        duration_ms: Option<i64>,
        with_properties: bool,
    ) -> io::Result<()> {
        self.indent()?;
        self.out.write_all(b"<testcase")?;
        write_attr(&mut self.out, "name", &case.name)?;
        write_opt_attr(&mut self.out, "classname", case.classname.as_deref())?;
        write_opt_attr(&mut self.out, "file", case.file.as_deref())?;
        if let Some(line) = case.line {
            write_attr(&mut self.out, "line", &line.to_string())?;
        }
        if let Some(ms) = duration_ms {
            write_attr(&mut self.out, "time", &seconds(ms))?;
        }
        self.out.write_all(b">\n")?;
        self.depth += 1;
        if with_properties {
            self.write_properties(&case.properties)?;
        }
        Ok(())
    }

    fn close_case(&mut self) -> io::Result<()> {
        self.depth -= 1;
        self.indent()?;
        self.out.write_all(b"</testcase>\n")
    }

    fn write_execution(&mut self, a: &Attempt) -> io::Result<()> {
        self.write_result(
            a.outcome,
            a.message.as_deref(),
            a.failure_type.as_deref(),
            a.text.as_ref(),
        )?;
        self.write_text_element("system-out", a.system_out.as_ref().map(|c| c.text.as_str()))?;
        self.write_text_element("system-err", a.system_err.as_ref().map(|c| c.text.as_str()))
    }

    fn write_result(
        &mut self,
        outcome: Outcome,
        message: Option<&str>,
        failure_type: Option<&str>,
        text: Option<&Captured>,
    ) -> io::Result<()> {
        let tag = match outcome {
            Outcome::Passed => return Ok(()),
            Outcome::Failed => "failure",
            Outcome::Error => "error",
            Outcome::Skipped => "skipped",
        };
        self.indent()?;
        write!(self.out, "<{tag}")?;
        write_opt_attr(&mut self.out, "message", message)?;
        write_opt_attr(&mut self.out, "type", failure_type)?;
        match text {
            Some(t) => {
                self.out.write_all(b">")?;
                write_escaped(&mut self.out, &t.text, false)?;
                writeln!(self.out, "</{tag}>")
            }
            None => self.out.write_all(b"/>\n"),
        }
    }

    fn write_attempt(&mut self, a: &Attempt) -> io::Result<()> {
        let tag = match a.kind {
            AttemptKind::FlakyFailure => "flakyFailure",
            AttemptKind::FlakyError => "flakyError",
            AttemptKind::RerunFailure => "rerunFailure",
            AttemptKind::RerunError => "rerunError",
            AttemptKind::Repeat => return Ok(()),
        };
        self.indent()?;
        write!(self.out, "<{tag}")?;
        write_opt_attr(&mut self.out, "message", a.message.as_deref())?;
        write_opt_attr(&mut self.out, "type", a.failure_type.as_deref())?;
        if let Some(ms) = a.duration_ms {
            write_attr(&mut self.out, "time", &seconds(ms))?;
        }
        self.out.write_all(b">\n")?;
        self.depth += 1;
        self.write_text_element("stackTrace", a.text.as_ref().map(|c| c.text.as_str()))?;
        self.write_text_element("system-out", a.system_out.as_ref().map(|c| c.text.as_str()))?;
        self.write_text_element("system-err", a.system_err.as_ref().map(|c| c.text.as_str()))?;
        self.depth -= 1;
        self.indent()?;
        writeln!(self.out, "</{tag}>")
    }

    fn write_properties(&mut self, properties: &[Property]) -> io::Result<()> {
        if properties.is_empty() {
            return Ok(());
        }
        self.indent()?;
        self.out.write_all(b"<properties>\n")?;
        for p in properties {
            self.indent()?;
            self.out.write_all(b"  <property")?;
            write_attr(&mut self.out, "name", &p.name)?;
            write_attr(&mut self.out, "value", &p.value)?;
            self.out.write_all(b"/>\n")?;
        }
        self.indent()?;
        self.out.write_all(b"</properties>\n")
    }

    fn write_text_element(&mut self, tag: &str, text: Option<&str>) -> io::Result<()> {
        let Some(text) = text else {
            return Ok(());
        };
        self.indent()?;
        write!(self.out, "<{tag}>")?;
        write_escaped(&mut self.out, text, false)?;
        writeln!(self.out, "</{tag}>")
    }
}

/// Milliseconds as the seconds JUnit writes, exactly (`1234` -> `1.234`).
fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, (ms % 1000).abs())
}

fn write_counts<W: Write>(out: &mut W, c: &super::record::DeclaredCounts) -> io::Result<()> {
    for (name, value) in [
        ("tests", c.tests),
        ("failures", c.failures),
        ("errors", c.errors),
        ("skipped", c.skipped),
    ] {
        if let Some(v) = value {
            write_attr(out, name, &v.to_string())?;
        }
    }
    Ok(())
}

fn write_opt_attr<W: Write>(out: &mut W, name: &str, value: Option<&str>) -> io::Result<()> {
    match value {
        Some(v) => write_attr(out, name, v),
        None => Ok(()),
    }
}

fn write_attr<W: Write>(out: &mut W, name: &str, value: &str) -> io::Result<()> {
    write!(out, " {name}=\"")?;
    write_escaped(out, value, true)?;
    out.write_all(b"\"")
}

/// Escapes markup characters; control characters become character references (and
/// in attributes so do tab and newlines, which attribute normalisation would eat).
fn write_escaped<W: Write>(out: &mut W, s: &str, attribute: bool) -> io::Result<()> {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let replacement: Option<&str> = match c {
            '&' => Some("&amp;"),
            '<' => Some("&lt;"),
            '>' => Some("&gt;"),
            '"' if attribute => Some("&quot;"),
            _ => None,
        };
        let needs_ref = c == '\r' || (c.is_control() && (attribute || (c != '\n' && c != '\t')));
        if replacement.is_none() && !needs_ref {
            continue;
        }
        out.write_all(&s.as_bytes()[start..i])?;
        match replacement {
            Some(r) => out.write_all(r.as_bytes())?,
            None => write!(out, "&#{};", c as u32)?,
        }
        start = i + c.len_utf8();
    }
    out.write_all(&s.as_bytes()[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_for_text_and_attributes() {
        let mut out = Vec::new();
        write_escaped(&mut out, "a<b>&\"\n\t\r\u{8}", true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a&lt;b&gt;&amp;&quot;&#10;&#9;&#13;&#8;"
        );
        let mut out = Vec::new();
        write_escaped(&mut out, "\"\n\t\r", false).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "\"\n\t&#13;");
    }

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(1234), "1.234");
        assert_eq!(seconds(5), "0.005");
    }
}
