//! The JSON API under `/api/v1`.

pub(crate) mod body_file;
pub(crate) mod cursor;
mod deliveries;
mod kept;
mod projects;
pub(crate) mod query;
mod reports;
mod slow_body;
pub(super) mod tasks;
pub(crate) mod upload_body;
pub(crate) mod uploads;
mod verdicts;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(uploads::create)
            .service(tasks::list)
            .service(tasks::show)
            .service(tasks::cancel)
            .service(projects::tests)
            .service(projects::test_detail)
            .service(projects::quality_metrics)
            .service(projects::show_project)
            .service(projects::update_project)
            .service(verdicts::verdict)
            .service(verdicts::list_quarantine)
            .service(verdicts::add_quarantine)
            .service(verdicts::remove_quarantine)
            .service(verdicts::set_codeowners)
            .service(reports::weekly)
            .service(deliveries::list),
    );
}
