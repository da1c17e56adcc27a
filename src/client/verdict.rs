//! A red run's verdict as the CI job shows it: lines for the job's log, Markdown for a
//! pull request or a job summary, and the gate that decides the job's exit code.

use clap::ValueEnum;
use serde::Deserialize;

/// The server's verdict answer (`GET /api/v1/projects/{p}/runs/{id}/verdict`), the parts
/// the client shows.
#[derive(Debug, Clone, Deserialize)]
pub struct Verdict {
    pub project: String,
    pub run_id: i64,
    pub summary: String,
    pub counts: Counts,
    #[serde(default)]
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct Counts {
    pub failed: usize,
    pub flaky: usize,
    pub broken: usize,
    pub quarantined: usize,
    pub new: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Failure {
    pub test_id: i64,
    pub classname: String,
    pub name: String,
    /// `new`, `broken`, `flaky` or `quarantined`.
    pub class: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub explanation: String,
}

/// When the job fails because of its tests (exit code 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Never: the exit code only tells whether the upload was stored.
    Never,
    /// A failure that is neither known flaky, quarantined nor already broken on the default
    /// branch: most likely the change under test.
    New,
    /// Any failure but those of quarantined tests.
    Unquarantined,
    /// Any failure.
    Any,
}

impl FailOn {
    /// Whether the verdict fails the job.
    pub fn fails(self, c: &Counts) -> bool {
        match self {
            FailOn::Never => false,
            FailOn::New => c.new > 0,
            FailOn::Unquarantined => c.failed > c.quarantined,
            FailOn::Any => c.failed > 0,
        }
    }
}

/// The link to a test's page on the dashboard.
pub fn test_link(dashboard: &str, project: &str, test_id: i64) -> String {
    format!(
        "{}/projects/{}/tests/{test_id}",
        dashboard.trim_end_matches('/'),
        crate::client::http::path_segment(project)
    )
}

/// The link to a run's page: every failure with its class, and the other attempts.
pub fn run_link(dashboard: &str, project: &str, run_id: i64) -> String {
    format!(
        "{}/projects/{}/runs/{run_id}",
        dashboard.trim_end_matches('/'),
        crate::client::http::path_segment(project)
    )
}

fn test_name(f: &Failure) -> String {
    if f.classname.is_empty() {
        f.name.clone()
    } else {
        format!("{}::{}", f.classname, f.name)
    }
}

/// Lines for the job's log: the summary and the run's page, then each failure with its
/// class, why, its message and its page.
pub fn log_lines(v: &Verdict, dashboard: &str) -> Vec<String> {
    let mut lines = vec![
        format!("flakewatch verdict: {}", v.summary),
        format!(
            "  run page    {}",
            run_link(dashboard, &v.project, v.run_id)
        ),
    ];
    for f in &v.failures {
        let owner = f
            .owner
            .as_deref()
            .map_or_else(String::new, |o| format!(" (owner {o})"));
        lines.push(format!(
            "  {:<11} {}{owner}",
            f.class.to_uppercase(),
            test_name(f)
        ));
        lines.push(format!("              {}", f.explanation));
        if !f.message.is_empty() {
            lines.push(format!("              {}", first_line(&f.message, 160)));
        }
        lines.push(format!(
            "              {}",
            test_link(dashboard, &v.project, f.test_id)
        ));
    }
    lines
}

fn first_line(text: &str, max_chars: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > max_chars {
        format!("{}…", line.chars().take(max_chars).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// Markdown for a pull request comment or a job summary: counts first, then the failures
/// by class, new ones first.
pub fn markdown(v: &Verdict, dashboard: &str) -> String {
    let c = &v.counts;
    let mut out = format!(
        "### flakewatch: {}\n\n[Run {} on the dashboard]({})\n\n",
        escape(&v.summary),
        v.run_id,
        run_link(dashboard, &v.project, v.run_id)
    );
    if c.failed == 0 {
        return out;
    }
    out.push_str(&format!(
        "| new | already broken | known flaky | quarantined |\n|---:|---:|---:|---:|\n| {} | {} | {} | {} |\n\n",
        c.new, c.broken, c.flaky, c.quarantined
    ));
    out.push_str("| class | test | why | failure |\n|---|---|---|---|\n");
    for f in &v.failures {
        let link = test_link(dashboard, &v.project, f.test_id);
        let owner = f
            .owner
            .as_deref()
            .map_or_else(String::new, |o| format!(" ({})", escape(o)));
        out.push_str(&format!(
            "| **{}** | [{}]({link}){owner} | {} | {} |\n",
            f.class,
            escape(&test_name(f)),
            escape(&f.explanation),
            code(&first_line(&f.message, 200)),
        ));
    }
    out
}

pub use crate::wording::markdown_cell as escape;

/// A code span that holds any text: no backticks inside, pipes escaped for the table.
fn code(text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let clean = text.replace('`', "'").replace('|', "\\|");
    format!("`{clean}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict() -> Verdict {
        serde_json::from_value(serde_json::json!({
            "project": "shop",
            "run_id": 7,
            "summary": "2 tests failed: 1 new (most likely this change), 1 known flaky",
            "counts": {"failed": 2, "flaky": 1, "broken": 0, "quarantined": 0, "new": 1},
            "failures": [
                {"test_id": 3, "classname": "app.Cart", "name": "test_total|x", "class": "new",
                 "message": "AssertionError: `3` != 4\nsecond line", "owner": "@acme/cart",
                 "explanation": "nothing known explains it: most likely this change"},
                {"test_id": 4, "classname": "app.Pay", "name": "test_timeout", "class": "flaky",
                 "message": "", "explanation": "known flaky since 2026-11-03"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn the_gate_by_class() {
        let c = verdict().counts;
        assert!(!FailOn::Never.fails(&c));
        assert!(FailOn::New.fails(&c));
        assert!(FailOn::Any.fails(&c));
        let known = Counts {
            failed: 2,
            flaky: 1,
            quarantined: 1,
            ..Counts::default()
        };
        assert!(!FailOn::New.fails(&known));
        assert!(FailOn::Unquarantined.fails(&known));
        let quarantined = Counts {
            failed: 1,
            quarantined: 1,
            ..Counts::default()
        };
        assert!(!FailOn::Unquarantined.fails(&quarantined));
        assert!(FailOn::Any.fails(&quarantined));
    }

    #[test]
    fn markdown_escapes_what_would_break_the_table() {
        let md = markdown(&verdict(), "http://fw.example/base/");
        assert!(
            md.starts_with("### flakewatch: 2 tests failed: 1 new"),
            "{md}"
        );
        assert!(md.contains("| 1 | 0 | 1 | 0 |"), "{md}");
        assert!(
            md.contains("[Run 7 on the dashboard](http://fw.example/base/projects/shop/runs/7)"),
            "{md}"
        );
        assert!(
            md.contains("[app.Cart::test\\_total\\|x](http://fw.example/base/projects/shop/tests/3) (@acme/cart)"),
            "{md}"
        );
        assert!(md.contains("`AssertionError: '3' != 4`"), "{md}");
        assert!(!md.contains("second line"), "{md}");
        // Every table row has the same number of cells.
        for row in md.lines().filter(|l| l.starts_with("| **")) {
            assert_eq!(row.replace("\\|", "").matches('|').count(), 5, "{row}");
        }
    }

    #[test]
    fn log_lines_name_class_why_and_link() {
        let lines = log_lines(&verdict(), "http://fw.example");
        assert_eq!(
            lines[0],
            "flakewatch verdict: 2 tests failed: 1 new (most likely this change), 1 known flaky"
        );
        assert_eq!(
            lines[1],
            "  run page    http://fw.example/projects/shop/runs/7"
        );
        assert_eq!(
            lines[2],
            "  NEW         app.Cart::test_total|x (owner @acme/cart)"
        );
        assert!(lines.contains(&"              http://fw.example/projects/shop/tests/4".to_owned()));
    }
}
