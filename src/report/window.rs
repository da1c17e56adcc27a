//! The period a report covers: an ISO week (`2026-W47`, Monday 00:00 UTC to the next
//! Monday), the last complete one by default, or any since/until.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};
use serde::Serialize;

use crate::tasks::model::NaiveDateTimeUtc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// `2026-W47`, or `2026-11-01..2026-11-15` for a custom period.
    pub label: String,
    pub since: NaiveDateTimeUtc,
    /// Exclusive.
    pub until: NaiveDateTimeUtc,
}

impl Period {
    /// The ISO week named `2026-W47` (or `2026-w47`).
    pub fn iso_week(label: &str) -> Result<Period, String> {
        let bad =
            || format!("`{label}` is not an ISO week: write it as YEAR-Wweek, such as 2026-W47");
        let (year, week) = label.trim().split_once(['W', 'w']).ok_or_else(bad)?;
        let year: i32 = year.trim_end_matches('-').parse().map_err(|_| bad())?;
        let week: u32 = week.parse().map_err(|_| bad())?;
        let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(|| {
            format!("{year} has no ISO week {week} (weeks run from 1 to 52 or 53)")
        })?;
        Ok(Period::of_week(monday))
    }

    /// The last ISO week that ended before `now`.
    pub fn last_complete_week(now: NaiveDateTime) -> Period {
        let today = now.date();
        let this_monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
        Period::of_week(this_monday - Duration::days(7))
    }

    /// A custom period; `until` must come after `since`.
    pub fn between(since: NaiveDateTime, until: NaiveDateTime) -> Result<Period, String> {
        if until <= since {
            return Err("`until` must come after `since`".into());
        }
        Ok(Period {
            label: format!("{}..{}", since.format("%Y-%m-%d"), until.format("%Y-%m-%d")),
            since: NaiveDateTimeUtc(since),
            until: NaiveDateTimeUtc(until),
        })
    }

    /// The period of the same length just before this one.
    pub fn previous(&self) -> Period {
        let length = self.until.0 - self.since.0;
        let since = self.since.0 - length;
        let a_week = length == Duration::days(7)
            && since.weekday() == Weekday::Mon
            && since.time() == chrono::NaiveTime::MIN;
        if a_week {
            return Period::of_week(since.date());
        }
        Period {
            label: format!(
                "{}..{}",
                since.format("%Y-%m-%d"),
                self.since.0.format("%Y-%m-%d")
            ),
            since: NaiveDateTimeUtc(since),
            until: self.since,
        }
    }

    fn of_week(monday: NaiveDate) -> Period {
        let week = monday.iso_week();
        let since = monday.and_hms_opt(0, 0, 0).unwrap_or_default();
        Period {
            label: format!("{}-W{:02}", week.year(), week.week()),
            since: NaiveDateTimeUtc(since),
            until: NaiveDateTimeUtc(since + Duration::days(7)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn iso_weeks_run_monday_to_monday() {
        let w = Period::iso_week("2026-W47").unwrap();
        assert_eq!(
            (w.since.0, w.until.0),
            (at("2026-11-16 00:00"), at("2026-11-23 00:00"))
        );
        assert_eq!(w.previous().label, "2026-W46");
        // Week 1 of 2026 starts in 2025.
        assert_eq!(
            Period::iso_week("2026-W01").unwrap().since.0,
            at("2025-12-29 00:00")
        );
        assert_eq!(
            Period::iso_week("2026-W01").unwrap().previous().label,
            "2025-W52"
        );
    }

    #[test]
    fn bad_weeks_say_what_is_wrong() {
        assert!(Period::iso_week("2026-47")
            .unwrap_err()
            .contains("YEAR-Wweek"));
        assert!(Period::iso_week("2026-W54")
            .unwrap_err()
            .contains("has no ISO week 54"));
        assert!(Period::iso_week("").is_err());
    }

    #[test]
    fn the_default_is_the_last_complete_week() {
        // Monday 2026-11-30: the week before, 2026-W48, has just ended.
        assert_eq!(
            Period::last_complete_week(at("2026-11-30 09:00")).label,
            "2026-W48"
        );
        assert_eq!(
            Period::last_complete_week(at("2026-11-29 23:59")).label,
            "2026-W47"
        );
    }

    #[test]
    fn custom_periods_have_a_previous_of_the_same_length() {
        let p = Period::between(at("2026-11-01 00:00"), at("2026-11-11 00:00")).unwrap();
        let before = p.previous();
        assert_eq!(
            (before.since.0, before.until.0),
            (at("2026-10-22 00:00"), at("2026-11-01 00:00"))
        );
        assert!(Period::between(at("2026-11-02 00:00"), at("2026-11-01 00:00")).is_err());
    }
}
