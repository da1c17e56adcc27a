//! `GET /metrics` in Prometheus text format.

use actix_web::{get, web, HttpRequest, HttpResponse};

use super::AppState;
use crate::db::DbError;
use crate::error::ApiError;
use crate::tasks::queue;

#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::access::check_metrics(&req, &state.access)?;
    let depth = state
        .db
        .run(|conn| queue::count_by_status(conn).map_err(DbError::from))
        .await
        .map_err(ApiError::storage)?;
    let mut text = state.metrics.render(&depth);
    text.push_str(&format!(
        "# HELP flakewatch_uploads_in_flight Upload bodies being received now.\n\
         # TYPE flakewatch_uploads_in_flight gauge\n\
         flakewatch_uploads_in_flight {}\n",
        state.upload_slots.in_flight()
    ));
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
