//! `GET /api/v1/projects/{p}/deliveries` (admin): what was sent to the webhooks — each
//! week's report and each batch of test events, per webhook — with attempts and errors.

use std::collections::HashMap;

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::json;

use super::query;
use crate::db::DbError;
use crate::error::ApiError;
use crate::store::deliveries;
use crate::store::tokens::Scope;
use crate::web::{auth, AppState};

#[get("/projects/{project}/deliveries")]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    project: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let token = auth::for_project(&req, &state, &project, Scope::Admin).await?;
    let limit = query::limit(&query, 100, 1000)?;
    let project_id = token.project_id;
    let listed = state
        .db
        .run(move |conn| deliveries::list(conn, project_id, limit).map_err(DbError::from))
        .await
        .map_err(ApiError::storage)?;
    Ok(HttpResponse::Ok().json(json!({ "deliveries": listed })))
}
