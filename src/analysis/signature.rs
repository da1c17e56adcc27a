//! Failure signatures: a failure message normalised so that the same failure gives the same
//! text in every run (numbers, addresses, ids, temp paths, times masked), and a stable hash
//! of it to group failures by.

/// Longest normalised text kept, in characters.
pub const MAX_SIGNATURE_CHARS: usize = 240;
/// Meaningful lines kept from the message.
const MAX_LINES: usize = 3;
/// Input beyond this many characters cannot survive the final truncation, so it is not scanned.
const MAX_SCAN_CHARS: usize = 4 * MAX_SIGNATURE_CHARS;

/// Messages that say nothing (go-junit-report writes "Failed"): use the details instead.
const PLACEHOLDER_MESSAGES: &[&str] = &["", "failed", "failure", "fail", "error", "test failed"];

/// Normalises a failure: `kind` is the failure type (exception class), `message` the short
/// message and `details` the body (stack trace, output). Keeps the first meaningful lines of
/// the message (of the details when the message is empty or a placeholder; for a Python
/// traceback, its final exception line), masks the parts that change between runs, collapses
/// whitespace and bounds the length.
pub fn normalize(kind: &str, message: &str, details: &str) -> String {
    let placeholder = PLACEHOLDER_MESSAGES.contains(&message.trim().to_ascii_lowercase().as_str());
    let source = if placeholder { details } else { message };
    let mut text = meaningful_lines(source).join(" ");
    if text.is_empty() && placeholder {
        text = message.trim().to_string();
    }
    let kind = kind.trim();
    if !kind.is_empty() && !text.contains(kind) {
        text = if text.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}: {text}")
        };
    }
    let scanned: String = text.chars().take(MAX_SCAN_CHARS).collect();
    let masked = mask(&scanned);
    let collapsed = masked.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(MAX_SIGNATURE_CHARS).collect()
}

/// FNV-1a 64-bit over the UTF-8 bytes, as 16 lowercase hex digits. Chosen because it is
/// fully specified (offset basis 0xcbf29ce484222325, prime 0x100000001b3), so signatures
/// stay equal across Rust versions and machines, unlike std's `DefaultHasher`.
pub fn signature_hash(normalized: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in normalized.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Lines that start a stack frame or runner chatter: they end the message.
fn is_frame(line: &str) -> bool {
    const STARTS: &[&str] = &[
        "at ",
        "File \"",
        "goroutine ",
        "Traceback (",
        "=== RUN",
        "=== PAUSE",
        "=== CONT",
        "--- FAIL",
        "--- PASS",
        "...",
    ];
    STARTS.iter().any(|s| line.starts_with(s))
}

fn meaningful_lines(text: &str) -> Vec<&str> {
    // Python puts the exception last: take the last unindented line after the traceback.
    if text.contains("Traceback (most recent call last):") {
        let last = text
            .lines()
            .rev()
            .find(|l| !l.starts_with(char::is_whitespace) && l.chars().any(char::is_alphanumeric))
            .map(str::trim);
        if let Some(line) = last.filter(|l| !l.starts_with("Traceback")) {
            return vec![line];
        }
    }
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if !line.chars().any(char::is_alphanumeric) {
            continue; // blank or decoration ("-----")
        }
        if is_frame(line) {
            if out.is_empty() {
                continue;
            }
            break;
        }
        out.push(line);
        if out.len() == MAX_LINES {
            break;
        }
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Masks the variable parts of `s`. A pattern only starts at a word boundary, so digits
/// inside names (utf8, sha256, Http2Test) are kept.
fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let prev = if i == 0 { None } else { Some(chars[i - 1]) };
        let boundary = prev.is_none_or(|c| !is_word(c));
        let path_boundary = prev.is_none_or(|c| !(is_word(c) || "./\\-".contains(c)));
        let matched = if path_boundary {
            temp_path(&chars, i).map(|n| (n, "<tmp>"))
        } else {
            None
        }
        .or_else(|| if boundary { token(&chars, i) } else { None });
        match matched {
            Some((len, replacement)) => {
                out.push_str(replacement);
                i += len;
            }
            None => {
                out.push(chars[i]);
                i += 1;
            }
        }
    }
    out
}

/// The variable token starting at `i`, if any: its length and its replacement.
fn token(c: &[char], i: usize) -> Option<(usize, &'static str)> {
    if !c[i].is_ascii_hexdigit() {
        return None;
    }
    if let Some(n) = uuid(c, i) {
        return Some((n, "<uuid>"));
    }
    if let Some(n) = timestamp(c, i) {
        return Some((n, "<ts>"));
    }
    if let Some(n) = ipv4(c, i) {
        return Some((n, "<ip>"));
    }
    if c[i] == '0' && matches!(c.get(i + 1), Some('x' | 'X')) {
        let n = run_len(c, i + 2, |x| x.is_ascii_hexdigit());
        if n > 0 && ends_word(c, i + 2 + n) {
            return Some((n + 2, "<hex>"));
        }
    }
    let hex = run_len(c, i, |x| x.is_ascii_hexdigit());
    let has_letter = c[i..i + hex].iter().any(|x| x.is_ascii_alphabetic());
    let has_digit = c[i..i + hex].iter().any(char::is_ascii_digit);
    if hex >= 8 && has_letter && has_digit && ends_word(c, i + hex) {
        return Some((hex, "<hex>")); // commit shas, object ids
    }
    if !c[i].is_ascii_digit() {
        return None;
    }
    let mut n = run_len(c, i, |x| x.is_ascii_digit());
    if c.get(i + n) == Some(&'.') && c.get(i + n + 1).is_some_and(char::is_ascii_digit) {
        n += 1 + run_len(c, i + n + 1, |x| x.is_ascii_digit());
    }
    if let Some(unit) = duration_unit(c, i + n) {
        return Some((n + unit, "<dur>"));
    }
    Some((n, "<n>"))
}

fn run_len(c: &[char], from: usize, f: impl Fn(char) -> bool) -> usize {
    c.get(from..)
        .map_or(0, |rest| rest.iter().take_while(|x| f(**x)).count())
}

fn ends_word(c: &[char], at: usize) -> bool {
    c.get(at).is_none_or(|x| !is_word(*x))
}

fn digits_exact(c: &[char], at: usize, n: usize) -> bool {
    run_len(c, at, |x| x.is_ascii_digit()) >= n && c.get(at..at + n).is_some()
}

/// 8-4-4-4-12 hex digits.
fn uuid(c: &[char], i: usize) -> Option<usize> {
    let mut at = i;
    for (k, len) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if run_len(c, at, |x| x.is_ascii_hexdigit()) != len {
            return None;
        }
        at += len;
        if k < 4 {
            if c.get(at) != Some(&'-') {
                return None;
            }
            at += 1;
        }
    }
    ends_word(c, at).then_some(at - i)
}

/// 2024-05-01[T ]12:00:03[.123][Z|+02:00], or a bare 12:00:03[.123].
fn timestamp(c: &[char], i: usize) -> Option<usize> {
    let mut at = i;
    let dated = digits_exact(c, at, 4)
        && c.get(at + 4) == Some(&'-')
        && digits_exact(c, at + 5, 2)
        && c.get(at + 7) == Some(&'-')
        && digits_exact(c, at + 8, 2);
    if dated {
        at += 10;
        if matches!(c.get(at), Some('T' | ' ')) && clock(c, at + 1).is_some() {
            at += 1 + clock(c, at + 1).unwrap_or(0);
            at += zone(c, at);
        }
        return Some(at - i);
    }
    let n = clock(c, i)?;
    // A bare clock needs seconds, else it is more likely a ratio or a port.
    (n >= 8).then(|| n + zone(c, i + n))
}

/// hh:mm[:ss[.fff]] with one- or two-digit hours.
fn clock(c: &[char], i: usize) -> Option<usize> {
    let h = run_len(c, i, |x| x.is_ascii_digit());
    if !(1..=2).contains(&h)
        || c.get(i + h) != Some(&':')
        || run_len(c, i + h + 1, |x| x.is_ascii_digit()) != 2
    {
        return None;
    }
    let mut at = i + h + 3;
    if c.get(at) == Some(&':') && run_len(c, at + 1, |x| x.is_ascii_digit()) == 2 {
        at += 3;
        if matches!(c.get(at), Some('.' | ',')) {
            let frac = run_len(c, at + 1, |x| x.is_ascii_digit());
            if frac > 0 {
                at += 1 + frac;
            }
        }
    }
    Some(at - i)
}

fn zone(c: &[char], at: usize) -> usize {
    match c.get(at) {
        Some('Z') if ends_word(c, at + 1) => 1,
        Some('+' | '-') => {
            let d = run_len(c, at + 1, |x| x.is_ascii_digit());
            if d == 4 {
                5
            } else if d == 2
                && c.get(at + 3) == Some(&':')
                && run_len(c, at + 4, |x| x.is_ascii_digit()) == 2
            {
                6
            } else {
                0
            }
        }
        _ => 0,
    }
}

/// a.b.c.d with an optional :port, masked together.
fn ipv4(c: &[char], i: usize) -> Option<usize> {
    let mut at = i;
    for k in 0..4 {
        let d = run_len(c, at, |x| x.is_ascii_digit());
        if !(1..=3).contains(&d) {
            return None;
        }
        at += d;
        if k < 3 {
            if c.get(at) != Some(&'.') {
                return None;
            }
            at += 1;
        }
    }
    if !ends_word(c, at)
        || c.get(at) == Some(&'.') && c.get(at + 1).is_some_and(char::is_ascii_digit)
    {
        return None;
    }
    if c.get(at) == Some(&':') {
        let port = run_len(c, at + 1, |x| x.is_ascii_digit());
        if port > 0 {
            at += 1 + port;
        }
    }
    Some(at - i)
}

/// Length of a duration unit right after a number ("ms", " seconds"), if any.
fn duration_unit(c: &[char], at: usize) -> Option<usize> {
    const UNITS: &[&str] = &[
        "milliseconds",
        "millisecond",
        "seconds",
        "second",
        "minutes",
        "minute",
        "hours",
        "hour",
        "msecs",
        "msec",
        "secs",
        "sec",
        "mins",
        "min",
        "ms",
        "us",
        "µs",
        "ns",
        "hrs",
        "hr",
        "s",
        "m",
        "h",
    ];
    let space = usize::from(c.get(at) == Some(&' '));
    let rest = c.get(at + space..)?;
    UNITS.iter().find_map(|u| {
        let n = u.chars().count();
        let matches = rest.len() >= n && rest[..n].iter().copied().eq(u.chars());
        // A lone letter after a space is a word ("3 m..."), not a unit.
        (matches && ends_word(rest, n) && (space == 0 || n > 1)).then_some(space + n)
    })
}

/// Temporary paths: /tmp/..., /var/folders/..., C:\Users\x\AppData\Local\Temp\...
fn temp_path(c: &[char], i: usize) -> Option<usize> {
    const UNIX: &[&str] = &[
        "/tmp/",
        "/var/tmp/",
        "/var/folders/",
        "/private/var/folders/",
        "/private/tmp/",
    ];
    let lower = |from: usize, n: usize| -> String {
        c.get(from..(from + n).min(c.len()))
            .unwrap_or(&[])
            .iter()
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let unix = UNIX.iter().any(|p| lower(i, p.len()) == *p);
    let windows = c[i].is_ascii_alphabetic()
        && c.get(i + 1) == Some(&':')
        && matches!(c.get(i + 2), Some('\\' | '/'))
        && {
            // Within the path's first segments, look for \AppData\Local\Temp\ (or /).
            let path_len = run_len(c, i, |x| !is_path_end(x));
            let norm = lower(i, path_len).replace('\\', "/");
            norm[3..].starts_with("users/") && norm.contains("/appdata/local/temp/")
        };
    if !unix && !windows {
        return None;
    }
    Some(run_len(c, i, |x| !is_path_end(x)))
}

fn is_path_end(c: char) -> bool {
    c.is_whitespace() || "'\"`()[]{}<>,;".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(kind: &str, a: (&str, &str), b: (&str, &str)) -> String {
        let na = normalize(kind, a.0, a.1);
        let nb = normalize(kind, b.0, b.1);
        assert_eq!(na, nb);
        assert_eq!(signature_hash(&na), signature_hash(&nb));
        na
    }

    #[test]
    fn fnv1a_64_known_vectors() {
        assert_eq!(signature_hash(""), "cbf29ce484222325");
        assert_eq!(signature_hash("a"), "af63dc4c8601ec8c");
        assert_eq!(signature_hash("foobar"), "85944171f73967e8");
    }

    #[test]
    fn java_assertion_with_stack_trace() {
        let details = "org.opentest4j.AssertionFailedError: expected: <3> but was: <4>\n\
            \tat org.junit.jupiter.api.AssertionUtils.fail(AssertionUtils.java:55)\n\
            \tat com.acme.CartTest.total(CartTest.java:42)\n";
        let n = same(
            "org.opentest4j.AssertionFailedError",
            ("expected: <3> but was: <4>", details),
            ("expected: <7> but was: <12>", ""),
        );
        assert_eq!(
            n,
            "org.opentest4j.AssertionFailedError: expected: <<n>> but was: <<n>>"
        );
    }

    #[test]
    fn java_timeout_with_port_and_duration() {
        let n = same(
            "java.util.concurrent.TimeoutException",
            (
                "Timed out after 30012 ms waiting for http://localhost:43121/health",
                "",
            ),
            (
                "Timed out after 29987 ms waiting for http://localhost:38011/health",
                "",
            ),
        );
        assert_eq!(
            n,
            "java.util.concurrent.TimeoutException: Timed out after <dur> waiting for http://localhost:<n>/health"
        );
    }

    #[test]
    fn python_traceback_keeps_the_exception_line() {
        let tb = |addr: &str, tmp: &str| {
            format!(
                "Traceback (most recent call last):\n  File \"/tmp/{tmp}/test_pool.py\", line 88, in test_shutdown\n    \
                 await asyncio.wait_for(task, 5)\nValueError: Queue <multiprocessing.queues.Queue object at {addr}> is closed\n"
            )
        };
        let a = tb("0x7f0c3c6c2e40", "pytest-of-runner/pytest-3/test_x0");
        let b = tb("0x7f11aa02b9d0", "pytest-of-runner/pytest-19/test_x1");
        let n = same("", ("", &a), ("", &b));
        assert_eq!(
            n,
            "ValueError: Queue <multiprocessing.queues.Queue object at <hex>> is closed"
        );
    }

    #[test]
    fn python_assertion_and_temp_path() {
        let n = same(
            "AssertionError",
            (
                "assert 3 == 4\n +  where 3 = len(/tmp/pytest-of-ci/pytest-7/data0/rows.csv)",
                "",
            ),
            (
                "assert 5 == 9\n +  where 5 = len(/tmp/pytest-of-ci/pytest-12/data3/rows.csv)",
                "",
            ),
        );
        assert_eq!(
            n,
            "AssertionError: assert <n> == <n> + where <n> = len(<tmp>)"
        );
    }

    #[test]
    fn go_output_with_placeholder_message() {
        let out = |port: &str, secs: &str| {
            format!(
                "=== RUN   TestFetch\n    fetch_test.go:42: Get \"http://127.0.0.1:{port}/x\": dial tcp \
                 127.0.0.1:{port}: connect: connection refused\n--- FAIL: TestFetch ({secs}s)\n"
            )
        };
        let n = same(
            "",
            ("Failed", &out("38211", "0.03")),
            ("Failed", &out("40417", "1.20")),
        );
        assert_eq!(
            n,
            "fetch_test.go:<n>: Get \"http://<ip>/x\": dial tcp <ip>: connect: connection refused"
        );
    }

    #[test]
    fn go_panic() {
        let n = normalize(
            "",
            "",
            "panic: runtime error: index out of range [5] with length 3\n\ngoroutine 7 [running]:\nmain.f()\n",
        );
        assert_eq!(
            n,
            "panic: runtime error: index out of range [<n>] with length <n>"
        );
    }

    #[test]
    fn jest_expectation() {
        let msg = |a: u32, b: u32| {
            format!(
                "expect(received).toBe(expected) // Object.is equality\n\nExpected: {a}\nReceived: {b}\n\n    \
                 at Object.<anonymous> (/home/runner/work/app/src/sum.test.js:10:17)"
            )
        };
        let n = same("Error", (&msg(3, 4), ""), (&msg(10, 11), ""));
        assert_eq!(
            n,
            "Error: expect(received).toBe(expected) // Object.is equality Expected: <n> Received: <n>"
        );
    }

    #[test]
    fn windows_temp_uuid_timestamp_and_hex_ids() {
        let n = same(
            "System.IO.IOException",
            (
                "2024-05-01T12:00:03.123Z request 3fa85f64-5717-4562-b3fc-2c963f66afa6 at commit 9f86d081884c: \
                 cannot open 'C:\\Users\\runneradmin\\AppData\\Local\\Temp\\tmp5F3A.tmp' after 1.5s",
                "",
            ),
            (
                "2025-11-30 23:59:59+01:00 request 0c2e7d1a-0000-4b1e-9a6e-3d2f1c0b9a8e at commit 2c26b46b68ff: \
                 cannot open 'C:\\Users\\someone\\AppData\\Local\\Temp\\tmpA1.tmp' after 250ms",
                "",
            ),
        );
        assert_eq!(
            n,
            "System.IO.IOException: <ts> request <uuid> at commit <hex>: cannot open '<tmp>' after <dur>"
        );
    }

    #[test]
    fn names_with_digits_are_kept_and_different_failures_differ() {
        let a = normalize("", "utf8 decode failed in Http2Client worker-3", "");
        assert_eq!(a, "utf8 decode failed in Http2Client worker-<n>");
        let b = normalize("", "utf16 decode failed in Http2Client worker-3", "");
        assert_ne!(signature_hash(&a), signature_hash(&b));
    }

    #[test]
    fn output_is_bounded_and_whitespace_collapsed() {
        let long = "word   ".repeat(500);
        let n = normalize("E", &long, "");
        assert_eq!(n.chars().count(), MAX_SIGNATURE_CHARS);
        assert!(!n.contains("  "));
        // Multi-byte characters are cut on a character boundary.
        let n = normalize("", &"é".repeat(1000), "");
        assert_eq!(n.chars().count(), MAX_SIGNATURE_CHARS);
    }

    #[test]
    fn empty_input_gives_the_kind_or_placeholder() {
        assert_eq!(normalize("TimeoutError", "", ""), "TimeoutError");
        assert_eq!(normalize("", "Failed", ""), "Failed");
        assert_eq!(normalize("", "", ""), "");
    }
}
