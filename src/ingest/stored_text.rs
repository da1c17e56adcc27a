//! What of a test case's text may be stored: names cut to a bounded length, and NUL
//! characters (which PostgreSQL's `TEXT` refuses and SQLite would keep) replaced, so both
//! backends store the same thing and one hostile name cannot fail a whole report.

use crate::junit::{Captured, TestCase};

/// Longest test name, classname, suite name or file path stored, in bytes, unless
/// `--max-name-bytes` says otherwise. Real names stay far below it (long parameterised
/// names reach a few hundred bytes); beyond it a name is data pasted into the report, and
/// every read of the test would return it.
pub const DEFAULT_MAX_NAME_BYTES: usize = 4096;
/// Longest failure message or type stored, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// What had to change for a case to be stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fitted {
    pub names_cut: bool,
    pub nul_replaced: bool,
}

/// Cuts `case`'s names to `max_name_bytes` and replaces NULs in everything of it that is
/// stored.
pub fn fit(case: &mut TestCase, max_name_bytes: usize) -> Fitted {
    let mut fitted = Fitted::default();
    let mut name = |text: &mut String| {
        fitted.nul_replaced |= replace_nul(text);
        fitted.names_cut |= cut(text, max_name_bytes);
    };
    name(&mut case.name);
    if let Some(classname) = case.classname.as_mut() {
        name(classname);
    }
    if let Some(file) = case.file.as_mut() {
        name(file);
    }
    if case
        .suite_path
        .iter()
        .any(|s| s.len() > max_name_bytes || s.contains('\0'))
    {
        let mut path: Vec<String> = case.suite_path.to_vec();
        path.iter_mut().for_each(&mut name);
        case.suite_path = path.into();
    }
    let mut text =
        |message: &mut Option<String>, kind: &mut Option<String>, body: &mut Option<Captured>| {
            for field in [message, kind].into_iter().flatten() {
                fitted.nul_replaced |= replace_nul(field);
                cut(field, MAX_MESSAGE_BYTES);
            }
            if let Some(body) = body {
                fitted.nul_replaced |= replace_nul(&mut body.text);
            }
        };
    text(&mut case.message, &mut case.failure_type, &mut case.text);
    for attempt in &mut case.attempts {
        text(
            &mut attempt.message,
            &mut attempt.failure_type,
            &mut attempt.text,
        );
    }
    fitted
}

/// Replaces each NUL with U+FFFD; true when there was one.
fn replace_nul(text: &mut String) -> bool {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{FFFD}");
        true
    } else {
        false
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with `…`;
/// true when it was longer.
fn cut(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut at = max - '…'.len_utf8();
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.truncate(at);
    text.push('…');
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, classname: &str) -> TestCase {
        let xml = format!(
            "<testsuite name=\"s\"><testcase classname=\"{classname}\" name=\"{name}\"><failure message=\"a&#0;b\"/></testcase></testsuite>"
        );
        crate::junit::parse_all(xml.as_bytes(), "t.xml", Default::default())
            .unwrap()
            .cases
            .remove(0)
    }

    #[test]
    fn long_names_are_cut_and_nuls_replaced() {
        let long = "x".repeat(DEFAULT_MAX_NAME_BYTES * 3);
        let mut c = case(&long, "pkg.Class");
        c.name.push('\0');
        c.message = Some("boom\0".into());
        let fitted = fit(&mut c, DEFAULT_MAX_NAME_BYTES);
        assert_eq!(
            fitted,
            Fitted {
                names_cut: true,
                nul_replaced: true
            }
        );
        assert!(
            c.name.len() <= DEFAULT_MAX_NAME_BYTES && c.name.ends_with('…'),
            "{}",
            c.name.len()
        );
        assert_eq!(c.message.as_deref(), Some("boom\u{FFFD}"));
        assert_eq!(c.classname.as_deref(), Some("pkg.Class"));

        let mut short = case("ok", "pkg.Class");
        assert_eq!(fit(&mut short, DEFAULT_MAX_NAME_BYTES), Fitted::default());
        assert_eq!(short.name, "ok");
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        let mut text = "é".repeat(DEFAULT_MAX_NAME_BYTES);
        assert!(cut(&mut text, DEFAULT_MAX_NAME_BYTES));
        assert!(text.len() <= DEFAULT_MAX_NAME_BYTES);
        assert!(text.ends_with('…'));
    }
}
