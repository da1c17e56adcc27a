//! What a task is, as stored and as shown.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Enqueued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [
        TaskStatus::Enqueued,
        TaskStatus::Running,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Enqueued => "enqueued",
            TaskStatus::Running => "running",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The task will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

/// Something odd in a report that did not stop it from being stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub code: String,
    pub message: String,
}

/// A task a worker has claimed. `claim` fences every later write: a write that names an
/// older claim than the row holds changes nothing.
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    pub id: i64,
    pub upload_id: i64,
    pub project_id: i64,
    pub claim: i32,
}

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    pub id: i64,
    /// The task token, re-derived by the API (only its hash is stored); see
    /// `secrets::task_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub project: String,
    #[serde(skip)]
    pub project_id: i64,
    /// The upload's identity, which the task token is derived from.
    #[serde(skip)]
    pub upload_key: String,
    pub status: TaskStatus,
    pub received_at: NaiveDateTimeUtc,
    pub enqueued_at: NaiveDateTimeUtc,
    pub started_at: Option<NaiveDateTimeUtc>,
    pub finished_at: Option<NaiveDateTimeUtc>,
    pub heartbeat_at: Option<NaiveDateTimeUtc>,
    /// From enqueued until a worker started it (or until now, while it waits).
    pub queue_ms: Option<i64>,
    /// From a worker starting it until it finished.
    pub run_ms: Option<i64>,
    pub worker: Option<String>,
    pub cancel_requested: bool,
    pub progress: Progress,
    pub warnings: Vec<Warning>,
    pub error: Option<String>,
    pub run_id: Option<i64>,
    pub upload: UploadSummary,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub records_seen: i64,
    pub records_stored: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadSummary {
    pub branch: String,
    pub commit: String,
    pub job: String,
    pub attempt: i32,
    pub pipeline: String,
    pub build_url: String,
    pub runner: String,
}

/// A UTC timestamp that serialises as RFC 3339 with a `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NaiveDateTimeUtc(pub NaiveDateTime);

impl Serialize for NaiveDateTimeUtc {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.and_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}

/// Milliseconds from `from` to `to`.
pub fn millis_between(from: NaiveDateTime, to: NaiveDateTime) -> i64 {
    (to - from).num_milliseconds().max(0)
}
