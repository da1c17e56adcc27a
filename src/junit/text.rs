//! Turning raw XML bytes into kept text: entity references, lossy UTF-8, and
//! size-capped accumulation.

use super::record::Captured;
use std::borrow::Cow;

/// The character an entity or character reference stands for (`amp`, `#10`, `#x1F`).
/// Unknown named entities are kept as written; references to characters XML 1.0
/// forbids (Dart writes `&#8;`) are kept, except NUL and non-characters, which become
/// U+FFFD, so a sloppy report stays readable.
pub(crate) fn resolve_reference(name: &str) -> Cow<'static, str> {
    let c = match name {
        "lt" => return Cow::Borrowed("<"),
        "gt" => return Cow::Borrowed(">"),
        "amp" => return Cow::Borrowed("&"),
        "apos" => return Cow::Borrowed("'"),
        "quot" => return Cow::Borrowed("\""),
        _ => match name.strip_prefix('#') {
            Some(num) => {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse::<u32>().ok(),
                };
                match code.and_then(char::from_u32) {
                    Some('\0') | None => char::REPLACEMENT_CHARACTER,
                    Some(c) => c,
                }
            }
            None => return Cow::Owned(format!("&{name};")),
        },
    };
    let mut buf = [0; 4];
    Cow::Owned(c.encode_utf8(&mut buf).to_owned())
}

/// Decodes an attribute value as XML does: literal tabs and line breaks become
/// spaces (`\r\n` one space), references are resolved (so `&#10;` stays a newline).
pub(crate) fn unescape_attr(text: &str) -> String {
    if !needs_unescape(text) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = text;
    while let Some(at) = rest.find(['&', '\n', '\r', '\t']) {
        out.push_str(&rest[..at]);
        let special = rest.as_bytes()[at];
        let after = &rest[at + 1..];
        if special != b'&' {
            out.push(' ');
            rest = match special {
                b'\r' => after.strip_prefix('\n').unwrap_or(after),
                _ => after,
            };
            continue;
        }
        // A reference is short; a lone `&` (invalid, but written by sloppy tools) is kept.
        match after.find(';').filter(|&end| end > 0 && end <= 32) {
            Some(end) if !after[..end].contains(['&', ' ', '<']) => {
                out.push_str(&resolve_reference(&after[..end]));
                rest = &after[end + 1..];
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn needs_unescape(text: &str) -> bool {
    text.bytes()
        .any(|b| matches!(b, b'&' | b'\n' | b'\r' | b'\t'))
}

/// An attribute value only looked at (a number, a status): borrowed when it can be.
pub(crate) fn attr_view(text: &str) -> Cow<'_, str> {
    if needs_unescape(text) {
        Cow::Owned(unescape_attr(text))
    } else {
        Cow::Borrowed(text)
    }
}

/// Splits the attribute part of a start tag (everything after the name) into local
/// key and raw value pairs. Faster than quick-xml's general iterator, which matters
/// at one `<testcase>` per test; errors describe what is wrong with the attribute.
pub(crate) fn scan_attributes<'a>(
    raw: &'a str,
    mut f: impl FnMut(&'a str, &'a str),
) -> Result<(), String> {
    let b = raw.as_bytes();
    let skip_space = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut i = skip_space(0);
    while i < b.len() && !(b[i] == b'/' && i + 1 == b.len()) {
        let key_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' {
            i += 1;
        }
        let key = &raw[key_start..i];
        i = skip_space(i);
        if key.is_empty() || i >= b.len() || b[i] != b'=' {
            return Err(format!("attribute `{}` has no `=value`", short(key)));
        }
        i = skip_space(i + 1);
        let quote = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => {
                return Err(format!(
                    "the value of attribute `{}` is not quoted",
                    short(key)
                ))
            }
        };
        let start = i + 1;
        let Some(len) = b[start..].iter().position(|&c| c == quote) else {
            return Err(format!(
                "the value of attribute `{}` is not closed",
                short(key)
            ));
        };
        let local = key.rsplit_once(':').map_or(key, |(_, local)| local);
        f(local, &raw[start..start + len]);
        i = skip_space(start + len + 1);
    }
    Ok(())
}

fn short(s: &str) -> String {
    s.chars().take(40).flat_map(char::escape_debug).collect()
}

/// Accumulates text up to `limit` bytes, cutting on a character boundary.
#[derive(Debug, Default)]
pub(crate) struct CappedText {
    text: String,
    truncated: bool,
    /// Set once any text (even empty CDATA) arrived: `<system-out/>` stays `None`.
    present: bool,
}

impl CappedText {
    pub(crate) fn push_str(&mut self, s: &str, limit: usize) {
        self.present = true;
        if self.truncated {
            return;
        }
        let room = limit.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
        } else {
            self.text.push_str(&s[..floor_char_boundary(s, room)]);
            self.truncated = true;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The kept text, or `None` when the element was empty.
    pub(crate) fn finish(self) -> Option<Captured> {
        // Whitespace-only bodies (indentation around CDATA) carry nothing.
        if !self.present || (!self.truncated && self.text.trim().is_empty()) {
            return None;
        }
        Some(Captured {
            text: self.text,
            truncated: self.truncated,
        })
    }

    /// Plain string form, for fields that are not `Captured` (property values).
    pub(crate) fn into_string(self) -> String {
        self.text
    }
}

/// Cuts an attribute value (a message) to `limit` bytes; returns whether it was cut.
pub(crate) fn cap_string(s: &mut String, limit: usize) -> bool {
    if s.len() <= limit {
        return false;
    }
    let cut = floor_char_boundary(s, limit);
    s.truncate(cut);
    true
}

fn floor_char_boundary(s: &str, mut index: usize) -> usize {
    if index >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_references() {
        assert_eq!(
            unescape_attr("a &lt;b&gt; &amp; &#10;&#x41;"),
            "a <b> & \nA"
        );
        assert_eq!(unescape_attr("&#8;"), "\u{8}");
        assert_eq!(unescape_attr("&#0;"), "\u{FFFD}");
        assert_eq!(unescape_attr("&nbsp; a & b"), "&nbsp; a & b");
        assert_eq!(unescape_attr("a\r\nb\tc\nd"), "a b c d");
    }

    #[test]
    fn attribute_scanning() {
        let mut seen = Vec::new();
        scan_attributes(" a=\"1\" xsi:b = 'x\"y'\tc=\"\"/", |k, v| seen.push((k, v))).unwrap();
        assert_eq!(seen, [("a", "1"), ("b", "x\"y"), ("c", "")]);
        assert!(scan_attributes(" a=1", |_, _| {}).is_err());
        assert!(scan_attributes(" a", |_, _| {}).is_err());
        assert!(scan_attributes(" a=\"1", |_, _| {}).is_err());
        assert!(scan_attributes(" =\"1\"", |_, _| {}).is_err());
        assert!(scan_attributes("", |_, _| {}).is_ok());
    }

    #[test]
    fn capped_text_cuts_on_char_boundary() {
        let mut t = CappedText::default();
        t.push_str("aé", 2);
        let c = t.finish().unwrap();
        assert_eq!(c.text, "a");
        assert!(c.truncated);
    }
}
