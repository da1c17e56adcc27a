//! A project's page: how CI has been doing over a window (accuracy, promptness and cost,
//! each against the window before, with daily charts), what is flaky, what is broken, and
//! the recent runs.

use actix_web::{get, web, HttpResponse};
use askama::Template;

use super::change::{change, Change, Measure};
use super::params::{self, PageQuery};
use super::window::{Days, WindowQuery, DAY_CHOICES};
use super::{project_data, project_or_404, render, trends, PageError};
use crate::analysis::metrics::{self, Accuracy, Cost, Promptness};
use crate::analysis::summary::Summary;
use crate::store::ci_metrics;
use crate::store::run_views::{self, RunFilter, RunRow};
use crate::store::task_rollups;
use crate::store::test_views::{self, TestFilter, TestSort, TestSummary};
use crate::store::window_rollups::{self, DayRange};
use crate::web::access::Viewer;
use crate::web::charts::{self, Daily, DailyBars, Line};
use crate::web::AppState;

/// Rows of the flaky and broken tables and the recent runs; the lists page the rest.
const SHOWN: i64 = 20;

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    name: String,
    title: String,
    default_branch: String,
    counts: Vec<(String, i64)>,
    flaky: Vec<TestSummary>,
    broken: Vec<TestSummary>,
    runs: Vec<RunRow>,
    accuracy: Accuracy,
    promptness: Promptness,
    cost: Cost,
    currency: String,
    /// Against the window of the same length just before this one.
    changes: Changes,
    days: Days,
    window: WindowQuery,
    branches: Vec<String>,
    jobs: Vec<String>,
    charts: Charts,
    has_runs: bool,
}

/// Each card's change against the previous window (`None`: nothing to compare with).
struct Changes {
    red_runs: Option<Change>,
    false_alarm_share: Option<Change>,
    feedback_p50: Option<Change>,
    minutes: Option<Change>,
}

/// The window's trend charts, as inline SVG.
struct Charts {
    red: String,
    feedback: String,
    flaky: String,
    tasks: String,
    cost: String,
}

impl ProjectPage {
    fn count(&self, status: &str) -> i64 {
        self.counts
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    }

    fn path(&self) -> String {
        format!("/projects/{}", params::segment(&self.name))
    }

    /// The tests list with one status.
    fn tests_href(&self, status: &str) -> String {
        params::link(
            &format!("{}/tests", self.path()),
            &[("status", status.to_owned())],
        )
    }

    fn days_href(&self, days: &i64) -> String {
        self.window.href_days(&self.path(), *days)
    }

    /// Whether the project prices its runners (then cost shows money too).
    fn priced(&self) -> bool {
        self.cost.total.money_micros > 0
    }

    fn money(&self, micros: &i64) -> String {
        format!("{:.2} {}", *micros as f64 / 1e6, self.currency)
    }

    fn day_choices(&self) -> [i64; 3] {
        DAY_CHOICES
    }

    /// This view with its days pinned, to share.
    fn permalink(&self) -> String {
        self.window.pinned(self.days).href(&self.path())
    }

    fn runs_href(&self) -> String {
        self.window.href_filters(&format!("{}/runs", self.path()))
    }

    fn red_runs_href(&self) -> String {
        let mut pairs = vec![("outcome", "red".to_owned())];
        pairs.extend(
            [("branch", &self.window.branch), ("job", &self.window.job)]
                .into_iter()
                .map(|(k, v)| (k, v.clone().unwrap_or_default())),
        );
        params::link(&format!("{}/runs", self.path()), &pairs)
    }
}

#[get("/projects/{name}")]
pub async fn project_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    name: web::Path<String>,
    PageQuery(query): PageQuery,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    super::readable(&viewer, &name)?;
    let window = WindowQuery::parse(&query).map_err(|err| {
        err.back_to(
            format!("/projects/{}", params::segment(&name)),
            "the project's page",
        )
    })?;
    let canonical = window.href("");
    let page = project_data(&state, "project", &name, canonical, move |conn, project| {
        let list = |conn: &mut _, status: &str| {
            test_views::list(
                conn,
                &TestFilter {
                    project_id: project.id,
                    status: Some(status.to_owned()),
                    job: None,
                    branch: None,
                    search: None,
                    sort: TestSort::Impact,
                    limit: SHOWN,
                    owner: None,
                    offset: 0,
                },
            )
        };
        let flaky = list(conn, "flaky")?;
        let broken = list(conn, "broken")?;
        let newest = run_views::newest_start(conn, project.id)?;
        let days = window.days(newest);
        let span = window.window(days);
        // This window's days and those of the one just before it in one read.
        let by_day = window_rollups::by_day(
            conn,
            project.id,
            &DayRange {
                first: Some(previous(days).first),
                last: Some(days.last),
                branch: window.branch.clone(),
                job: window.job.clone(),
            },
        )?;
        let (mut summary, mut earlier) = (Summary::default(), Summary::default());
        for (day, figures) in &by_day {
            let into = if *day < days.first {
                &mut earlier
            } else {
                &mut summary
            };
            into.merge(figures);
        }
        let (rates, currency) = ci_metrics::rate_table(conn, project.id)?;
        let trends = trends::daily(&by_day, days, &rates);
        let task_days = DayRange {
            first: Some(days.first),
            last: Some(days.last),
            ..DayRange::default()
        };
        let tasks = task_rollups::by_day(conn, project.id, &task_days)?;
        let tasks = trends::task_daily(&tasks, days);
        let charts = draw(&trends, tasks, days, &currency);
        let runs = run_views::list(
            conn,
            &RunFilter {
                project_id: project.id,
                branch: window.branch.clone(),
                job: window.job.clone(),
                since: span.since,
                until: span.until,
                limit: SHOWN,
                ..RunFilter::default()
            },
        )?;
        let (branches, jobs) = run_views::branches_and_jobs(conn, project.id)?;
        Ok(ProjectPage {
            counts: test_views::count_by_status(conn, project.id)?,
            runs,
            changes: compare(&summary, &earlier, &rates),
            accuracy: metrics::accuracy(&summary),
            promptness: metrics::promptness(&summary),
            cost: metrics::cost(&summary, &rates),
            currency,
            charts,
            has_runs: newest.is_some(),
            title: project.title().to_owned(),
            name: project.name,
            default_branch: project.default_branch,
            flaky,
            broken,
            days,
            window,
            branches,
            jobs,
        })
    })
    .await?;
    render(&*project_or_404(page, &name)?)
}

/// The days just before `days`, as many of them.
fn previous(days: Days) -> Days {
    let count = chrono::Duration::days(days.count());
    Days {
        first: days.first - count,
        last: days.last - count,
    }
}

fn compare(now: &Summary, before: &Summary, rates: &metrics::RateTable) -> Changes {
    let figures = |summary: &Summary| {
        let accuracy = metrics::accuracy(summary);
        // No run: nothing to compare, rather than a fall from or to zero.
        let known = |value: f64| (accuracy.runs > 0).then_some(value);
        (
            known(accuracy.red_runs as f64),
            (accuracy.red_runs > 0).then_some(accuracy.false_alarm_share),
            metrics::promptness(summary).per_pipeline.p50,
            known(metrics::cost(summary, rates).total.minutes),
        )
    };
    let (now, before) = (figures(now), figures(before));
    Changes {
        red_runs: change(now.0, before.0, Measure::Amount),
        false_alarm_share: change(now.1, before.1, Measure::Share),
        feedback_p50: change(now.2, before.2, Measure::Minutes),
        minutes: change(now.3, before.3, Measure::Amount),
    }
}

/// The window's charts. `tasks`: each day's median queue and store time in seconds.
fn draw(
    trends: &trends::Trends,
    tasks: (Vec<Option<f64>>, Vec<Option<f64>>),
    days: Days,
    currency: &str,
) -> Charts {
    let first = days.first;
    let priced = trends.money.iter().any(|m| *m > 0.0);
    let money_unit = format!("{currency} per day");
    Charts {
        red: charts::red_runs_per_day(&trends.red),
        feedback: charts::daily_lines(&Daily {
            id: "feedback",
            title: "Time to feedback per day (minutes, median and 95th percentile)",
            unit: "minutes",
            first,
            lines: vec![
                Line {
                    name: "median",
                    colour: charts::LINE,
                    values: trends.feedback_p50.clone(),
                },
                Line {
                    name: "95th percentile",
                    colour: charts::SECOND,
                    values: trends.feedback_p95.clone(),
                },
            ],
        }),
        flaky: charts::daily_lines(&Daily {
            id: "flaky-per-run",
            title: "Failures of flaky tests per run, per day",
            unit: "per run",
            first,
            lines: vec![Line {
                name: "flaky failures per run",
                colour: charts::LINE,
                values: trends.flaky_per_run.clone(),
            }],
        }),
        tasks: charts::daily_lines(&Daily {
            id: "store-times",
            title: "Store queue time and store time per day (median seconds)",
            unit: "seconds",
            first,
            lines: vec![
                Line {
                    name: "queue time",
                    colour: charts::LINE,
                    values: tasks.0,
                },
                Line {
                    name: "store time",
                    colour: charts::SECOND,
                    values: tasks.1,
                },
            ],
        }),
        cost: charts::daily_bars(&DailyBars {
            id: "cost",
            title: if priced {
                "Runner cost per day"
            } else {
                "Runner minutes per day"
            },
            unit: if priced { &money_unit } else { "minutes" },
            first,
            colour: charts::OTHER,
            values: if priced {
                trends.money.clone()
            } else {
                trends.minutes.clone()
            },
        }),
    }
}
