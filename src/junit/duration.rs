//! Reading the `time` attribute into integer milliseconds.
//!
//! Accepted: plain seconds (`1.5`), thousands separators (`1,234.5`), a decimal comma
//! (`0,5`), and unit suffixes `s`, `sec`, `ms`, `us`/`µs`, `ns`, `m`/`min`, `h`.
//! Empty or absent means unknown. Negative, NaN, infinite, unparsable and implausible
//! values (over a week: e.g. nanoseconds written as seconds) are rejected.

/// Longest duration believed: anything above is a unit mix-up, not a test.
const MAX_PLAUSIBLE_MS: f64 = 7.0 * 24.0 * 3600.0 * 1000.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DurationValue {
    /// No value written (absent or empty).
    Missing,
    Millis(i64),
    /// Something was written but it is not a usable duration.
    Invalid,
}

impl DurationValue {
    pub fn millis(self) -> Option<i64> {
        match self {
            DurationValue::Millis(ms) => Some(ms),
            _ => None,
        }
    }
}

/// Parses a duration written in seconds unless a unit says otherwise.
pub fn parse_duration(raw: &str) -> DurationValue {
    let s = raw.trim();
    if s.is_empty() {
        return DurationValue::Missing;
    }
    let (number, scale_ms) = split_unit(s);
    let Some(value) = parse_number(number.trim_end()) else {
        return DurationValue::Invalid;
    };
    let ms = value * scale_ms;
    if !(0.0..=MAX_PLAUSIBLE_MS).contains(&ms) {
        return DurationValue::Invalid;
    }
    DurationValue::Millis(ms.round() as i64)
}

/// Splits a unit suffix off; returns the number part and milliseconds per unit.
fn split_unit(s: &str) -> (&str, f64) {
    const UNITS: [(&str, f64); 10] = [
        ("ms", 1.0),
        ("us", 1e-3),
        ("µs", 1e-3),
        ("ns", 1e-6),
        ("sec", 1000.0),
        ("min", 60_000.0),
        ("s", 1000.0),
        ("m", 60_000.0),
        ("h", 3_600_000.0),
        ("S", 1000.0),
    ];
    for (suffix, scale) in UNITS {
        if let Some(number) = s.strip_suffix(suffix) {
            // "1e5" is not a unit; require the number to end in a digit or dot.
            if number.ends_with(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') {
                return (number, scale);
            }
        }
    }
    (s, 1000.0)
}

fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if !s.contains(',') {
        return s.parse::<f64>().ok();
    }
    let cleaned: String = if s.contains('.') || is_thousands_grouping(s) {
        s.chars().filter(|&c| c != ',').collect()
    } else {
        // One comma and no dot: a decimal comma ("0,5").
        s.replacen(',', ".", 1)
    };
    cleaned.parse::<f64>().ok()
}

/// `1,234` or `12,345,678`: every comma followed by exactly three digits.
fn is_thousands_grouping(s: &str) -> bool {
    let groups: Vec<&str> = s.split(',').collect();
    groups.len() > 2
        || groups[1..]
            .iter()
            .all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use DurationValue::*;

    #[test]
    fn reads_the_forms_tools_write() {
        assert_eq!(parse_duration("1.5"), Millis(1500));
        assert_eq!(parse_duration("0.0005"), Millis(1));
        assert_eq!(parse_duration("2,503.1"), Millis(2_503_100));
        assert_eq!(parse_duration("1,234"), Millis(1_234_000));
        assert_eq!(parse_duration("0,5"), Millis(500));
        assert_eq!(parse_duration("0.5s"), Millis(500));
        assert_eq!(parse_duration("12ms"), Millis(12));
        assert_eq!(parse_duration(" 3 "), Millis(3000));
        assert_eq!(parse_duration("1e-3"), Millis(1));
        assert_eq!(parse_duration("2m"), Millis(120_000));
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        assert_eq!(parse_duration(""), Missing);
        assert_eq!(parse_duration("  "), Missing);
        assert_eq!(parse_duration("-1"), Invalid);
        assert_eq!(parse_duration("NaN"), Invalid);
        assert_eq!(parse_duration("inf"), Invalid);
        assert_eq!(parse_duration("abc"), Invalid);
        assert_eq!(parse_duration("999638317"), Invalid);
    }
}
