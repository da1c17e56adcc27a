//! One commit: every job (run) that tested it, reruns included, each with its verdict.

use actix_web::{get, web, HttpResponse};
use askama::Template;

use super::params::segment;
use super::{project_data, render, PageError};
use crate::store::run_verdicts;
use crate::store::run_views::{self, RunRow};
use crate::web::access::Viewer;
use crate::web::AppState;

#[derive(Template)]
#[template(path = "commit.html")]
struct CommitPage {
    title: String,
    path: String,
    sha: String,
    default_branch: String,
    /// Each run with its verdict's one-line summary.
    runs: Vec<(RunRow, String)>,
}

impl CommitPage {
    fn red_runs(&self) -> usize {
        self.runs.iter().filter(|(run, _)| run.red()).count()
    }
}

#[get("/projects/{name}/commits/{sha}")]
pub async fn commit_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (project, sha) = path.into_inner();
    super::readable(&viewer, &project)?;
    let project_path = format!("/projects/{}", segment(&project));
    let wanted = sha.clone();
    let found = project_data(
        &state,
        "commit",
        &project,
        sha.clone(),
        move |conn, found| {
            let now = chrono::Utc::now().naive_utc();
            let runs = run_views::of_commit(conn, found.id, &wanted)?;
            let ids: Vec<i64> = runs.iter().map(|run| run.id).collect();
            let mut summaries =
                run_verdicts::summaries(conn, found.id, &found.default_branch, &ids, now)?;
            let runs = runs
                .into_iter()
                .map(|run| {
                    let summary = summaries.remove(&run.id).unwrap_or_default();
                    (run, summary)
                })
                .collect::<Vec<_>>();
            Ok((found, runs))
        },
    )
    .await?;
    let Some((found, runs)) = found.as_deref().cloned() else {
        return Err(PageError::not_found(format!(
            "there is no project `{project}`"
        )));
    };
    if runs.is_empty() {
        return Err(PageError::not_found(format!(
            "project `{project}` has no run of commit `{sha}`"
        ))
        .back_to(format!("{project_path}/runs"), "the runs of this project"));
    }
    render(&CommitPage {
        title: found.title().to_owned(),
        path: project_path,
        sha,
        default_branch: found.default_branch,
        runs,
    })
}
