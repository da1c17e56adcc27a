//! The bodies webhooks receive, each a pure function of what is sent: a weekly report or
//! one batch of test events, in flakewatch's JSON or Slack's `{"text", "blocks"}` shape.

use serde::Serialize;
use serde_json::{json, Value};

use super::data::WeeklyReport;
use super::render::{render, Format};
use super::webhooks::WebhookFormat;
use crate::tasks::model::NaiveDateTimeUtc;

/// What happened to a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The test became flaky.
    Flaky,
    /// The test became broken (fails consistently on the default branch).
    Broken,
    /// A flaky or broken test became healthy again.
    Fixed,
    /// The test's quarantine reached its expiry date.
    QuarantineExpired,
}

impl EventKind {
    pub const ALL: [EventKind; 4] = [
        EventKind::Flaky,
        EventKind::Broken,
        EventKind::Fixed,
        EventKind::QuarantineExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Flaky => "flaky",
            EventKind::Broken => "broken",
            EventKind::Fixed => "fixed",
            EventKind::QuarantineExpired => "quarantine_expired",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    fn phrase(self) -> &'static str {
        match self {
            EventKind::Flaky => "became flaky",
            EventKind::Broken => "became broken",
            EventKind::Fixed => "was fixed",
            EventKind::QuarantineExpired => "left quarantine (it expired)",
        }
    }
}

/// One event as sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub event: EventKind,
    pub test_id: i64,
    pub classname: String,
    pub name: String,
    pub at: NaiveDateTimeUtc,
    /// The test's dashboard page.
    pub link: String,
}

/// The body of a weekly report's delivery. `reports_link` is the dashboard's reports page.
pub fn weekly_report(format: WebhookFormat, report: &WeeklyReport, reports_link: &str) -> String {
    let h = &report.headline;
    let summary = format!(
        "{}: CI quality of {}: {} runs, {} red ({} false alarms); {} newly flaky, {} fixed, {} broken",
        report.project,
        report.period.label,
        h.runs,
        h.red_runs,
        h.false_alarms,
        report.newly_flaky.len(),
        report.fixed.len(),
        report.broken.len()
    );
    let body = match format {
        WebhookFormat::Json => {
            let full: Value =
                serde_json::from_str(&render(report, Format::Json)).unwrap_or(Value::Null);
            json!({
                "type": "weekly_report",
                "project": report.project,
                "week": report.period.label,
                "summary": summary,
                "link": reports_link,
                "report": full,
            })
        }
        WebhookFormat::Slack => {
            let mut lines = vec![format!("*{}*", slack_escape(&summary))];
            for (title, rows) in [
                ("Newly flaky", &report.newly_flaky),
                ("Broken", &report.broken),
                ("Fixed", &report.fixed),
            ] {
                if !rows.is_empty() {
                    let names: Vec<String> = rows
                        .iter()
                        .take(10)
                        .map(|t| slack_link(&t.link, &format!("{}.{}", t.classname, t.name)))
                        .collect();
                    lines.push(format!("{title}: {}", names.join(", ")));
                }
            }
            lines.push(slack_link(reports_link, "The full report"));
            slack(&summary, &lines.join("\n"))
        }
    };
    body.to_string()
}

/// The body of one batch of a project's events.
pub fn events(format: WebhookFormat, project: &str, events: &[Event]) -> String {
    let summary = format!(
        "{project}: {} test event{}",
        events.len(),
        if events.len() == 1 { "" } else { "s" }
    );
    let body = match format {
        WebhookFormat::Json => json!({
            "type": "events",
            "project": project,
            "summary": summary,
            "events": events,
        }),
        WebhookFormat::Slack => {
            let lines: Vec<String> = events
                .iter()
                .map(|e| {
                    let test = format!("{}.{}", e.classname, e.name);
                    format!("• {} {}", slack_link(&e.link, &test), e.event.phrase())
                })
                .collect();
            let text = format!("*{}*\n{}", slack_escape(&summary), lines.join("\n"));
            slack(&summary, &text)
        }
    };
    body.to_string()
}

/// Slack's shape: `text` is the notification's plain fallback, `blocks` what is shown.
fn slack(summary: &str, markdown: &str) -> Value {
    json!({
        "text": summary,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": markdown}}],
    })
}

/// A Slack link, or the escaped text alone when the link is not absolute (no
/// `--public-url`), since Slack cannot follow a relative one.
fn slack_link(url: &str, text: &str) -> String {
    if crate::web::urls::is_http_url(url) && !url.contains(['|', '>']) {
        format!("<{url}|{}>", slack_escape(text))
    } else {
        slack_escape(text)
    }
}

/// Slack's mrkdwn gives `&`, `<` and `>` meaning.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, name: &str, link: &str) -> Event {
        Event {
            event: kind,
            test_id: 7,
            classname: "shop.Cart".into(),
            name: name.into(),
            at: NaiveDateTimeUtc(chrono::NaiveDateTime::default()),
            link: link.into(),
        }
    }

    #[test]
    fn event_batches_in_both_shapes() {
        let events_sent = [
            event(
                EventKind::Flaky,
                "adds <items>",
                "https://ci.example.com/p/tests/7",
            ),
            event(EventKind::Fixed, "totals", "/projects/shop/tests/8"),
        ];
        let generic: Value =
            serde_json::from_str(&events(WebhookFormat::Json, "shop", &events_sent)).unwrap();
        assert_eq!(generic["type"], "events");
        assert_eq!(generic["events"][0]["event"], "flaky");
        assert_eq!(
            generic["events"][0]["link"],
            "https://ci.example.com/p/tests/7"
        );
        assert_eq!(generic["events"][1]["event"], "fixed");

        let slack: Value =
            serde_json::from_str(&events(WebhookFormat::Slack, "shop", &events_sent)).unwrap();
        assert_eq!(slack["text"], "shop: 2 test events");
        let shown = slack["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            shown.contains(
                "<https://ci.example.com/p/tests/7|shop.Cart.adds &lt;items&gt;> became flaky"
            ),
            "{shown}"
        );
        // A relative link is no link in Slack: the name alone.
        assert!(shown.contains("• shop.Cart.totals was fixed"), "{shown}");
    }
}
