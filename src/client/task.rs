//! A store task as the server describes it, and what its status means to a CI step.

use serde::Deserialize;
use serde_json::Value;

/// The states of a store task. Unknown states from a newer server are kept as `Other` so
/// the client still shows them rather than failing to read the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    Enqueued,
    Running,
    Completed,
    Failed,
    Cancelled,
    Other(String),
}

impl TaskStatus {
    fn parse(raw: &str) -> TaskStatus {
        match raw {
            "enqueued" => TaskStatus::Enqueued,
            "running" => TaskStatus::Running,
            "completed" => TaskStatus::Completed,
            "failed" => TaskStatus::Failed,
            "cancelled" => TaskStatus::Cancelled,
            other => TaskStatus::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            TaskStatus::Enqueued => "enqueued",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Other(raw) => raw,
        }
    }

    /// Whether the task has reached a state it will not leave. A state this client does
    /// not know counts as final: the server would answer `?wait=` for it at once, and
    /// asking again and again would only hammer it.
    pub fn is_final(&self) -> bool {
        !matches!(self, TaskStatus::Enqueued | TaskStatus::Running)
    }

    /// The process exit code that reports this status to a CI script (see the README).
    pub fn exit_code(&self) -> u8 {
        match self {
            TaskStatus::Completed => exit::COMPLETED,
            TaskStatus::Failed => exit::FAILED,
            TaskStatus::Enqueued | TaskStatus::Running => exit::NOT_FINISHED,
            TaskStatus::Cancelled => exit::CANCELLED,
            TaskStatus::Other(_) => exit::ERROR,
        }
    }
}

/// Exit codes of `upload` and `tasks`, so a CI script can tell the outcomes apart.
pub mod exit {
    pub const COMPLETED: u8 = 0;
    /// Network, authentication, bad input: anything but the task's own outcome.
    pub const ERROR: u8 = 1;
    /// The server could not store the report (e.g. it does not parse).
    pub const FAILED: u8 = 2;
    /// `--timeout` passed while the task was still enqueued or running.
    pub const NOT_FINISHED: u8 = 3;
    pub const CANCELLED: u8 = 4;
}

impl<'de> Deserialize<'de> for TaskStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|raw| TaskStatus::parse(&raw))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Progress {
    #[serde(default)]
    pub records_seen: u64,
    #[serde(default)]
    pub records_stored: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Warning {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UploadInfo {
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub job: Option<String>,
    pub attempt: Option<i64>,
    pub pipeline: Option<String>,
    pub build_url: Option<String>,
    pub runner: Option<String>,
}

/// The task JSON of `GET /api/v1/tasks/{token}`. Lenient where the contract allows null,
/// so an older or newer server's answer still reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Task {
    pub id: i64,
    /// The task token (servers before it was shown leave it out).
    #[serde(default)]
    pub token: Option<String>,
    pub project: String,
    pub status: TaskStatus,
    pub received_at: Option<String>,
    pub enqueued_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub heartbeat_at: Option<String>,
    pub queue_ms: Option<i64>,
    pub run_ms: Option<i64>,
    pub worker: Option<String>,
    #[serde(default)]
    pub progress: Progress,
    #[serde(default)]
    pub warnings: Vec<Warning>,
    pub error: Option<String>,
    pub run_id: Option<i64>,
    #[serde(default)]
    pub upload: Option<UploadInfo>,
}

impl Task {
    pub fn from_json(value: &Value) -> Result<Task, serde_json::Error> {
        Task::deserialize(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_contract_json() {
        let task = Task::from_json(&serde_json::json!({
            "id": 17, "project": "p", "status": "completed",
            "received_at": "2026-11-26T10:00:00Z", "enqueued_at": "2026-11-26T10:00:00Z",
            "started_at": "2026-11-26T10:00:01Z", "finished_at": "2026-11-26T10:00:02Z",
            "heartbeat_at": null, "queue_ms": 1000, "run_ms": 950, "worker": "host:1",
            "progress": {"records_seen": 12, "records_stored": 12},
            "warnings": [{"code": "skipped_element", "message": "ignored <foo>"}],
            "error": null, "run_id": 3,
            "upload": {"branch": "main", "commit": "abc", "job": "test", "attempt": 1,
                       "pipeline": null, "build_url": null, "runner": null}
        }))
        .unwrap();
        assert_eq!(task.status, TaskStatus::Completed);
        assert_eq!(task.progress.records_stored, 12);
        assert_eq!(task.warnings[0].code, "skipped_element");
        assert_eq!(task.upload.unwrap().branch.as_deref(), Some("main"));
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let codes: Vec<(bool, u8)> = [
            "completed",
            "failed",
            "enqueued",
            "running",
            "cancelled",
            "vanished",
        ]
        .iter()
        .map(|s| {
            let status = TaskStatus::parse(s);
            (status.is_final(), status.exit_code())
        })
        .collect();
        assert_eq!(
            codes,
            [
                (true, 0),
                (true, 2),
                (false, 3),
                (false, 3),
                (true, 4),
                (true, 1)
            ]
        );
    }
}
