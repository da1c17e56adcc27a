//! Per-project read APIs: scored tests (the flaky list a CI quarantine step reads), one
//! test's history, CI-quality metrics, and runner prices.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::{get, patch, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{kept, query};
use crate::analysis::metrics::{self, Spread};
use crate::analysis::summary::Summary;
use crate::analysis::{Params, Status};
use crate::db::{DbConnection, DbError};
use crate::error::ApiError;
use crate::store::ci_metrics::{self, Window};
use crate::store::project_settings::{self, SettingsChange};
use crate::store::projects;
use crate::store::task_rollups::TaskHistograms;
use crate::store::test_views::{self, TestFilter, TestSort};
use crate::store::tokens::Scope;
use crate::tasks::queue;
use crate::web::{auth, AppState};

/// Pages of the tests list up to this size are kept in the page cache; larger ones (an
/// export of every test) are read each time rather than held in memory.
const KEPT_LIMIT: i64 = 500;

#[get("/projects/{project}/tests")]
pub async fn tests(
    req: HttpRequest,
    state: web::Data<AppState>,
    project: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let token = auth::for_project(&req, &state, &project, Scope::Read).await?;
    let status = match query.get("status").map(String::as_str) {
        None | Some("") | Some("all") => None,
        Some(status) if Status::parse(status).is_some() => Some(status.to_owned()),
        Some(other) => {
            return Err(ApiError::bad_field(
                "status",
                format!(
                    "`status` is one of flaky, broken, healthy, new, skipped, inactive or all, not `{other}`"
                ),
            ))
        }
    };
    let sort = match query.get("sort").map(String::as_str) {
        None | Some("impact") => TestSort::Impact,
        Some("score") => TestSort::Score,
        Some("failure_rate") => TestSort::FailureRate,
        Some("last_flaky") => TestSort::LastFlaky,
        Some("name") => TestSort::Name,
        Some(other) => {
            return Err(ApiError::bad_field(
                "sort",
                format!(
                    "`sort` is one of impact, score, failure_rate, last_flaky, name, not `{other}`"
                ),
            ))
        }
    };
    let limit = query::limit(&query, 100, 5000)?;
    let offset = position(&query)?;
    let filter = TestFilter {
        project_id: token.project_id,
        status,
        job: query::text(&query, "job"),
        branch: query::text(&query, "branch"),
        search: query::text(&query, "search"),
        sort,
        // One more than asked: whether a next page exists.
        limit: limit + 1,
        offset,
        owner: query::text(&query, "owner"),
    };
    let filter_key = filter.clone();
    let project = token.project.clone();
    // The answer holds nothing of the caller's but the project, which is in the key.
    let answer = move |conn: &mut DbConnection| {
        let mut tests = test_views::list(conn, &filter)?;
        // The list is ordered by impact or score, not by time: pages go by position.
        let next = (tests.len() as i64 > limit).then(|| format!("p{}", offset + limit));
        tests.truncate(limit as usize);
        let body = json!({ "project": project, "tests": tests, "next": next }).to_string();
        Ok(web::Bytes::from(body))
    };
    let body = if limit <= KEPT_LIMIT {
        // Every field of the parsed filter, the project's id included.
        let key = format!("{filter_key:?}");
        kept::by_data_version(&state, "api_tests", token.project_id, key, answer).await?
    } else {
        let body = state
            .db
            .run(move |conn| answer(conn).map_err(DbError::from))
            .await
            .map_err(ApiError::storage)?;
        Arc::new(body)
    };
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(web::Bytes::clone(&body)))
}

/// `?cursor=` of the tests list: `p` and the position of the page's first test.
fn position(query: &HashMap<String, String>) -> Result<i64, ApiError> {
    let Some(raw) = query::text(query, "cursor") else {
        return Ok(0);
    };
    raw.strip_prefix('p')
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::bad_field(
                "cursor",
                format!("`cursor` must be the `next` value of the previous page, not `{raw}`"),
            )
        })
}

#[get("/projects/{project}/tests/{id}")]
pub async fn test_detail(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let (project, id) = path.into_inner();
    let token = auth::for_project(&req, &state, &project, Scope::Read).await?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_field("id", format!("the test id is a number, not `{id}`")))?;
    let history = query::limit(&query, 100, 1000)?;
    let project_id = token.project_id;
    let detail = state
        .db
        .run(move |conn| test_views::detail(conn, project_id, id, history).map_err(DbError::from))
        .await
        .map_err(ApiError::storage)?
        .ok_or_else(|| {
            ApiError::not_found(format!("project `{project}` has no scored test {id}"))
        })?;
    Ok(HttpResponse::Ok().json(detail))
}

#[get("/projects/{project}/metrics")]
pub async fn quality_metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
    project: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let token = auth::for_project(&req, &state, &project, Scope::Read).await?;
    let window = Window {
        since: query::time(&query, "since")?,
        until: query::time(&query, "until")?,
        branch: query::text(&query, "branch"),
        job: query::text(&query, "job"),
    };
    let project_id = token.project_id;
    // The runs' figures change only with the project's data: kept by its data version.
    let key = format!("{window:?}");
    let runs_window = window.clone();
    // Three parts, each kept its own way; after a change they are computed side by side.
    let figures = kept::by_data_version(&state, "api_metrics", project_id, key, move |conn| {
        let summary = ci_metrics::summary(conn, project_id, &runs_window)?;
        let (rates, currency) = ci_metrics::rate_table(conn, project_id)?;
        Ok(run_figures(&summary, &rates, &currency))
    });
    // The store tasks' timings change with every upload and no data version tracks them:
    // kept for a few seconds at most (`recent_cache`). Tasks have no branch or job.
    let span = format!("{:?}..{:?}", window.since, window.until);
    let db = &state.db;
    let timings = state.caches.recent.get_or_compute(
        "api_metrics_tasks",
        project_id,
        span,
        move || async move {
            db.run(move |conn| {
                let timings = ci_metrics::task_timings(conn, project_id, &window)?;
                Ok::<_, DbError>(task_figures(&timings))
            })
            .await
            .map_err(ApiError::storage)
        },
    );
    // The scoring backlog moves with the queue: kept a second (two at most), and not past
    // a change to the queue this server heard of (as the tasks page's counts).
    let changes = state.signals.queue_changes().to_string();
    let backlog = state.caches.queue.get_or_compute(
        "api_metrics_backlog",
        project_id,
        changes,
        move || async move {
            db.run(move |conn| {
                queue::scoring_backlog(conn, &queue::ProjectScope::one(project_id))
                    .map_err(DbError::from)
            })
            .await
            .map_err(ApiError::storage)
        },
    );
    let (figures, timings, backlog) = tokio::try_join!(figures, timings, backlog)?;
    let backlog = backlog.value;
    let mut answer = (*figures).clone();
    if let Some(promptness) = answer["promptness"].as_object_mut() {
        for (name, value) in &timings.value {
            promptness.insert(name.to_string(), value.clone());
        }
        promptness.insert(
            "scoring_backlog".to_owned(),
            json!({
                "runs_waiting": backlog.waiting,
                "oldest_stored_at": backlog.oldest_stored_at.map(|t| t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            }),
        );
    }
    Ok(HttpResponse::Ok().json(answer))
}

/// The store timings' part of `promptness`.
fn task_figures(timings: &TaskHistograms) -> Vec<(&'static str, Value)> {
    vec![
        ("queue_ms", spread(&Spread::ms_of(&timings.queue))),
        ("store_ms", spread(&Spread::ms_of(&timings.store))),
        ("scoring_ms", spread(&Spread::ms_of(&timings.scoring))),
    ]
}

/// The metrics of the runs: everything but the store tasks' part of `promptness`.
fn run_figures(summary: &Summary, rates: &metrics::RateTable, currency: &str) -> Value {
    let accuracy = metrics::accuracy(summary);
    let promptness = metrics::promptness(summary);
    let cost = metrics::cost(summary, rates);
    let spend =
        |s: metrics::Spend| json!({ "minutes": s.minutes, "money": s.money_micros as f64 / 1e6 });
    json!({
        "runs": accuracy.runs,
        "accuracy": {
            "red_runs": accuracy.red_runs,
            "red_flaky_only": accuracy.red_flaky_only,
            "red_broken": accuracy.red_broken,
            "red_other": accuracy.red_other,
            "false_alarm_share": accuracy.false_alarm_share,
            "broken_share": accuracy.broken_share,
            "flaky_failures_per_run": accuracy.flaky_failures_per_run,
        },
        "promptness": {
            "minutes_per_job": promptness.per_job.iter().map(|(job, s)| (job.clone(), spread(s))).collect::<serde_json::Map<_, _>>(),
            "minutes_per_pipeline": spread(&promptness.per_pipeline),
            "minutes_to_first_red": spread(&promptness.time_to_first_red),
        },
        "cost": {
            "currency": currency,
            "total": spend(cost.total),
            "minutes_per_pipeline": spread(&cost.pipeline_minutes),
            "reruns": spend(cost.reruns),
            "reruns_after_flaky": spend(cost.reruns_after_flaky),
            "flaky_retries": spend(cost.flaky_retries),
        },
    })
}

fn spread(s: &Spread) -> Value {
    json!({ "count": s.count, "p50": s.p50, "p95": s.p95 })
}

#[get("/projects/{project}")]
pub async fn show_project(
    req: HttpRequest,
    state: web::Data<AppState>,
    project: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = auth::for_project(&req, &state, &project, Scope::Admin).await?;
    let project_id = token.project_id;
    let settings = state
        .db
        .run(move |conn| {
            let project = projects::find_by_id(conn, project_id)?;
            Ok::<_, DbError>(project_settings::show(conn, &project)?)
        })
        .await
        .map_err(ApiError::storage)?;
    Ok(HttpResponse::Ok().json(settings))
}

/// The body of `PATCH /projects/{project}`: only the fields given change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    display_name: Option<String>,
    default_branch: Option<String>,
    /// Price of a runner minute by label (`_default`: every other runner); null removes it.
    #[serde(default)]
    runner_rates: std::collections::BTreeMap<String, Option<f64>>,
    currency: Option<String>,
}

/// Changes a project's settings (admin). A new default branch scores the project again
/// before the answer, which says how much was rescored.
#[patch("/projects/{project}")]
pub async fn update_project(
    req: HttpRequest,
    state: web::Data<AppState>,
    project: web::Path<String>,
    body: web::Json<SettingsBody>,
) -> Result<HttpResponse, ApiError> {
    let token = auth::for_project(&req, &state, &project, Scope::Admin).await?;
    let body = body.into_inner();
    let change = SettingsChange {
        display_name: body.display_name,
        default_branch: body.default_branch,
        runner_rates: body.runner_rates.into_iter().collect(),
        currency: body.currency,
    };
    change
        .validate()
        .map_err(|e| ApiError::bad_field(e.field, e.message))?;
    let project_id = token.project_id;
    let (rescored, settings) = state
        .db
        .run(move |conn| {
            let project = projects::find_by_id(conn, project_id)?;
            let now = chrono::Utc::now().naive_utc();
            let rescored = project_settings::apply(
                conn,
                &project,
                &change,
                &Params::default(),
                now,
                |_, _| {},
            )?;
            let project = projects::find_by_id(conn, project_id)?;
            Ok::<_, DbError>((rescored, project_settings::show(conn, &project)?))
        })
        .await
        .map_err(ApiError::storage)?;
    let mut answer = serde_json::to_value(settings).unwrap_or_default();
    answer["rescored"] = match rescored {
        Some(r) => json!({ "runs": r.runs, "results": r.results, "tests": r.tests }),
        None => Value::Null,
    };
    Ok(HttpResponse::Ok().json(answer))
}
