//! Liveness and readiness probes for load balancers and orchestrators.

use actix_web::{get, web, HttpResponse};
use diesel::r2d2::R2D2Connection;
use serde::Serialize;

use super::AppState;
use crate::db::{migrations, Backend};

/// The process is up and serving HTTP; says nothing about the database.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    backend: Backend,
    database: &'static str,
    migrations: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

/// Ready to take traffic: the database answers and its schema is current.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let backend = state.db.backend;
    let check = state
        .db
        .run(|conn| -> Result<Result<bool, String>, crate::db::DbError> {
            conn.ping()?;
            Ok(migrations::is_current(conn))
        })
        .await;
    let readiness = match check {
        Ok(Ok(true)) => Readiness {
            status: "ready",
            backend,
            database: "reachable",
            migrations: "applied",
            problem: None,
        },
        Ok(Ok(false)) => Readiness {
            status: "not_ready",
            backend,
            database: "reachable",
            migrations: "pending",
            problem: Some("migrations are pending: run `flakewatch migrate`".into()),
        },
        Ok(Err(problem)) => Readiness {
            status: "not_ready",
            backend,
            database: "reachable",
            migrations: "unknown",
            problem: Some(problem),
        },
        Err(err) => Readiness {
            status: "not_ready",
            backend,
            database: "unreachable",
            migrations: "unknown",
            problem: Some(err.to_string()),
        },
    };
    if readiness.status == "ready" {
        HttpResponse::Ok().json(readiness)
    } else {
        HttpResponse::ServiceUnavailable().json(readiness)
    }
}
