//! The project page's window and filters: `?days=7|30|90` counted back from the project's
//! newest run (so a quiet project still shows its last month), or `?since=&until=` days,
//! with `branch` and `job`. Parsed once, validated, and written back into links.

use chrono::{Duration, NaiveDate, NaiveDateTime};

use super::error::PageError;
use super::params::{self, bad, Query};
use crate::store::ci_metrics::Window;

pub const DAY_CHOICES: [i64; 3] = [7, 30, 90];
const DEFAULT_DAYS: i64 = 30;
/// Longest since/until window: one chart bar per day must stay readable.
const MAX_DAYS: i64 = 366;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowQuery {
    /// `days` as given (`None`: the default, or since/until).
    pub days: Option<i64>,
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    pub branch: Option<String>,
    pub job: Option<String>,
}

/// The days a window covers, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Days {
    pub fn count(&self) -> i64 {
        (self.last - self.first).num_days() + 1
    }

    pub fn iter(&self) -> impl Iterator<Item = NaiveDate> {
        let first = self.first;
        (0..self.count()).map(move |i| first + Duration::days(i))
    }
}

impl WindowQuery {
    pub fn parse(query: &Query) -> Result<WindowQuery, PageError> {
        let days = params::number(query, "days", 1, MAX_DAYS)?;
        if let Some(days) = days {
            if !DAY_CHOICES.contains(&days) {
                return Err(bad(
                    "days",
                    format!("`days` is 7, 30 or 90, not `{days}`: for another span give since and until"),
                ));
            }
        }
        let since = params::date(query, "since")?;
        let until = params::date(query, "until")?;
        // Exact days win over `days`: the page's form sends the days chosen so far along
        // with a since or until just picked.
        let days = days.filter(|_| since.is_none() && until.is_none());
        if let (Some(since), Some(until)) = (since, until) {
            if since > until {
                return Err(bad(
                    "since",
                    format!("`since` ({since}) is after `until` ({until})"),
                ));
            }
            if (until - since).num_days() >= MAX_DAYS {
                return Err(bad(
                    "since",
                    format!("a window covers at most {MAX_DAYS} days"),
                ));
            }
        }
        Ok(WindowQuery {
            days,
            since,
            until,
            branch: params::text(query, "branch"),
            job: params::text(query, "job"),
        })
    }

    /// The days covered, given the start of the project's newest run: `until` (or that
    /// run's day) back to `since` (or `days` before).
    pub fn days(&self, newest_run: Option<NaiveDateTime>) -> Days {
        let today = chrono::Utc::now().date_naive();
        let last = self
            .until
            .unwrap_or_else(|| newest_run.map_or(today, |at| at.date()));
        let first = self
            .since
            .unwrap_or_else(|| last - Duration::days(self.days.unwrap_or(DEFAULT_DAYS) - 1));
        // A `since` alone after the newest run shows that one day; one long before it
        // shows at most MAX_DAYS (parse checks only since/until given together).
        let last = last.max(first);
        let first = first.max(last - Duration::days(MAX_DAYS - 1));
        Days { first, last }
    }

    /// The window in the form the metric queries take.
    pub fn window(&self, days: Days) -> Window {
        Window {
            since: days.first.and_hms_opt(0, 0, 0),
            until: (days.last + Duration::days(1)).and_hms_opt(0, 0, 0),
            branch: self.branch.clone(),
            job: self.job.clone(),
        }
    }

    /// Whether `days` is what the window shows (for marking the current choice).
    pub fn shows_days(&self, days: i64) -> bool {
        self.since.is_none() && self.until.is_none() && self.days.unwrap_or(DEFAULT_DAYS) == days
    }

    fn filter_pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("branch", self.branch.clone().unwrap_or_default()),
            ("job", self.job.clone().unwrap_or_default()),
        ]
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("days", self.days.map(|d| d.to_string()).unwrap_or_default()),
            (
                "since",
                self.since.map(|d| d.to_string()).unwrap_or_default(),
            ),
            (
                "until",
                self.until.map(|d| d.to_string()).unwrap_or_default(),
            ),
        ];
        pairs.extend(self.filter_pairs());
        pairs
    }

    /// This window and filters on `path`.
    pub fn href(&self, path: &str) -> String {
        params::link(path, &self.pairs())
    }

    /// The same filters over the last `days` days of data.
    pub fn href_days(&self, path: &str, days: i64) -> String {
        let mut pairs = vec![("days", days.to_string())];
        pairs.extend(self.filter_pairs());
        params::link(path, &pairs)
    }

    /// Only the branch and job filters, for lists that page on their own.
    pub fn href_filters(&self, path: &str) -> String {
        params::link(path, &self.filter_pairs())
    }

    /// The same days pinned by since/until: a link that shows this view tomorrow too.
    pub fn pinned(&self, days: Days) -> WindowQuery {
        WindowQuery {
            days: None,
            since: Some(days.first),
            until: Some(days.last),
            ..self.clone()
        }
    }

    pub fn is_filtered(&self) -> bool {
        self.branch.is_some() || self.job.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<WindowQuery, PageError> {
        WindowQuery::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_is_the_last_30_days_of_data() {
        let newest = day("2026-05-10").and_hms_opt(13, 0, 0);
        let days = parse(&[]).unwrap().days(newest);
        assert_eq!(
            (days.first, days.last),
            (day("2026-04-11"), day("2026-05-10"))
        );
        assert_eq!(days.count(), 30);
        let week = parse(&[("days", "7")]).unwrap().days(newest);
        assert_eq!(week.first, day("2026-05-04"));
    }

    #[test]
    fn since_and_until_are_days_both_included() {
        let q = parse(&[
            ("since", "2026-01-01"),
            ("until", "2026-01-03"),
            ("job", "unit"),
        ])
        .unwrap();
        let days = q.days(None);
        assert_eq!(days.count(), 3);
        let window = q.window(days);
        assert_eq!(window.until, day("2026-01-04").and_hms_opt(0, 0, 0));
        assert_eq!(
            q.href("/projects/p"),
            "/projects/p?since=2026-01-01&until=2026-01-03&job=unit"
        );
        assert_eq!(q.href_days("/projects/p", 7), "/projects/p?days=7&job=unit");
    }

    #[test]
    fn exact_days_win_over_a_span() {
        let q = parse(&[
            ("days", "7"),
            ("since", "2026-01-01"),
            ("until", "2026-01-10"),
        ])
        .unwrap();
        assert_eq!(q.days, None);
        assert_eq!(q.days(None).count(), 10);
        assert_eq!(q.href("/p"), "/p?since=2026-01-01&until=2026-01-10");
    }

    #[test]
    fn one_sided_windows_stay_in_bounds() {
        let newest = day("2026-05-10").and_hms_opt(13, 0, 0);
        let after = parse(&[("since", "2026-06-01")]).unwrap().days(newest);
        assert_eq!((after.first, after.count()), (day("2026-06-01"), 1));
        let ages = parse(&[("since", "1990-01-01")]).unwrap().days(newest);
        assert_eq!((ages.last, ages.count()), (day("2026-05-10"), MAX_DAYS));
        let until = parse(&[("until", "2026-01-31")]).unwrap().days(newest);
        assert_eq!((until.first, until.count()), (day("2026-01-02"), 30));
    }

    #[test]
    fn bad_windows_are_400s_naming_the_parameter() {
        for (pairs, field) in [
            (vec![("days", "14")], "days"),
            (vec![("days", "x")], "days"),
            (
                vec![("since", "2026-02-01"), ("until", "2026-01-01")],
                "since",
            ),
            (vec![("until", "Jan 1")], "until"),
        ] {
            let err = parse(&pairs).unwrap_err();
            assert_eq!(err.error.field.as_deref(), Some(field), "{pairs:?}");
        }
    }
}
