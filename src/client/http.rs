//! The one place the client speaks HTTP: the agent, the requests of the upload API, the
//! decoding of `{"error": {...}}` bodies, and which failures are worth a retry.

use std::io::ErrorKind;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::config::ClientSettings;

/// How long to wait for a TCP (and TLS) connection before calling the server unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long sending an upload body may take; generous for big bundles on slow links.
const SEND_BODY_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the server may take to answer a request that does not wait on purpose.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// Added to `?wait=` so a long poll that ends on time is not cut off by our own timeout.
const WAIT_SLACK: Duration = Duration::from_secs(30);

/// A request that did not get the answer it wanted. The `Display` text is what the user
/// sees, so it carries the server's own message where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status and (usually) a flakewatch error body.
    #[error("{message} (HTTP {status} {code}{})", field_note(field))]
    Api {
        status: u16,
        code: String,
        message: String,
        field: Option<String>,
        /// How long the server asked us to wait before trying again (`Retry-After`).
        retry_after: Option<Duration>,
    },

    /// No answer at all: the connection failed, broke or timed out.
    #[error("cannot reach the flakewatch server at {url}: {cause}")]
    Transport { url: String, cause: ureq::Error },

    /// An answer that is not the JSON the contract promises.
    #[error("unexpected answer from {url}: {reason}")]
    BadResponse { url: String, reason: String },
}

impl ClientError {
    /// Whether sending the same request again may succeed: the network hiccupped, a proxy
    /// or the server said it is briefly unavailable, or the server asked us to come back
    /// later (429 with `Retry-After`: this token's uploads in flight are at their limit).
    /// Other 4xx never are: the request itself is wrong, and sending it again would only
    /// repeat the refusal.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Api {
                status,
                retry_after,
                ..
            } => matches!(status, 502..=504) || (*status == 429 && retry_after.is_some()),
            ClientError::Transport { cause, .. } => match cause {
                ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed => true,
                ureq::Error::Io(err) => is_transient_io(err.kind()),
                _ => false,
            },
            ClientError::BadResponse { .. } => false,
        }
    }
}

fn field_note(field: &Option<String>) -> String {
    field
        .as_ref()
        .map(|f| format!(", field `{f}`"))
        .unwrap_or_default()
}

fn is_transient_io(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::NotConnected
            | ErrorKind::BrokenPipe
            | ErrorKind::TimedOut
            | ErrorKind::UnexpectedEof
            | ErrorKind::Interrupted
    )
}

/// The longest `Retry-After` a client honours as given; a longer one is cut to this.
pub const MAX_SERVER_PAUSE: Duration = Duration::from_secs(300);

/// How often and how patiently a failed request is sent again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all, the first one included.
    pub tries: u32,
    /// Pause before the first retry; it doubles before each further one.
    pub first_delay: Duration,
    /// The longest pause between two tries.
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn new(tries: u32) -> RetryPolicy {
        RetryPolicy {
            tries: tries.max(1),
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }

    /// The pause before retry number `retry` (1 for the second try).
    pub fn delay_before(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The pause before retry number `retry` after `err`: what the server asked for with
    /// `Retry-After` (at most [`MAX_SERVER_PAUSE`]), or the doubling backoff.
    pub fn pause_after(&self, err: &ClientError, retry: u32) -> Duration {
        match err {
            ClientError::Api {
                retry_after: Some(asked),
                ..
            } => (*asked).min(MAX_SERVER_PAUSE),
            _ => self.delay_before(retry),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the tries run out.
    /// `on_retry` hears about each transient failure and the pause before the next try.
    pub fn run<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, ClientError>,
        mut on_retry: impl FnMut(&ClientError, Duration),
    ) -> Result<T, ClientError> {
        let mut tried = 0;
        loop {
            tried += 1;
            match attempt() {
                Err(err) if err.is_transient() && tried < self.tries => {
                    let pause = self.pause_after(&err, tried);
                    on_retry(&err, pause);
                    // Backoff between tries is the one deliberate pause: it gives a server
                    // that is restarting or overloaded time to recover.
                    std::thread::sleep(pause);
                }
                outcome => return outcome,
            }
        }
    }
}

/// A report ready to send: the body bytes and how to label them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub content_encoding: Option<&'static str>,
    /// The report's file name when the body is one file, so server errors can name it.
    pub file_name: Option<String>,
}

/// A flakewatch server, as the client commands see it.
pub struct ApiClient {
    agent: ureq::Agent,
    server: String,
    token: Option<String>,
    retry: RetryPolicy,
}

impl ApiClient {
    pub fn new(settings: &ClientSettings, retry: RetryPolicy) -> ApiClient {
        let agent = ureq::Agent::config_builder()
            // Error statuses come back as responses so their JSON body can be read.
            .http_status_as_error(false)
            .user_agent(concat!("flakewatch/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_send_body(Some(SEND_BODY_TIMEOUT))
            .timeout_recv_response(Some(ANSWER_TIMEOUT))
            .timeout_recv_body(Some(ANSWER_TIMEOUT))
            .build()
            .into();
        ApiClient {
            agent,
            server: settings.server.trim_end_matches('/').to_owned(),
            token: settings.token.clone().filter(|t| !t.is_empty()),
            retry,
        }
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// `POST /api/v1/uploads`: the same bytes and query on every try, so the server knows
    /// a retry for the upload it may already have and answers with the same task.
    pub fn upload(
        &self,
        query: &[(&'static str, String)],
        payload: &Payload,
        on_retry: impl FnMut(&ClientError, Duration),
    ) -> Result<Value, ClientError> {
        let url = format!("{}/api/v1/uploads", self.server);
        self.retry.run(
            || {
                let mut request = self
                    .agent
                    .post(&url)
                    .header("Content-Type", payload.content_type);
                if let Some(encoding) = payload.content_encoding {
                    request = request.header("Content-Encoding", encoding);
                }
                if let Some(name) = &payload.file_name {
                    request = request.header(
                        "Content-Disposition",
                        format!("attachment; filename=\"{}\"", quoted(name)),
                    );
                }
                if let Some(token) = &self.token {
                    request = request.header("Authorization", format!("Bearer {token}"));
                }
                for (key, value) in query {
                    request = request.query(*key, value);
                }
                decode(&url, request.send(&payload.body[..]))
            },
            on_retry,
        )
    }

    /// `GET` a task by its token or id; with `wait`, the server holds the answer until the
    /// task ends or `wait` seconds pass, so following a task costs no polling delay. The
    /// token, when there is one, is sent: a task id needs an admin token.
    pub fn task(
        &self,
        task: &str,
        wait: Option<u64>,
        on_retry: impl FnMut(&ClientError, Duration),
    ) -> Result<Value, ClientError> {
        let answer_timeout =
            ANSWER_TIMEOUT.max(Duration::from_secs(wait.unwrap_or(0)) + WAIT_SLACK);
        let url = self.task_url(task);
        self.retry.run(
            || {
                let mut request = self.authorized(self.agent.get(&url));
                if let Some(wait) = wait {
                    request = request.query("wait", wait.to_string());
                }
                let request = request
                    .config()
                    .timeout_recv_response(Some(answer_timeout))
                    .build();
                decode(&url, request.call())
            },
            on_retry,
        )
    }

    /// The status URL of a task known by its token or id, below the configured server
    /// address (not the one the server names, which lacks a proxy's path prefix).
    fn task_url(&self, task: &str) -> String {
        format!("{}/api/v1/tasks/{}", self.server, path_segment(task))
    }

    /// `GET /api/v1/tasks` with filters (admin token).
    pub fn list_tasks(
        &self,
        filters: &[(&'static str, String)],
        on_retry: impl FnMut(&ClientError, Duration),
    ) -> Result<Value, ClientError> {
        let url = format!("{}/api/v1/tasks", self.server);
        self.retry.run(
            || {
                let mut request = self.authorized(self.agent.get(&url));
                for (key, value) in filters {
                    request = request.query(*key, value);
                }
                decode(&url, request.call())
            },
            on_retry,
        )
    }

    /// `POST /api/v1/tasks/{task}/cancel` (admin token), by token or id.
    pub fn cancel_task(
        &self,
        task: &str,
        on_retry: impl FnMut(&ClientError, Duration),
    ) -> Result<Value, ClientError> {
        let url = format!("{}/cancel", self.task_url(task));
        self.retry.run(
            || decode(&url, self.authorized(self.agent.post(&url)).send_empty()),
            on_retry,
        )
    }

    /// `GET` an API path (e.g. `/api/v1/projects/p/tests`) with query parameters.
    pub fn get(
        &self,
        path: &str,
        query: &[(&'static str, String)],
        on_retry: impl FnMut(&ClientError, Duration),
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.server);
        self.retry.run(
            || {
                let mut request = self.authorized(self.agent.get(&url));
                for (key, value) in query {
                    request = request.query(*key, value);
                }
                decode(&url, request.call())
            },
            on_retry,
        )
    }

    /// `POST` a JSON body to an API path.
    pub fn post_json(
        &self,
        path: &str,
        body: &Value,
        on_retry: impl FnMut(&ClientError, Duration),
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.server);
        let text = body.to_string();
        self.retry.run(
            || {
                let request = self
                    .authorized(self.agent.post(&url))
                    .header("Content-Type", "application/json");
                decode(&url, request.send(text.as_bytes()))
            },
            on_retry,
        )
    }

    /// `PUT` a text body (such as a CODEOWNERS file) to an API path.
    pub fn put_text(
        &self,
        path: &str,
        text: &str,
        on_retry: impl FnMut(&ClientError, Duration),
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.server);
        self.retry.run(
            || {
                let request = self
                    .authorized(self.agent.put(&url))
                    .header("Content-Type", "text/plain; charset=utf-8");
                decode(&url, request.send(text.as_bytes()))
            },
            on_retry,
        )
    }

    /// `DELETE` an API path.
    pub fn delete(
        &self,
        path: &str,
        on_retry: impl FnMut(&ClientError, Duration),
    ) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.server);
        self.retry.run(
            || decode(&url, self.authorized(self.agent.delete(&url)).call()),
            on_retry,
        )
    }

    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }
}

/// Turns a response into its JSON body, or into the typed error its status stands for.
fn decode(
    url: &str,
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Value, ClientError> {
    let mut response = sent.map_err(|cause| ClientError::Transport {
        url: url.to_owned(),
        cause,
    })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|cause| ClientError::Transport {
            url: url.to_owned(),
            cause,
        })?;
    if (200..300).contains(&status) {
        return serde_json::from_str(&text).map_err(|err| ClientError::BadResponse {
            url: url.to_owned(),
            reason: format!(
                "HTTP {status} with a body that is not JSON ({err}): {}",
                excerpt(&text)
            ),
        });
    }
    Err(api_error(status, &text).with_retry_after(retry_after))
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    field: Option<String>,
}

impl ClientError {
    fn with_retry_after(mut self, after: Option<Duration>) -> ClientError {
        if let ClientError::Api { retry_after, .. } = &mut self {
            *retry_after = after;
        }
        self
    }
}

/// The error a non-2xx answer stands for. Proxies in front of the server answer with HTML
/// or nothing; their status still decides whether to retry.
pub fn api_error(status: u16, body: &str) -> ClientError {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => ClientError::Api {
            status,
            code: error.code,
            message: error.message,
            field: error.field,
            retry_after: None,
        },
        Err(_) => ClientError::Api {
            status,
            retry_after: None,
            code: "unexpected_answer".to_owned(),
            message: if body.trim().is_empty() {
                "the server answered with an error and no explanation".to_owned()
            } else {
                format!(
                    "the server answered with an error that is not flakewatch's: {}",
                    excerpt(body)
                )
            },
            field: None,
        },
    }
}

/// The first line of a body, short enough for one error line.
fn excerpt(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or_default();
    let mut short: String = line.chars().take(160).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

/// A token as one URL path segment; tokens are URL-safe, but a mistyped one must not be
/// able to reach another path.
pub fn path_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A file name inside a quoted header parameter.
fn quoted(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' || c == '\\' { '_' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::server_url;
    use std::cell::Cell;

    fn api(status: u16) -> ClientError {
        api_error(status, r#"{"error":{"code":"x","message":"m"}}"#)
    }

    fn io(kind: ErrorKind) -> ClientError {
        ClientError::Transport {
            url: "http://x".into(),
            cause: ureq::Error::Io(std::io::Error::from(kind)),
        }
    }

    #[test]
    fn gateway_errors_and_broken_connections_are_retried() {
        for status in [502, 503, 504] {
            assert!(api(status).is_transient(), "{status}");
        }
        for kind in [
            ErrorKind::ConnectionRefused,
            ErrorKind::ConnectionReset,
            ErrorKind::TimedOut,
            ErrorKind::UnexpectedEof,
        ] {
            assert!(io(kind).is_transient(), "{kind:?}");
        }
        let timeout = ClientError::Transport {
            url: "http://x".into(),
            cause: ureq::Error::Timeout(ureq::Timeout::RecvResponse),
        };
        assert!(timeout.is_transient());
    }

    #[test]
    fn refusals_and_bad_requests_are_not_retried() {
        for status in [400, 401, 403, 404, 413, 415, 500] {
            assert!(!api(status).is_transient(), "{status}");
        }
        assert!(!io(ErrorKind::PermissionDenied).is_transient());
        let dns = ClientError::Transport {
            url: "http://x".into(),
            cause: ureq::Error::HostNotFound,
        };
        assert!(!dns.is_transient());
    }

    #[test]
    fn error_bodies_become_the_message_the_user_sees() {
        let err = api_error(
            400,
            r#"{"error":{"code":"invalid_field","message":"branch is required","field":"branch"}}"#,
        );
        assert_eq!(
            err.to_string(),
            "branch is required (HTTP 400 invalid_field, field `branch`)"
        );
        let err = api_error(502, "<html><body>Bad Gateway</body></html>");
        assert!(err.is_transient());
        assert!(err.to_string().contains("Bad Gateway"), "{err}");
    }

    #[test]
    fn a_server_that_asks_to_wait_is_waited_for() {
        let policy = RetryPolicy::new(5);
        let full = api(503).with_retry_after(Some(Duration::from_secs(30)));
        assert!(full.is_transient());
        assert_eq!(policy.pause_after(&full, 1), Duration::from_secs(30));
        assert_eq!(policy.pause_after(&api(503), 1), Duration::from_secs(1));
        let busy_token = api(429).with_retry_after(Some(Duration::from_secs(5)));
        assert!(busy_token.is_transient());
        assert_eq!(policy.pause_after(&busy_token, 3), Duration::from_secs(5));
        assert!(
            !api(429).is_transient(),
            "a 429 that does not say when is not retried"
        );
        let absurd = api(503).with_retry_after(Some(Duration::from_secs(86_400)));
        assert_eq!(policy.pause_after(&absurd, 1), MAX_SERVER_PAUSE);
    }

    fn no_pause(tries: u32) -> RetryPolicy {
        RetryPolicy {
            tries,
            first_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    #[test]
    fn transient_failures_are_retried_until_success() {
        let calls = Cell::new(0);
        let retries = Cell::new(0);
        let result = no_pause(5).run(
            || {
                calls.set(calls.get() + 1);
                if calls.get() < 3 {
                    Err(api(503))
                } else {
                    Ok(calls.get())
                }
            },
            |_, _| retries.set(retries.get() + 1),
        );
        assert_eq!(result.unwrap(), 3);
        assert_eq!(retries.get(), 2);
    }

    #[test]
    fn retries_stop_at_the_cap_and_never_repeat_a_refusal() {
        let calls = Cell::new(0);
        let result: Result<(), _> = no_pause(4).run(
            || {
                calls.set(calls.get() + 1);
                Err(io(ErrorKind::ConnectionRefused))
            },
            |_, _| {},
        );
        assert!(result.is_err());
        assert_eq!(calls.get(), 4);

        calls.set(0);
        let result: Result<(), _> = no_pause(4).run(
            || {
                calls.set(calls.get() + 1);
                Err(api(401))
            },
            |_, _| {},
        );
        assert!(result.is_err());
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let policy = RetryPolicy::new(10);
        let pauses: Vec<u64> = (1..=7).map(|n| policy.delay_before(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn server_addresses_without_a_scheme_are_http_and_keep_their_path() {
        assert_eq!(
            server_url("127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(server_url(" localhost ").unwrap(), "http://localhost");
        assert_eq!(
            server_url("https://ci.example.com/flakewatch/").unwrap(),
            "https://ci.example.com/flakewatch"
        );
        assert_eq!(
            server_url("HTTP://ci.example.com:81/fw").unwrap(),
            "HTTP://ci.example.com:81/fw"
        );
        for bad in [
            "",
            "ftp://x",
            "http://",
            "http://x/?a=b",
            "http://exa mple.com",
        ] {
            assert!(server_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn task_urls_hang_below_the_configured_address() {
        let client = ApiClient::new(
            &ClientSettings {
                server: server_url("127.0.0.1:9/flakewatch").unwrap(),
                token: None,
            },
            RetryPolicy::new(1),
        );
        assert_eq!(
            client.task_url("fwt_ab"),
            "http://127.0.0.1:9/flakewatch/api/v1/tasks/fwt_ab"
        );
    }

    #[test]
    fn tokens_cannot_escape_their_path_segment() {
        assert_eq!(path_segment("fw_upload_0a1B-2"), "fw_upload_0a1B-2");
        assert_eq!(path_segment("../x y"), "%2E%2E%2Fx%20y");
    }
}
