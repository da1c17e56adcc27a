//! A project's tests, every status: searchable, sortable, filtered by status, job and
//! branch, paged. The same list as the tests API (`test_views::list`).

use actix_web::{get, web, HttpResponse};
use askama::Template;

use super::params::{self, PageQuery, Query};
use super::{project_data, project_or_404, render, PageError};
use crate::analysis::Status;
use crate::store::run_views;
use crate::store::test_views::{self, TestFilter, TestSort, TestSummary};
use crate::web::access::Viewer;
use crate::web::AppState;

const PAGE_SIZE: i64 = 50;
const MAX_PAGE_SIZE: i64 = 500;
/// Deepest page: past it, a search narrows better than paging.
const MAX_PAGE: i64 = 10_000;

const SORTS: [(&str, TestSort); 5] = [
    ("impact", TestSort::Impact),
    ("score", TestSort::Score),
    ("failure_rate", TestSort::FailureRate),
    ("last_flaky", TestSort::LastFlaky),
    ("name", TestSort::Name),
];

/// `?search=&status=&job=&branch=&owner=&sort=&limit=&page=`: validated, and written back into
/// links.
#[derive(Debug, Clone)]
pub struct TestsQuery {
    pub search: Option<String>,
    pub status: Option<Status>,
    pub job: Option<String>,
    pub branch: Option<String>,
    /// As CODEOWNERS names it, e.g. `@acme/cart`.
    pub owner: Option<String>,
    pub sort: TestSort,
    /// Tests per page (`None`: the default).
    pub limit: Option<i64>,
    pub page: i64,
}

impl TestsQuery {
    pub fn parse(query: &Query) -> Result<TestsQuery, PageError> {
        let statuses: Vec<(&str, Option<Status>)> = std::iter::once(("all", None))
            .chain(Status::ALL.iter().map(|s| (s.as_str(), Some(*s))))
            .collect();
        Ok(TestsQuery {
            search: params::text(query, "search"),
            status: params::choice(query, "status", &statuses)?.flatten(),
            job: params::text(query, "job"),
            branch: params::text(query, "branch"),
            owner: params::text(query, "owner"),
            sort: params::choice(query, "sort", &SORTS)?.unwrap_or(TestSort::Impact),
            limit: params::number(query, "limit", 1, MAX_PAGE_SIZE)?,
            page: params::number(query, "page", 1, MAX_PAGE)?.unwrap_or(1),
        })
    }

    fn page_size(&self) -> i64 {
        self.limit.unwrap_or(PAGE_SIZE)
    }

    fn sort_word(&self) -> &'static str {
        SORTS
            .iter()
            .find(|(_, sort)| *sort == self.sort)
            .map_or("impact", |(word, _)| word)
    }

    fn pairs(&self, page: i64) -> Vec<(&'static str, String)> {
        vec![
            ("search", self.search.clone().unwrap_or_default()),
            (
                "status",
                self.status
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            ),
            ("job", self.job.clone().unwrap_or_default()),
            ("branch", self.branch.clone().unwrap_or_default()),
            ("owner", self.owner.clone().unwrap_or_default()),
            (
                "sort",
                if self.sort == TestSort::Impact {
                    ""
                } else {
                    self.sort_word()
                }
                .to_owned(),
            ),
            (
                "limit",
                self.limit.map(|n| n.to_string()).unwrap_or_default(),
            ),
            (
                "page",
                if page > 1 {
                    page.to_string()
                } else {
                    String::new()
                },
            ),
        ]
    }
}

#[derive(Template)]
#[template(path = "tests.html")]
struct TestsPage {
    title: String,
    path: String,
    tests: Vec<TestSummary>,
    query: TestsQuery,
    more: bool,
    branches: Vec<String>,
    jobs: Vec<String>,
}

impl TestsPage {
    fn page_href(&self, page: i64) -> String {
        params::link(&format!("{}/tests", self.path), &self.query.pairs(page))
    }

    fn status_is(&self, status: &str) -> bool {
        self.query.status.map(Status::as_str) == Some(status)
    }

    fn sort_is(&self, word: &str) -> bool {
        self.query.sort_word() == word
    }

    /// This view sorted by `word`, from its first page: a column heading's link.
    fn sort_href(&self, word: &str) -> String {
        let sort = SORTS
            .iter()
            .find(|(w, _)| *w == word)
            .map_or(TestSort::Impact, |(_, sort)| *sort);
        let query = TestsQuery {
            sort,
            ..self.query.clone()
        };
        params::link(&format!("{}/tests", self.path), &query.pairs(1))
    }

    fn statuses(&self) -> [&'static str; 6] {
        Status::ALL.map(Status::as_str)
    }

    fn sorts(&self) -> [(&'static str, &'static str); 5] {
        [
            ("impact", "impact (cost of its flaky failures)"),
            ("score", "score"),
            ("failure_rate", "failure rate"),
            ("last_flaky", "last flaky"),
            ("name", "name"),
        ]
    }

    fn is_filtered(&self) -> bool {
        let q = &self.query;
        q.search.is_some()
            || q.status.is_some()
            || q.job.is_some()
            || q.branch.is_some()
            || q.owner.is_some()
    }

    fn first_shown(&self) -> i64 {
        (self.query.page - 1) * self.query.page_size() + 1
    }
}

#[get("/projects/{name}/tests")]
pub async fn tests_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    name: web::Path<String>,
    PageQuery(query): PageQuery,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    super::readable(&viewer, &name)?;
    let query = TestsQuery::parse(&query).map_err(|err| {
        err.back_to(
            format!("/projects/{}/tests", params::segment(&name)),
            "every test of the project",
        )
    })?;
    let canonical = params::link("", &query.pairs(query.page));
    let wanted = query;
    let page = project_data(&state, "tests", &name, canonical, move |conn, project| {
        let mut tests = test_views::list(
            conn,
            &TestFilter {
                project_id: project.id,
                status: wanted.status.map(|s| s.as_str().to_owned()),
                job: wanted.job.clone(),
                branch: wanted.branch.clone(),
                search: wanted.search.clone(),
                sort: wanted.sort,
                owner: wanted.owner.clone(),
                limit: wanted.page_size() + 1,
                offset: (wanted.page - 1) * wanted.page_size(),
            },
        )?;
        let more = tests.len() as i64 > wanted.page_size();
        tests.truncate(wanted.page_size() as usize);
        let (branches, jobs) = run_views::branches_and_jobs(conn, project.id)?;
        Ok(TestsPage {
            title: project.title().to_owned(),
            path: format!("/projects/{}", params::segment(&project.name)),
            tests,
            query: wanted,
            more,
            branches,
            jobs,
        })
    })
    .await?;
    render(&*project_or_404(page, &name)?)
}
