//! One test's page: why flakewatch says what it says, since when, and how it fails, with
//! each result linked to its run: a history strip, failure rate and duration over time,
//! failure modes, evidence, and the lines that leave it out in its own test runner.

use std::collections::BTreeMap;

use actix_web::{get, web, HttpResponse};
use askama::Template;
use chrono::{Duration, NaiveDate};

use super::params::segment;
use super::{project_data, render, PageError};
use crate::exclusions::{self, Format, TestName};
use crate::store::test_views::{self, HistoryEntry, TestDetail};
use crate::web::access::Viewer;
use crate::web::charts::{self, Daily, Line};
use crate::web::AppState;

/// Newest results shown.
const HISTORY: i64 = 100;

#[derive(Template)]
#[template(path = "test.html")]
struct TestPage {
    project: String,
    path: String,
    detail: TestDetail,
    /// The CSRF token of the quarantine forms, when the viewer may use them.
    quarantine_csrf: Option<String>,
    /// (runner, the argument or lines that leave this test out there).
    exclusions: Vec<(&'static str, String)>,
    failure_rate_chart: String,
    duration_chart: String,
}

impl TestPage {
    /// The history strip's mark for one result: its outcome, or `retried` when it passed
    /// only after failing in the same run.
    fn mark(&self, entry: &HistoryEntry) -> &'static str {
        match entry.outcome.as_str() {
            "passed" if entry.failed_attempts > 0 => "retried",
            "passed" => "passed",
            "failed" => "failed",
            "error" => "error",
            _ => "skipped",
        }
    }
}

/// The runners the page gives exclusion lines for, as `flakewatch flaky --format` names them.
const RUNNERS: [(&str, Format); 6] = [
    ("pytest (argument file line)", Format::Pytest),
    ("Maven Surefire", Format::Maven),
    ("Gradle (test filter block)", Format::Gradle),
    ("Jest", Format::Jest),
    ("go test", Format::Go),
    ("cargo-nextest", Format::Nextest),
];

#[get("/projects/{name}/tests/{id}")]
pub async fn test_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (project, raw_id) = path.into_inner();
    super::readable(&viewer, &project)?;
    let project_path = format!("/projects/{}", segment(&project));
    let not_found = |what: String| {
        PageError::not_found(what)
            .back_to(format!("{project_path}/tests"), "the tests of this project")
    };
    let Ok(id) = raw_id.parse::<i64>() else {
        return Err(not_found(format!(
            "there is no test `{raw_id}`: a test is named by its number"
        )));
    };
    let found = project_data(
        &state,
        "test",
        &project,
        id.to_string(),
        move |conn, found| Ok(test_views::detail(conn, found.id, id, HISTORY)?.map(TestData::of)),
    )
    .await?;
    let data = match found.as_deref().cloned() {
        None => {
            return Err(PageError::not_found(format!(
                "there is no project `{project}`"
            )))
        }
        Some(None) => {
            return Err(not_found(format!(
                "project `{project}` has no scored test {id}"
            )))
        }
        Some(Some(data)) => data,
    };
    render(&TestPage {
        quarantine_csrf: super::admin_form::form_token(&viewer, &project),
        project,
        path: project_path,
        detail: data.detail,
        exclusions: data.exclusions,
        failure_rate_chart: data.failure_rate_chart,
        duration_chart: data.duration_chart,
    })
}

/// What the page shows of the test, the same for every viewer.
#[derive(Clone)]
struct TestData {
    detail: TestDetail,
    exclusions: Vec<(&'static str, String)>,
    failure_rate_chart: String,
    duration_chart: String,
}

impl TestData {
    fn of(detail: TestDetail) -> TestData {
        let name = TestName {
            classname: detail.test.classname.clone(),
            name: detail.test.name.clone(),
            file: detail.test.file.clone(),
        };
        let exclusions = RUNNERS
            .iter()
            .map(|(runner, format)| {
                (
                    *runner,
                    exclusions::render(*format, std::slice::from_ref(&name)),
                )
            })
            .collect();
        let (failure_rate_chart, duration_chart) = over_time(&detail.history);
        TestData {
            detail,
            exclusions,
            failure_rate_chart,
            duration_chart,
        }
    }
}

/// Days a chart of the history spans at most (the history is its newest results).
const MAX_DAYS: i64 = 90;

/// Daily failure rate (share of results that failed at least one try; skipped ones left
/// out) and median duration of `history`, over the days it covers.
fn over_time(history: &[HistoryEntry]) -> (String, String) {
    let Some(last) = history.iter().map(|h| h.started_at.0.date()).max() else {
        return (String::new(), String::new());
    };
    let oldest = history
        .iter()
        .map(|h| h.started_at.0.date())
        .min()
        .unwrap_or(last);
    let first = oldest.max(last - Duration::days(MAX_DAYS - 1));
    let mut by_day: BTreeMap<NaiveDate, Vec<&HistoryEntry>> = BTreeMap::new();
    for entry in history {
        by_day
            .entry(entry.started_at.0.date())
            .or_default()
            .push(entry);
    }
    let days = (last - first).num_days() + 1;
    let (mut rates, mut durations) = (Vec::new(), Vec::new());
    for offset in 0..days {
        let day = by_day
            .get(&(first + Duration::days(offset)))
            .map_or(&[][..], Vec::as_slice);
        let ran: Vec<&&HistoryEntry> = day.iter().filter(|h| h.outcome != "skipped").collect();
        let failing = ran
            .iter()
            .filter(|h| h.failed_attempts > 0 || h.outcome != "passed");
        rates.push((!ran.is_empty()).then(|| failing.count() as f64 / ran.len() as f64 * 100.0));
        let seconds: Vec<f64> = ran
            .iter()
            .filter_map(|h| h.duration_ms.map(|ms| ms as f64 / 1000.0))
            .collect();
        durations.push(crate::analysis::metrics::Spread::of(&seconds).p50);
    }
    let rate = charts::daily_lines(&Daily {
        id: "test-failure-rate",
        title: "Failure rate per day (% of its results that failed a try)",
        unit: "%",
        first,
        lines: vec![Line {
            name: "failure rate",
            colour: charts::BROKEN,
            values: rates,
        }],
    });
    let duration = charts::daily_lines(&Daily {
        id: "test-duration",
        title: "Duration per day (median seconds per try)",
        unit: "seconds",
        first,
        lines: vec![Line {
            name: "median duration",
            colour: charts::LINE,
            values: durations,
        }],
    });
    (rate, duration)
}
