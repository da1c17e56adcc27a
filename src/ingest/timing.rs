//! When a run started and finished, for CI steps that send no times: taken from the
//! reports themselves (testsuite `timestamp` and `time`), or else from the test durations,
//! counted back from the moment the upload arrived. Promptness and cost figures need these;
//! without them every run would last 0 minutes.

use chrono::{DateTime, Duration, NaiveDateTime};

use crate::junit::{RunInfo, Suite};

/// Where a run's start and finish came from, as stored in `runs.timing_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimingSource {
    /// Sent with the upload (flags or the CI system's variables).
    Client,
    /// The reports' testsuite timestamps and times.
    Report,
    /// The sum of the reported durations, ending when the upload arrived.
    Durations,
    /// Nothing known: both are the time the upload arrived.
    Receipt,
}

impl TimingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TimingSource::Client => "client",
            TimingSource::Report => "report",
            TimingSource::Durations => "durations",
            TimingSource::Receipt => "receipt",
        }
    }
}

/// A report that ends this far after receipt has a wrong clock (or a local time east of
/// UTC read as UTC): the step uploads when its tests are done. Earlier times are taken as
/// they are (a report sent later, or imported): the duration is right either way.
const CLOCK_SLACK: Duration = Duration::minutes(5);

/// Gathers what the reports say about time while they are read.
#[derive(Debug, Default)]
pub struct ReportClock {
    /// Earliest suite start and latest suite end seen.
    span: Option<(NaiveDateTime, NaiveDateTime)>,
    /// `<testsuites time>` of each report, summed.
    run_ms: i64,
    /// Durations of the outermost suites, summed.
    top_suites_ms: i64,
    /// Durations of the test cases (every try), summed.
    cases_ms: i64,
}

impl ReportClock {
    pub fn suite(&mut self, suite: &Suite) {
        let duration = suite.duration_ms.unwrap_or(0).max(0);
        if suite.path.len() <= 1 {
            self.top_suites_ms = self.top_suites_ms.saturating_add(duration);
        }
        let Some(start) = suite.timestamp.as_deref().and_then(parse_timestamp) else {
            return;
        };
        let end = start + Duration::milliseconds(duration);
        self.span = Some(match self.span {
            Some((first, last)) => (first.min(start), last.max(end)),
            None => (start, end),
        });
    }

    pub fn run_info(&mut self, run: Option<&RunInfo>) {
        let ms = run.and_then(|r| r.duration_ms).unwrap_or(0).max(0);
        self.run_ms = self.run_ms.saturating_add(ms);
    }

    pub fn case(&mut self, total_ms: i64) {
        self.cases_ms = self.cases_ms.saturating_add(total_ms.max(0));
    }

    /// The run's start, finish and their source. Times the client sent win; a start alone
    /// finishes at receipt.
    pub fn resolve(
        &self,
        sent_start: Option<NaiveDateTime>,
        sent_finish: Option<NaiveDateTime>,
        received_at: NaiveDateTime,
    ) -> (NaiveDateTime, NaiveDateTime, TimingSource) {
        if let Some(start) = sent_start {
            let finish = sent_finish.unwrap_or(received_at).max(start);
            return (start, finish, TimingSource::Client);
        }
        if let Some(finish) = sent_finish {
            return (finish, finish, TimingSource::Client);
        }
        if let Some((start, end)) = self.span {
            let plausible = end <= received_at + CLOCK_SLACK && start <= end;
            if plausible {
                return (start, end, TimingSource::Report);
            }
        }
        let ms = [self.run_ms, self.top_suites_ms, self.cases_ms]
            .into_iter()
            .find(|&ms| ms > 0);
        match ms {
            Some(ms) => (
                received_at - Duration::milliseconds(ms),
                received_at,
                TimingSource::Durations,
            ),
            None => (received_at, received_at, TimingSource::Receipt),
        }
    }
}

/// A testsuite `timestamp`: RFC 3339 with a zone, or ISO 8601 without one (read as UTC).
fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.naive_utc());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn at(text: &str) -> NaiveDateTime {
        parse_timestamp(text).unwrap()
    }

    fn suite(path: &[&str], timestamp: Option<&str>, ms: i64) -> Suite {
        Suite {
            path: Arc::from(path.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            name: path.last().unwrap().to_string(),
            timestamp: timestamp.map(str::to_owned),
            hostname: None,
            id: None,
            package: None,
            file: None,
            duration_ms: Some(ms),
            declared: Default::default(),
            properties: Vec::new(),
        }
    }

    #[test]
    fn reads_the_usual_timestamp_forms() {
        assert_eq!(at("2026-11-02T08:00:00Z"), at("2026-11-02T09:00:00+01:00"));
        assert_eq!(at("2026-11-02T08:00:00"), at("2026-11-02 08:00:00.000"));
        assert_eq!(
            at("2026-11-02T08:00:00.250").to_string(),
            "2026-11-02 08:00:00.250"
        );
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn client_times_win() {
        let clock = ReportClock::default();
        let received = at("2026-11-02T09:00:00");
        let (start, end, source) = clock.resolve(Some(at("2026-11-02T08:50:00")), None, received);
        assert_eq!(
            (start, end, source),
            (at("2026-11-02T08:50:00"), received, TimingSource::Client)
        );
    }

    #[test]
    fn suites_give_the_span() {
        let mut clock = ReportClock::default();
        clock.suite(&suite(&["a"], Some("2026-11-02T08:40:00"), 60_000));
        clock.suite(&suite(&["b"], Some("2026-11-02T08:30:00"), 120_000));
        let (start, end, source) = clock.resolve(None, None, at("2026-11-02T09:00:00"));
        assert_eq!(source, TimingSource::Report);
        assert_eq!(start, at("2026-11-02T08:30:00"));
        assert_eq!(end, at("2026-11-02T08:41:00"));
    }

    #[test]
    fn implausible_timestamps_fall_back_to_durations() {
        let mut clock = ReportClock::default();
        // A local time read as UTC, an hour in the future.
        clock.suite(&suite(&["a"], Some("2026-11-02T10:00:00"), 90_000));
        clock.suite(&suite(&["a", "inner"], None, 30_000));
        let received = at("2026-11-02T09:00:00");
        let (start, end, source) = clock.resolve(None, None, received);
        assert_eq!(source, TimingSource::Durations);
        assert_eq!(
            (start, end),
            (at("2026-11-02T08:58:30"), received),
            "outer suites only"
        );
    }

    #[test]
    fn old_timestamps_are_taken_as_they_are() {
        // A report sent days later (or imported): its own times are still the run's.
        let mut clock = ReportClock::default();
        clock.suite(&suite(&["a"], Some("2025-01-06T08:00:00"), 600_000));
        let (start, end, source) = clock.resolve(None, None, at("2026-11-02T09:00:00"));
        assert_eq!(source, TimingSource::Report);
        assert_eq!(
            (start, end),
            (at("2025-01-06T08:00:00"), at("2025-01-06T08:10:00"))
        );
    }

    #[test]
    fn case_durations_then_nothing() {
        let received = at("2026-11-02T09:00:00");
        let mut clock = ReportClock::default();
        clock.case(30_000);
        clock.case(30_000);
        assert_eq!(
            clock.resolve(None, None, received),
            (at("2026-11-02T08:59:00"), received, TimingSource::Durations)
        );
        assert_eq!(
            ReportClock::default().resolve(None, None, received),
            (received, received, TimingSource::Receipt)
        );
    }
}
