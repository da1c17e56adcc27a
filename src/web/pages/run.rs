//! One run: "is this red my fault?" Counts first, then each failed test by class (new,
//! broken, flaky, quarantined) with its message, and the other attempts of the same commit
//! and job.

use actix_web::{get, web, HttpResponse};
use askama::Template;

use super::params::segment;
use super::{project_data, render, PageError};
use crate::store::run_verdicts::{self, FailedTest, FailureClass, RunVerdict};
use crate::store::run_views::{self, RunRow};
use crate::web::access::Viewer;
use crate::web::AppState;

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    title: String,
    path: String,
    run: RunRow,
    verdict: RunVerdict,
    /// The other runs of this commit and job (reruns), by attempt.
    attempts: Vec<RunRow>,
}

/// The classes in the order a person acts on them, with their headings.
const CLASSES: [(FailureClass, &str); 4] = [
    (FailureClass::New, "New failures: most likely this change"),
    (FailureClass::Broken, "Already broken on the default branch"),
    (FailureClass::Flaky, "Known flaky"),
    (FailureClass::Quarantined, "Quarantined"),
];

impl RunPage {
    fn groups(&self) -> Vec<(&'static str, &'static str, Vec<&FailedTest>)> {
        CLASSES
            .iter()
            .map(|(class, heading)| {
                let tests: Vec<&FailedTest> = self
                    .verdict
                    .failures
                    .iter()
                    .filter(|f| f.class == *class)
                    .collect();
                (class.as_str(), *heading, tests)
            })
            .filter(|(_, _, tests)| !tests.is_empty())
            .collect()
    }

    fn duration(&self) -> String {
        format!("{:.1} minutes", self.run.minutes())
    }
}

#[get("/projects/{name}/runs/{id}")]
pub async fn run_page(
    state: web::Data<AppState>,
    viewer: Viewer,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (project, raw_id) = path.into_inner();
    super::readable(&viewer, &project)?;
    let project_path = format!("/projects/{}", segment(&project));
    let not_found = |what: String| {
        PageError::not_found(what)
            .back_to(format!("{project_path}/runs"), "the runs of this project")
    };
    let Ok(id) = raw_id.parse::<i64>() else {
        return Err(not_found(format!(
            "there is no run `{raw_id}`: a run is named by its number"
        )));
    };
    let found = project_data(
        &state,
        "run",
        &project,
        id.to_string(),
        move |conn, found| {
            let now = chrono::Utc::now().naive_utc();
            let (Some(run), Some(verdict)) = (
                run_views::find(conn, found.id, id)?,
                run_verdicts::verdict(conn, found.id, id, now)?,
            ) else {
                return Ok(None);
            };
            let attempts = run_views::of_commit(conn, found.id, &run.commit_sha)?
                .into_iter()
                .filter(|other| other.job == run.job && other.id != run.id)
                .collect();
            Ok(Some((found.title().to_owned(), run, verdict, attempts)))
        },
    )
    .await?;
    let (title, run, verdict, attempts) = match found.as_deref().cloned() {
        None => {
            return Err(PageError::not_found(format!(
                "there is no project `{project}`"
            )))
        }
        Some(None) => return Err(not_found(format!("project `{project}` has no run {id}"))),
        Some(Some(found)) => found,
    };
    render(&RunPage {
        title,
        path: project_path,
        run,
        verdict,
        attempts,
    })
}
