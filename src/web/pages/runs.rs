//! A project's runs, newest first, filtered by branch, job and outcome, paged by seek on
//! `(started_at, id)` so runs arriving meanwhile never shift a page.

use actix_web::{get, web, HttpResponse};
use askama::Template;

use super::params::{self, PageQuery, Query};
use super::{project_data, project_or_404, render, PageError};
use crate::store::run_views::{self, Outcome, RunFilter, RunRow};
use crate::web::access::Viewer;
use crate::web::api::cursor::Cursor;
use crate::web::AppState;

const PAGE_SIZE: i64 = 50;
const MAX_PAGE_SIZE: i64 = 500;

/// `?branch=&job=&outcome=red|green&limit=&cursor=`: validated, and written back into
/// links.
#[derive(Debug, Clone, Default)]
pub struct RunsQuery {
    pub branch: Option<String>,
    pub job: Option<String>,
    pub outcome: Outcome,
    /// Runs per page (`None`: the default).
    pub limit: Option<i64>,
    pub cursor: Option<Cursor>,
}

impl RunsQuery {
    pub fn parse(query: &Query) -> Result<RunsQuery, PageError> {
        Ok(RunsQuery {
            branch: params::text(query, "branch"),
            job: params::text(query, "job"),
            outcome: params::choice(
                query,
                "outcome",
                &[
                    ("all", Outcome::Any),
                    ("red", Outcome::Red),
                    ("green", Outcome::Green),
                ],
            )?
            .unwrap_or_default(),
            limit: params::number(query, "limit", 1, MAX_PAGE_SIZE)?,
            cursor: Cursor::from_query(query)?,
        })
    }

    fn outcome_word(&self) -> &'static str {
        match self.outcome {
            Outcome::Any => "",
            Outcome::Red => "red",
            Outcome::Green => "green",
        }
    }

    /// This list's filters with another page (`None`: the newest).
    pub fn href(&self, path: &str, cursor: Option<Cursor>) -> String {
        params::link(
            path,
            &[
                ("branch", self.branch.clone().unwrap_or_default()),
                ("job", self.job.clone().unwrap_or_default()),
                ("outcome", self.outcome_word().to_owned()),
                (
                    "limit",
                    self.limit.map(|n| n.to_string()).unwrap_or_default(),
                ),
                ("cursor", cursor.map(|c| c.encode()).unwrap_or_default()),
            ],
        )
    }
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    title: String,
    path: String,
    default_branch: String,
    runs: Vec<RunRow>,
    query: RunsQuery,
    next: Option<String>,
    branches: Vec<String>,
    jobs: Vec<String>,
}

impl RunsPage {
    fn is_filtered(&self) -> bool {
        self.query.branch.is_some()
            || self.query.job.is_some()
            || self.query.outcome != Outcome::Any
    }

    fn first_href(&self) -> String {
        self.query.href(&format!("{}/runs", self.path), None)
    }

    fn outcome_is(&self, word: &str) -> bool {
        self.query.outcome_word() == word
    }
}

#[get("/projects/{name}/runs")]
pub async fn runs_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    name: web::Path<String>,
    PageQuery(query): PageQuery,
) -> Result<HttpResponse, PageError> {
    let name = name.into_inner();
    super::readable(&viewer, &name)?;
    let query = RunsQuery::parse(&query).map_err(|err| {
        err.back_to(
            format!("/projects/{}/runs", params::segment(&name)),
            "every run of the project",
        )
    })?;
    let canonical = query.href("", query.cursor);
    let filter_query = query.clone();
    let page_size = query.limit.unwrap_or(PAGE_SIZE);
    let found = project_data(&state, "runs", &name, canonical, move |conn, project| {
        let mut runs = run_views::list(
            conn,
            &RunFilter {
                project_id: project.id,
                branch: filter_query.branch.clone(),
                job: filter_query.job.clone(),
                outcome: filter_query.outcome,
                before: filter_query.cursor.map(|c| (c.at, c.id)),
                limit: page_size + 1,
                ..RunFilter::default()
            },
        )?;
        let more = runs.len() as i64 > page_size;
        runs.truncate(page_size as usize);
        let (branches, jobs) = run_views::branches_and_jobs(conn, project.id)?;
        Ok((project, runs, more, branches, jobs))
    })
    .await?;
    let (project, runs, more, branches, jobs) = (*project_or_404(found, &name)?).clone();
    let path = format!("/projects/{}", params::segment(&project.name));
    let next = runs.last().filter(|_| more).map(|last| {
        query.href(
            &format!("{path}/runs"),
            Some(Cursor {
                at: last.started_at,
                id: last.id,
            }),
        )
    });
    render(&RunsPage {
        title: project.title().to_owned(),
        path,
        default_branch: project.default_branch,
        runs,
        query,
        next,
        branches,
        jobs,
    })
}
