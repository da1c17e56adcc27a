//! A card's change against the window before it, worded for the page: "−4 pts", "+1.2 min",
//! "−12%", with whether that is better or worse (every figure on the cards is better lower).

/// How a figure's change is put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// A share (0..1): the difference in percentage points.
    Share,
    /// Minutes: the difference in minutes.
    Minutes,
    /// A count or an amount: the difference relative to before, in percent.
    Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub text: String,
    /// `better`, `worse` or `same`: the stylesheet colours it.
    pub tone: &'static str,
}

/// The change from `before` to `now`, or `None` when either is unknown (no data).
pub fn change(now: Option<f64>, before: Option<f64>, measure: Measure) -> Option<Change> {
    let (now, before) = (now?, before?);
    let (delta, text) = match measure {
        Measure::Share => {
            let points = (now - before) * 100.0;
            (points, format!("{} pts", signed(points, 1)))
        }
        Measure::Minutes => (now - before, format!("{} min", signed(now - before, 1))),
        Measure::Amount if before == 0.0 => {
            if now == 0.0 {
                (0.0, "±0%".to_owned())
            } else {
                (now, "up from none".to_owned())
            }
        }
        Measure::Amount => {
            let percent = (now - before) / before * 100.0;
            (percent, format!("{}%", signed(percent, 0)))
        }
    };
    let tone = if text.starts_with('±') {
        "same"
    } else if delta > 0.0 {
        "worse"
    } else {
        "better"
    };
    Some(Change { text, tone })
}

/// `+1.5`, `−0.3` (a real minus sign), `±0` when it rounds to nothing.
fn signed(value: f64, decimals: usize) -> String {
    let shown = format!("{:.*}", decimals, value.abs());
    if shown.chars().all(|c| c == '0' || c == '.') {
        format!("±{shown}")
    } else if value > 0.0 {
        format!("+{shown}")
    } else {
        format!("\u{2212}{shown}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_worded_by_measure_and_toned_lower_is_better() {
        let c = change(Some(0.20), Some(0.25), Measure::Share).unwrap();
        assert_eq!((c.text.as_str(), c.tone), ("\u{2212}5.0 pts", "better"));
        let c = change(Some(12.0), Some(10.5), Measure::Minutes).unwrap();
        assert_eq!((c.text.as_str(), c.tone), ("+1.5 min", "worse"));
        let c = change(Some(90.0), Some(100.0), Measure::Amount).unwrap();
        assert_eq!((c.text.as_str(), c.tone), ("\u{2212}10%", "better"));
        let c = change(Some(100.0), Some(100.02), Measure::Amount).unwrap();
        assert_eq!((c.text.as_str(), c.tone), ("±0%", "same"));
        let c = change(Some(3.0), Some(0.0), Measure::Amount).unwrap();
        assert_eq!((c.text.as_str(), c.tone), ("up from none", "worse"));
        assert_eq!(change(Some(1.0), None, Measure::Minutes), None);
    }
}
