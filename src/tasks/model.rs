//! What a task is, as stored and as shown.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Enqueued,
    Running,
    /// A store task whose run is stored and waits for its project's scorer.
    Scoring,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 6] = [
        TaskStatus::Enqueued,
        TaskStatus::Running,
        TaskStatus::Scoring,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Enqueued => "enqueued",
            TaskStatus::Running => "running",
            TaskStatus::Scoring => "scoring",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The status as the API shows it: a task being scored is still `running` there, so
    /// clients that know only the five first statuses keep waiting for it (its `stage`
    /// says `scoring`).
    pub fn public(self) -> TaskStatus {
        match self {
            TaskStatus::Scoring => TaskStatus::Running,
            status => status,
        }
    }

    /// Which stage of its work a task is in: queued, storing, scoring or done.
    pub fn stage(self) -> &'static str {
        match self {
            TaskStatus::Enqueued => "queued",
            TaskStatus::Running => "storing",
            TaskStatus::Scoring => "scoring",
            _ => "done",
        }
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

/// What a queued job does. Every kind shares the queue's leases, fencing and wake-ups;
/// each has one handler (see `jobs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Store one upload's reports as a run (one task per upload, with a token).
    Store,
    /// Score a project's stored runs, in order (at most one waiting per project).
    Score,
    /// Purge results and raw reports past their retention (at most one waiting).
    Retention,
    /// Produce one project's report of one finished ISO week, once (see `jobs::report`).
    Report,
    /// Batch test events and send due webhook deliveries (at most one waiting).
    Deliver,
}

impl JobKind {
    pub const ALL: [JobKind; 5] = [
        JobKind::Store,
        JobKind::Score,
        JobKind::Retention,
        JobKind::Report,
        JobKind::Deliver,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Store => "store",
            JobKind::Score => "score",
            JobKind::Retention => "retention",
            JobKind::Report => "report",
            JobKind::Deliver => "deliver",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// A task a worker has claimed. `claim` fences every later write: a write that names an
/// older claim than the row holds changes nothing.
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    pub id: i64,
    pub kind: JobKind,
    /// The upload a store task stores (0 for other kinds).
    pub upload_id: i64,
    /// The project a store or score job works on (0 for retention).
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
    #[serde(serialize_with = "public_status")]
    pub status: TaskStatus,
    /// queued, storing, scoring or done.
    pub stage: &'static str,
    pub received_at: NaiveDateTimeUtc,
    pub enqueued_at: NaiveDateTimeUtc,
    pub started_at: Option<NaiveDateTimeUtc>,
    pub finished_at: Option<NaiveDateTimeUtc>,
    pub heartbeat_at: Option<NaiveDateTimeUtc>,
    /// When its run was stored (the first stage's commit).
    pub stored_at: Option<NaiveDateTimeUtc>,
    /// When its run was scored, which completes the task.
    pub scored_at: Option<NaiveDateTimeUtc>,
    /// From enqueued until a worker started it (or until now, while it waits).
    pub queue_ms: Option<i64>,
    /// From a worker starting it until its run was stored.
    pub store_ms: Option<i64>,
    /// From stored until scored (or until now, while it waits): the scoring lag.
    pub scoring_ms: Option<i64>,
    /// From a worker starting it until it finished.
    pub run_ms: Option<i64>,
    pub worker: Option<String>,
    pub cancel_requested: bool,
    pub progress: Progress,
    pub warnings: Vec<Warning>,
    pub error: Option<String>,
    pub run_id: Option<i64>,
    pub upload: UploadSummary,
    /// The upload still waits in the SQLite spool (see `store::spool`): `id` is 0 until
    /// the database takes it.
    #[serde(skip)]
    pub spooled: bool,
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

fn public_status<S: serde::Serializer>(status: &TaskStatus, s: S) -> Result<S::Ok, S::Error> {
    status.public().serialize(s)
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
