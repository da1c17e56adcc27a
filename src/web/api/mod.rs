//! The JSON API under `/api/v1`.

mod tasks;
mod upload_body;
mod uploads;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(uploads::create)
            .service(tasks::list)
            .service(tasks::show)
            .service(tasks::cancel),
    );
}
