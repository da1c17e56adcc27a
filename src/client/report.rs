//! What the client commands tell a person: progress and warnings on stderr, the one-line
//! outcome on stdout, and the operators' task table.

use std::fmt::Write as _;
use std::time::Duration;

use super::http::ClientError;
use super::task::{Task, TaskStatus};
use crate::wording::count;

/// Says on stderr that a request failed and will be sent again.
pub fn report_retry(err: &ClientError, pause: Duration) {
    eprintln!(
        "flakewatch: {err}; trying again in {} s",
        pause.as_secs_f32()
    );
}

/// Prints a progress line each time the task's state or counts change, so a CI log shows
/// the task's life in a few lines (the server's long poll answers at most once a minute
/// while the task runs).
#[derive(Default)]
pub struct ProgressLines {
    last: Option<(TaskStatus, u64, u64)>,
}

impl ProgressLines {
    pub fn line_for(&mut self, task: &Task) -> Option<String> {
        let state = (
            task.status.clone(),
            task.progress.records_stored,
            task.progress.records_seen,
        );
        if self.last.as_ref() == Some(&state) {
            return None;
        }
        self.last = Some(state);
        let mut line = format!("flakewatch: task {} {}", task.id, task.status.as_str());
        if let (TaskStatus::Running, Some(worker)) = (&task.status, &task.worker) {
            let _ = write!(line, " on {worker}");
        }
        if task.progress.records_seen > 0 || task.status.is_final() {
            let _ = write!(
                line,
                ": {} of {} stored",
                task.progress.records_stored,
                count(task.progress.records_seen, "test result")
            );
        }
        Some(line)
    }
}

/// The one line that sums up an awaited task. `already_stored` says the server had this
/// upload before, so nothing new was stored. `token` (the task's own when the server
/// names it) is how the user follows the task later.
pub fn summary_line(task: &Task, token: &str, already_stored: bool) -> String {
    let stored = count(task.progress.records_stored, "test result");
    let mut line = match &task.status {
        TaskStatus::Completed if already_stored => format!(
            "already stored: {stored} ({} seen)",
            task.progress.records_seen
        ),
        TaskStatus::Completed => format!(
            "completed: {stored} stored ({} seen)",
            task.progress.records_seen
        ),
        TaskStatus::Enqueued | TaskStatus::Running => format!(
            "not finished: task still {}, {stored} stored so far",
            task.status.as_str(),
        ),
        other => other.as_str().to_owned(),
    };
    let _ = write!(line, " for project {}", task.project);
    if let Some(upload) = &task.upload {
        let named = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        if let Some(branch) = named(&upload.branch) {
            let _ = write!(line, ", branch {branch}");
        }
        if let Some(commit) = named(&upload.commit) {
            let _ = write!(line, ", commit {}", short_commit(&commit));
        }
        if let Some(job) = named(&upload.job) {
            let _ = write!(line, ", job {job}");
        }
    }
    let token = task.token.as_deref().unwrap_or(token);
    let _ = write!(
        line,
        "; queued {}, ran {}; task {token} (id {})",
        millis(task.queue_ms),
        millis(task.run_ms),
        task.id
    );
    if let Some(run) = task.run_id {
        let _ = write!(line, ", run {run}");
    }
    if !task.status.is_final() {
        let _ = write!(
            line,
            "; follow it with `flakewatch tasks --task {token} --await`"
        );
    }
    line
}

fn short_commit(commit: &str) -> &str {
    match commit.char_indices().nth(12) {
        Some((cut, _)) => &commit[..cut],
        None => commit,
    }
}

fn millis(ms: Option<i64>) -> String {
    match ms {
        None => "-".to_owned(),
        Some(ms) if ms < 10_000 => format!("{ms} ms"),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
    }
}

/// The operators' view: one aligned row per task.
pub fn task_table(tasks: &[Task]) -> String {
    const HEADER: [&str; 10] = [
        "ID", "TOKEN", "STATUS", "PROJECT", "RECEIVED", "QUEUE_MS", "RUN_MS", "RECORDS", "WORKER",
        "ERROR",
    ];
    let dash = || "-".to_owned();
    let rows: Vec<[String; 10]> = tasks
        .iter()
        .map(|t| {
            [
                t.id.to_string(),
                t.token.clone().unwrap_or_else(dash),
                t.status.as_str().to_owned(),
                t.project.clone(),
                t.received_at.clone().unwrap_or_else(dash),
                t.queue_ms.map_or_else(dash, |ms| ms.to_string()),
                t.run_ms.map_or_else(dash, |ms| ms.to_string()),
                format!("{}/{}", t.progress.records_stored, t.progress.records_seen),
                t.worker.clone().unwrap_or_else(dash),
                t.error.as_deref().map_or_else(dash, one_line),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, width))| {
                // The last column is not padded: no trailing blanks.
                if i + 1 == row.len() {
                    cell.clone()
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        out.push_str(&cells.join("  "));
        out.push('\n');
    }
    out
}

/// Errors may span lines (a parser's context); a table cell must not.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(value: serde_json::Value) -> Task {
        Task::from_json(&value).unwrap()
    }

    #[test]
    fn progress_is_printed_only_when_it_changes() {
        let mut lines = ProgressLines::default();
        let enqueued = task(json!({"id": 3, "project": "p", "status": "enqueued"}));
        let running = task(
            json!({"id": 3, "project": "p", "status": "running", "worker": "w1",
                                  "progress": {"records_seen": 10, "records_stored": 8}}),
        );
        assert_eq!(
            lines.line_for(&enqueued).as_deref(),
            Some("flakewatch: task 3 enqueued")
        );
        assert_eq!(lines.line_for(&enqueued), None);
        assert_eq!(
            lines.line_for(&running).as_deref(),
            Some("flakewatch: task 3 running on w1: 8 of 10 test results stored")
        );
        assert_eq!(lines.line_for(&running), None);
    }

    #[test]
    fn summaries_say_what_happened_where() {
        let done = task(json!({"id": 7, "project": "shop", "status": "completed",
            "queue_ms": 12, "run_ms": 15300, "run_id": 99,
            "progress": {"records_seen": 120, "records_stored": 118},
            "upload": {"branch": "main", "commit": "0123456789abcdef0123", "job": "unit"}}));
        assert_eq!(
            summary_line(&done, "fwt_7", false),
            "completed: 118 test results stored (120 seen) for project shop, branch main, \
             commit 0123456789ab, job unit; queued 12 ms, ran 15.3 s; task fwt_7 (id 7), run 99"
        );
        assert!(summary_line(&done, "fwt_7", true)
            .starts_with("already stored: 118 test results (120 seen) for project shop"));
        let one = task(json!({"id": 9, "token": "fwt_9", "project": "shop",
            "status": "completed", "progress": {"records_seen": 1, "records_stored": 1},
            "upload": {"branch": "main", "commit": "abc", "job": ""}}));
        let line = summary_line(&one, "other", false);
        assert!(
            line.starts_with("completed: 1 test result stored (1 seen)"),
            "{line}"
        );
        assert!(line.contains("commit abc; queued"), "no empty job: {line}");
        assert!(line.contains("task fwt_9 (id 9)"), "{line}");
        let late = task(json!({"id": 8, "project": "shop", "status": "running"}));
        let line = summary_line(&late, "fw_tok", false);
        assert!(
            line.starts_with("not finished: task still running"),
            "{line}"
        );
        assert!(
            line.ends_with("`flakewatch tasks --task fw_tok --await`"),
            "{line}"
        );
        let failed = task(json!({"id": 9, "project": "shop", "status": "failed",
                                 "error": "report.xml:3:7: unexpected end"}));
        assert!(summary_line(&failed, "t", false).starts_with("failed for project shop;"));
    }

    #[test]
    fn the_table_is_aligned() {
        let tasks = [
            task(json!({"id": 1, "project": "shop", "status": "completed",
                "received_at": "2026-11-26T10:00:00Z", "queue_ms": 5, "run_ms": 120,
                "worker": "host-a:1", "progress": {"records_seen": 10, "records_stored": 10}})),
            task(json!({"id": 22, "project": "payments", "status": "failed",
                "error": "a.xml:1:2: bad\nmore"})),
        ];
        let table = task_table(&tasks);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        let status_at = lines[0].find("STATUS").unwrap();
        assert_eq!(lines[1].find("completed"), Some(status_at));
        assert_eq!(lines[2].find("failed"), Some(status_at));
        assert!(lines[2].ends_with("a.xml:1:2: bad more"), "{table}");
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{table}");
    }
}
