//! Failure signatures: failure messages with the parts that change from run to run
//! (numbers, addresses, ids) taken out, so one failure mode groups under one signature.

use crate::secrets::sha256_hex;

/// Longest signature kept; the start of a message is what tells failure modes apart.
const MAX_SIGNATURE_CHARS: usize = 300;

/// The normalised form of a failure: its type and first meaningful line, with numbers
/// and hex addresses replaced by placeholders and whitespace collapsed.
pub fn normalize(kind: &str, message: &str, details: &str) -> String {
    let headline = [message, details]
        .into_iter()
        .flat_map(str::lines)
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("");
    let mut out = String::with_capacity(kind.len() + headline.len().min(MAX_SIGNATURE_CHARS) + 2);
    if !kind.trim().is_empty() {
        out.push_str(kind.trim());
        out.push_str(": ");
    }
    let mut chars = headline.chars().peekable();
    let mut last_space = false;
    while let Some(c) = chars.next() {
        if out.chars().count() >= MAX_SIGNATURE_CHARS {
            break;
        }
        if c == '0' && chars.peek().is_some_and(|n| *n == 'x' || *n == 'X') {
            chars.next();
            while chars.peek().is_some_and(char::is_ascii_hexdigit) {
                chars.next();
            }
            out.push_str("0x?");
            last_space = false;
        } else if c.is_ascii_digit() {
            while chars
                .peek()
                .is_some_and(|n| n.is_ascii_digit() || *n == '.')
            {
                chars.next();
            }
            out.push('#');
            last_space = false;
        } else if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out.trim_end().to_owned()
}

/// A stable key for a normalised signature.
pub fn signature_hash(normalized: &str) -> String {
    sha256_hex(&[normalized.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_addresses_do_not_split_a_failure_mode() {
        let a = normalize("AssertionError", "expected 3 but was 4 at 0x7ffd1234", "");
        let b = normalize(
            "AssertionError",
            "expected 17 but was 2.5 at 0xdeadbeef",
            "",
        );
        assert_eq!(a, b);
        assert_eq!(a, "AssertionError: expected # but was # at 0x?");
    }

    #[test]
    fn different_messages_stay_apart() {
        assert_ne!(
            normalize("", "connection refused", ""),
            normalize("", "connection reset", "")
        );
    }

    #[test]
    fn falls_back_to_the_first_line_of_the_details() {
        let n = normalize("", "", "\n  Traceback (most recent call last):\n  File x");
        assert_eq!(n, "Traceback (most recent call last):");
    }
}
