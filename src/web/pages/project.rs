//! A project's page: how CI has been doing over a window (red runs and why, time to
//! feedback, with daily charts), what is flaky, what is broken, and the recent runs.

use actix_web::{get, web, HttpResponse};
use askama::Template;

use super::params::{self, PageQuery};
use super::window::{Days, WindowQuery, DAY_CHOICES};
use super::{load, project_or_404, render, trends, PageError};
use crate::analysis::metrics::{self, Accuracy};
use crate::store::ci_metrics;
use crate::store::projects;
use crate::store::run_views::{self, RunFilter, RunRow};
use crate::store::test_views::{self, TestFilter, TestSort, TestSummary};
use crate::web::access::Viewer;
use crate::web::{charts, AppState};

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
    /// Median pipeline time to feedback over the window, in minutes.
    feedback_p50: Option<f64>,
    days: Days,
    window: WindowQuery,
    branches: Vec<String>,
    jobs: Vec<String>,
    red_chart: String,
    feedback_chart: String,
    has_runs: bool,
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
    let lookup = name.clone();
    let page = load(&state, move |conn| {
        let Some(project) = projects::find(conn, &lookup)? else {
            return Ok(None);
        };
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
        let records = ci_metrics::run_records(conn, project.id, &span)?;
        let (red_days, feedback_days) = trends::daily(&records, days);
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
        Ok(Some(ProjectPage {
            counts: test_views::count_by_status(conn, project.id)?,
            runs,
            accuracy: metrics::accuracy(&records),
            feedback_p50: metrics::promptness(&records).per_pipeline.p50,
            red_chart: charts::red_runs_per_day(&red_days),
            feedback_chart: charts::feedback_per_day(&feedback_days),
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
        }))
    })
    .await?;
    render(&project_or_404(page, &name)?)
}
