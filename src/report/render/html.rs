//! The weekly report as one self-contained HTML file: inline CSS, no script, no external
//! request; reads in a mail client and prints to PDF on A4.

use askama::Template;

use super::{change, headline_rows};
use crate::report::data::WeeklyReport;

#[derive(Template)]
#[template(path = "report.html")]
struct ReportHtml<'a> {
    r: &'a WeeklyReport,
    headline: Vec<(&'static str, String, String, String)>,
}

pub fn render(r: &WeeklyReport) -> String {
    let headline = headline_rows(r)
        .into_iter()
        .map(|(name, now, before)| {
            let delta = change(&now, &before);
            (name, now, before, delta)
        })
        .collect();
    ReportHtml { r, headline }
        .render()
        .unwrap_or_else(|err| format!("<p>the report could not be drawn: {err}</p>"))
}
