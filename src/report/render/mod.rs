//! The formats of the weekly report, each a pure function of `WeeklyReport`.

pub mod csv;
pub mod html;
pub mod markdown;

use super::data::{Figures, WeeklyReport};

/// The formats a report is exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Html,
    #[value(alias = "markdown")]
    Md,
    Csv,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "html" => Some(Format::Html),
            "md" | "markdown" => Some(Format::Md),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Md => "text/markdown; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Md => "md",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

pub fn render(report: &WeeklyReport, format: Format) -> String {
    match format {
        Format::Html => html::render(report),
        Format::Md => markdown::render(report),
        Format::Csv => csv::render(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default(),
    }
}

/// The headline as (figure, this period, previous period), formatted the same in every
/// format that shows a table.
pub fn headline_rows(r: &WeeklyReport) -> Vec<(&'static str, String, String)> {
    let money = |v: f64| format!("{v:.2} {}", r.currency);
    type Show = fn(&Figures) -> String;
    let rows: Vec<(&'static str, Show)> = vec![
        ("runs", |f| f.runs.to_string()),
        ("red runs", |f| f.red_runs.to_string()),
        ("false alarms (red only from flaky tests)", |f| {
            format!("{} ({})", f.false_alarms, percent(f.false_alarm_share))
        }),
        ("red because of broken tests", |f| percent(f.broken_share)),
        ("flaky failures per run", |f| {
            format!("{:.2}", f.flaky_failures_per_run)
        }),
        ("pipeline minutes p50", |f| {
            opt_minutes(f.pipeline_minutes_p50)
        }),
        ("pipeline minutes p95", |f| {
            opt_minutes(f.pipeline_minutes_p95)
        }),
        ("minutes to first red p50", |f| {
            opt_minutes(f.minutes_to_first_red_p50)
        }),
        ("runner minutes", |f| minutes(f.cost_minutes)),
        ("reruns after flaky failures, minutes", |f| {
            minutes(f.reruns_after_flaky_minutes)
        }),
        ("flaky in-run retries, minutes", |f| {
            minutes(f.flaky_retry_minutes)
        }),
    ];
    let mut out: Vec<(&'static str, String, String)> = rows
        .into_iter()
        .map(|(name, show)| (name, show(&r.headline), show(&r.previous_headline)))
        .collect();
    out.push((
        "runner cost",
        money(r.headline.cost_money),
        money(r.previous_headline.cost_money),
    ));
    out.push((
        "wasted on flaky tests",
        money(r.headline.wasted_money),
        money(r.previous_headline.wasted_money),
    ));
    out
}

pub fn percent(share: f64) -> String {
    format!("{:.1}%", 100.0 * share)
}

pub fn minutes(m: f64) -> String {
    format!("{m:.1}")
}

fn opt_minutes(m: Option<f64>) -> String {
    m.map_or_else(|| "–".into(), minutes)
}

/// The change from `before` to `now` for numbers that lead their text ("12", "4 (25.0%)",
/// "3.5 USD"); "–" when either is not a number.
pub fn change(now: &str, before: &str) -> String {
    let lead = |s: &str| {
        s.split([' ', '%', '('])
            .next()
            .and_then(|n| n.parse::<f64>().ok())
    };
    match (lead(now), lead(before)) {
        (Some(a), Some(b)) if a == b => "=".into(),
        (Some(a), Some(b)) => format!("{:+.1}", a - b),
        _ => "–".into(),
    }
}
