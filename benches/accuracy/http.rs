//! The accuracy harness over the real API: a flakewatch server on a loopback port (with its
//! store workers, in this process), each simulated run uploaded as JUnit XML with its
//! metadata, the store task awaited through `?wait=`, and the labels read back from
//! `GET /api/v1/projects/{p}/tests?status=all`. Nothing reaches the scorer except through
//! HTTP, so the evaluation measures what a user of the API would see.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, SecondsFormat};
use flakewatch::analysis::evaluate::{Detector, ScorerDetector};
use flakewatch::analysis::simulator::junit::write_junit;
use flakewatch::analysis::simulator::{Scenario, SimRun, TestTruth};
use flakewatch::analysis::{Params, RunContext, Status, TestResultObs};
use flakewatch::store::tokens::Scope;
use serde::Deserialize;

use crate::common::api::token;
use crate::common::{TestDb, TestServer};

const PROJECT: &str = "accuracy";
/// Differences between server and offline labels printed in full; the rest are counted.
const SHOWN_DIFFERENCES: usize = 12;

/// Which database the server stores into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn parse(name: &str) -> Option<Backend> {
        match name {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A fresh database and a server on it; both go away when dropped (a PostgreSQL
/// database is dropped too).
pub struct Instance {
    // Field order: the server stops before its database is removed.
    pub server: TestServer,
    /// Held so the database outlives the server.
    _db: TestDb,
    upload_token: String,
    read_token: String,
}

impl Instance {
    pub fn start(backend: Backend) -> Instance {
        let db = match backend {
            Backend::Sqlite => TestDb::sqlite(),
            Backend::Postgres => {
                TestDb::postgres().expect("FLAKEWATCH_SKIP_PG=1 is set: use --http sqlite")
            }
        };
        let server = TestServer::start(&db);
        let upload_token = token(&db, PROJECT, Scope::Upload);
        let read_token = token(&db, PROJECT, Scope::Read);
        Instance {
            server,
            _db: db,
            upload_token,
            read_token,
        }
    }
}

/// Where the time of the HTTP mode goes, summed over every run uploaded.
#[derive(Debug, Default, Clone)]
pub struct HttpStats {
    pub runs: u64,
    pub results: u64,
    pub report_bytes: u64,
    /// POST /api/v1/uploads until its 202.
    pub upload: Duration,
    /// GET /api/v1/tasks/{t}?wait=300 until the store task ended.
    pub store: Duration,
    /// GET /api/v1/projects/{p}/tests after each run.
    pub read: Duration,
    /// Test-and-run pairs whose label was compared with the offline scorer's.
    pub compared: u64,
    pub differences: u64,
    /// The first few differences.
    pub shown: Vec<Difference>,
}

#[derive(Debug, Clone)]
pub struct Difference {
    /// 1-based position of the run in the history.
    pub run: i64,
    pub test: String,
    pub offline: Status,
    pub server: Status,
}

/// flakewatch behind its HTTP API. It also feeds an in-process scorer the same results
/// so every label the server gives can be compared with the offline one, run by run.
pub struct HttpDetector {
    name: String,
    base_url: String,
    upload_token: String,
    read_token: String,
    /// What the CI step says of the history: its default branch, and whether it sends times.
    default_branch: String,
    sends_times: bool,
    agent: ureq::Agent,
    tests: Vec<TestTruth>,
    by_name: HashMap<(String, String), usize>,
    labels: Vec<Status>,
    shadow: ScorerDetector,
    stats: Rc<RefCell<HttpStats>>,
}

#[derive(Deserialize)]
struct TestsAnswer {
    tests: Vec<ScoredTest>,
}

#[derive(Deserialize)]
struct ScoredTest {
    classname: String,
    name: String,
    status: String,
}

impl HttpDetector {
    pub fn new(
        instance: &Instance,
        backend: Backend,
        scenario: &Scenario,
        tests: &[TestTruth],
        params: &Params,
    ) -> (HttpDetector, Rc<RefCell<HttpStats>>) {
        let by_name = tests
            .iter()
            .enumerate()
            .map(|(i, t)| ((t.classname.clone(), t.name.clone()), i))
            .collect();
        let stats = Rc::new(RefCell::new(HttpStats::default()));
        let detector = HttpDetector {
            name: format!("flakewatch over HTTP ({})", backend.name()),
            base_url: instance.server.base_url.clone(),
            upload_token: instance.upload_token.clone(),
            read_token: instance.read_token.clone(),
            default_branch: scenario.default_branch.clone(),
            sends_times: scenario.sends_times,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                // Above the 300 s long poll, so a task that never ends fails loudly.
                .timeout_global(Some(Duration::from_secs(330)))
                .build()
                .into(),
            tests: tests.to_vec(),
            by_name,
            labels: vec![Status::New; tests.len()],
            shadow: ScorerDetector::new(params.clone(), tests.len()),
            stats: stats.clone(),
        };
        (detector, stats)
    }

    fn upload(&self, run: &SimRun, xml: &str) -> String {
        let ctx = &run.ctx;
        let query = [
            ("branch", ctx.branch.clone()),
            ("commit", ctx.commit.clone()),
            ("job", ctx.job.clone()),
            ("attempt", ctx.attempt.to_string()),
            ("pipeline", ctx.pipeline.clone()),
            ("runner", run.runner.clone()),
            ("default_branch", self.default_branch.clone()),
            ("started_at", rfc3339(run.started_at)),
            ("finished_at", rfc3339(run.finished_at)),
        ]
        .iter()
        // A CI step that sends no times leaves the server to read them from the report.
        .filter(|(k, _)| self.sends_times || !k.ends_with("_at"))
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
        let mut response = self
            .agent
            .post(format!("{}/api/v1/uploads?{query}", self.base_url))
            .header("Authorization", &format!("Bearer {}", self.upload_token))
            .header("Content-Type", "application/xml")
            .send(xml.as_bytes())
            .expect("POST /api/v1/uploads");
        let status = response.status().as_u16();
        let answer: serde_json::Value = response.body_mut().read_json().expect("upload answer");
        assert_eq!(
            status, 202,
            "upload of run {} refused: {answer}",
            ctx.run_id
        );
        answer["task"]
            .as_str()
            .expect("the upload answer names its task")
            .to_owned()
    }

    fn await_store(&self, run: &SimRun, task: &str) {
        let answer: serde_json::Value = self
            .agent
            .get(format!("{}/api/v1/tasks/{task}?wait=300", self.base_url))
            .call()
            .expect("GET /api/v1/tasks/{t}?wait=300")
            .body_mut()
            .read_json()
            .expect("task answer");
        assert_eq!(
            answer["status"], "completed",
            "store task of run {} did not complete: {answer}",
            run.ctx.run_id
        );
    }

    fn read_labels(&mut self) {
        let mut response = self
            .agent
            .get(format!(
                "{}/api/v1/projects/{PROJECT}/tests?status=all&limit=5000",
                self.base_url
            ))
            .header("Authorization", &format!("Bearer {}", self.read_token))
            .call()
            .expect("GET /api/v1/projects/{p}/tests");
        assert_eq!(response.status().as_u16(), 200, "tests API refused");
        let answer: TestsAnswer = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_json()
            .expect("tests answer");
        assert!(
            answer.tests.len() < 5000,
            "more than 5000 scored tests: the labels of some would be missing"
        );
        for t in answer.tests {
            let Some(&i) = self.by_name.get(&(t.classname, t.name)) else {
                panic!("the server scored a test the simulator never ran");
            };
            self.labels[i] = parse_status(&t.status);
        }
    }
}

impl Detector for HttpDetector {
    fn name(&self) -> &str {
        &self.name
    }

    /// Results reach the server only as the run's report, in `run_finished`; the
    /// in-process scorer kept for comparison sees them here.
    fn observe(&mut self, test: usize, run: &RunContext, result: &TestResultObs) {
        self.shadow.observe(test, run, result);
    }

    fn is_flaky(&self, test: usize) -> bool {
        self.labels[test] == Status::Flaky
    }

    fn is_broken(&self, test: usize) -> Option<bool> {
        Some(self.labels[test] == Status::Broken)
    }

    fn run_finished(&mut self, run: &SimRun) {
        let xml = write_junit(run, &self.tests);
        let t0 = Instant::now();
        let task = self.upload(run, &xml);
        let t1 = Instant::now();
        self.await_store(run, &task);
        let t2 = Instant::now();
        self.read_labels();
        let t3 = Instant::now();
        let mut stats = self.stats.borrow_mut();
        stats.runs += 1;
        stats.results += run.results.len() as u64;
        stats.report_bytes += xml.len() as u64;
        stats.upload += t1 - t0;
        stats.store += t2 - t1;
        stats.read += t3 - t2;
        // Only this run's tests can have changed.
        for r in &run.results {
            let t = r.test as usize;
            let offline = self.shadow.states[t].status;
            let server = self.labels[t];
            stats.compared += 1;
            if offline != server {
                stats.differences += 1;
                if stats.shown.len() < SHOWN_DIFFERENCES {
                    let truth = &self.tests[t];
                    stats.shown.push(Difference {
                        run: run.ctx.run_id,
                        test: format!("{}.{}", truth.classname, truth.name),
                        offline,
                        server,
                    });
                }
            }
        }
    }
}

fn parse_status(s: &str) -> Status {
    Status::parse(s).unwrap_or_else(|| panic!("unknown status {s:?} from the tests API"))
}

fn rfc3339(at: NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl HttpStats {
    pub fn add(&mut self, o: &HttpStats) {
        self.runs += o.runs;
        self.results += o.results;
        self.report_bytes += o.report_bytes;
        self.upload += o.upload;
        self.store += o.store;
        self.read += o.read;
        self.compared += o.compared;
        self.differences += o.differences;
        for d in &o.shown {
            if self.shown.len() < SHOWN_DIFFERENCES {
                self.shown.push(d.clone());
            }
        }
    }
}
