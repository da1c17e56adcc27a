//! Following a task until it ends, with the server's long poll: each `GET ?wait=N` is
//! answered the moment the task ends, so the client learns the outcome without delay and
//! sends one request a minute at most while it runs.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{ApiClient, ClientError};
use super::report::report_retry;
use super::task::Task;

/// The longest `?wait=` asked for; the server honours up to 300 s, and a shorter wait keeps
/// progress lines coming and survives proxies that cut idle connections.
pub const MAX_WAIT_SECONDS: u64 = 60;

/// A non-final answer that came back before this share of the wait asked for counts as
/// early (the server is shutting down, or something in between ignores `wait`).
const EARLY_ANSWER_SHARE: u32 = 10;
/// Early answers in a row before the client pauses between requests.
const EARLY_ANSWERS_BEFORE_PAUSE: u32 = 3;
const EARLY_ANSWER_PAUSE: Duration = Duration::from_secs(1);

/// What following a task needs from the outside world; tests supply fakes so the loop runs
/// without a server or a real clock.
pub trait Follow {
    /// Asks for the task's state, waiting up to `wait_seconds` for it to end.
    fn fetch(&mut self, wait_seconds: u64) -> Result<Value, ClientError>;
    fn now(&mut self) -> Instant;
    /// Called when the server keeps answering early, so we do not spin.
    fn pause(&mut self, pause: Duration);
    /// Hears every state the task is seen in.
    fn seen(&mut self, task: &Task);
}

/// Follows the task until it reaches a final state or `timeout` passes, and returns the
/// last state seen with its raw JSON. A task still running at the deadline is returned
/// too; its status tells the caller that time ran out.
pub fn await_task(
    follow: &mut impl Follow,
    timeout: Duration,
) -> Result<(Task, Value), ClientError> {
    let deadline = follow.now() + timeout;
    let mut early_in_a_row = 0;
    loop {
        let asked_at = follow.now();
        let remaining = deadline.saturating_duration_since(asked_at);
        let wait = ceil_seconds(remaining).min(MAX_WAIT_SECONDS);
        let value = follow.fetch(wait)?;
        let task = Task::from_json(&value).map_err(|err| ClientError::BadResponse {
            url: "task status".to_owned(),
            reason: format!("the task JSON does not read: {err}"),
        })?;
        follow.seen(&task);
        let answered_at = follow.now();
        if task.status.is_final() || answered_at >= deadline {
            return Ok((task, value));
        }
        let waited = answered_at.saturating_duration_since(asked_at);
        if wait > 0 && waited < Duration::from_secs(wait) / EARLY_ANSWER_SHARE {
            early_in_a_row += 1;
            if early_in_a_row >= EARLY_ANSWERS_BEFORE_PAUSE {
                follow.pause(EARLY_ANSWER_PAUSE);
            }
        } else {
            early_in_a_row = 0;
        }
    }
}

/// Follows a task (by token or id) on a real server, telling `seen` about each state.
pub struct OnServer<'a, F: FnMut(&Task)> {
    pub client: &'a ApiClient,
    pub task: &'a str,
    pub seen: F,
}

impl<F: FnMut(&Task)> Follow for OnServer<'_, F> {
    fn fetch(&mut self, wait_seconds: u64) -> Result<Value, ClientError> {
        self.client
            .task(self.task, Some(wait_seconds), report_retry)
    }

    fn now(&mut self) -> Instant {
        Instant::now()
    }

    fn pause(&mut self, pause: Duration) {
        // Only reached when the server keeps answering before the wait is up; a well-behaved
        // server never makes the client sleep here.
        std::thread::sleep(pause);
    }

    fn seen(&mut self, task: &Task) {
        (self.seen)(task);
    }
}

fn ceil_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A scripted server: each answer is (seconds it takes, status). Time only moves when
    /// the fake server "takes" it, so the tests are instant and exact.
    struct Scripted {
        answers: Vec<(u64, &'static str)>,
        clock: Instant,
        waits_asked: Vec<u64>,
        seen: Vec<String>,
        pauses: u32,
    }

    impl Scripted {
        fn new(answers: &[(u64, &'static str)]) -> Scripted {
            Scripted {
                answers: answers.iter().rev().copied().collect(),
                clock: Instant::now(),
                waits_asked: Vec::new(),
                seen: Vec::new(),
                pauses: 0,
            }
        }
    }

    impl Follow for Scripted {
        fn fetch(&mut self, wait_seconds: u64) -> Result<Value, ClientError> {
            self.waits_asked.push(wait_seconds);
            let (takes, status) = self.answers.pop().expect("no more scripted answers");
            self.clock += Duration::from_secs(takes.min(wait_seconds));
            Ok(json!({"id": 1, "project": "p", "status": status,
                      "progress": {"records_seen": 5, "records_stored": 4}}))
        }
        fn now(&mut self) -> Instant {
            self.clock
        }
        fn pause(&mut self, pause: Duration) {
            self.pauses += 1;
            self.clock += pause;
        }
        fn seen(&mut self, task: &Task) {
            self.seen.push(task.status.as_str().to_owned());
        }
    }

    #[test]
    fn follows_until_the_task_ends() {
        let mut server = Scripted::new(&[(60, "enqueued"), (60, "running"), (7, "completed")]);
        let (task, raw) = await_task(&mut server, Duration::from_secs(3600)).unwrap();
        assert_eq!(task.status.as_str(), "completed");
        assert_eq!(raw["progress"]["records_stored"], 4);
        assert_eq!(server.waits_asked, [60, 60, 60]);
        assert_eq!(server.seen, ["enqueued", "running", "completed"]);
        assert_eq!(server.pauses, 0);
    }

    #[test]
    fn stops_at_the_timeout_with_the_task_still_running() {
        let mut server = Scripted::new(&[(60, "running"), (60, "running"), (60, "running")]);
        let (task, _) = await_task(&mut server, Duration::from_secs(90)).unwrap();
        assert_eq!(task.status.as_str(), "running");
        // The last wait is cut to what is left of the timeout.
        assert_eq!(server.waits_asked, [60, 30]);
    }

    #[test]
    fn a_zero_timeout_asks_once_without_waiting() {
        let mut server = Scripted::new(&[(0, "enqueued")]);
        let (task, _) = await_task(&mut server, Duration::ZERO).unwrap();
        assert_eq!(task.status.as_str(), "enqueued");
        assert_eq!(server.waits_asked, [0]);
    }

    #[test]
    fn early_answers_do_not_make_a_busy_loop() {
        // A server shutting down (or a proxy ignoring `wait`) answers at once, still running.
        let mut server = Scripted::new(&[
            (0, "running"),
            (0, "running"),
            (0, "running"),
            (0, "running"),
            (2, "completed"),
        ]);
        let (task, _) = await_task(&mut server, Duration::from_secs(3600)).unwrap();
        assert_eq!(task.status.as_str(), "completed");
        assert_eq!(server.pauses, 2);
    }

    #[test]
    fn errors_end_the_wait() {
        struct Broken(Instant);
        impl Follow for Broken {
            fn fetch(&mut self, _: u64) -> Result<Value, ClientError> {
                Err(crate::client::http::api_error(
                    404,
                    r#"{"error":{"code":"not_found","message":"no task with this token"}}"#,
                ))
            }
            fn now(&mut self) -> Instant {
                self.0
            }
            fn pause(&mut self, _: Duration) {}
            fn seen(&mut self, _: &Task) {}
        }
        let err = await_task(&mut Broken(Instant::now()), Duration::from_secs(5)).unwrap_err();
        assert!(err.to_string().contains("no task with this token"), "{err}");
    }
}
