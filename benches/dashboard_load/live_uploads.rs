//! CI uploading while the pages are loaded: every few seconds a run of the project's own
//! tests is uploaded and awaited until stored and scored. Each run changes the project's
//! data, so the page cache misses as it would in use, not once per URL and never again.

use std::fmt::Write as _;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::common::TestDb;

/// The uploader thread, stopped by `finish`.
pub struct LiveUploads {
    stop: mpsc::Sender<()>,
    uploader: JoinHandle<Uploaded>,
}

/// What the uploader did while it ran.
pub struct Uploaded {
    /// Milliseconds from each upload to its task's end, one per run.
    pub stored_and_scored_ms: Vec<f64>,
    /// Tasks that did not end `completed`.
    pub failed: usize,
}

/// One job's report: the tests its newest run held.
pub struct JobReport {
    job: String,
    tests: Vec<(String, String, String)>,
}

impl LiveUploads {
    /// Uploads a report of `reports` in turn, one every `every` (or back to back when a
    /// store and scoring take longer), until `finish`.
    pub fn start(
        base_url: &str,
        upload_token: &str,
        reports: Vec<JobReport>,
        every: Duration,
    ) -> Self {
        assert!(!reports.is_empty(), "the project has no runs to copy");
        let (stop, stopped) = mpsc::channel::<()>();
        let base_url = base_url.to_owned();
        let token = upload_token.to_owned();
        let uploader = std::thread::spawn(move || {
            let mut uploaded = Uploaded {
                stored_and_scored_ms: Vec::new(),
                failed: 0,
            };
            for n in 0.. {
                let started = Instant::now();
                let report = &reports[n % reports.len()];
                let query = format!("branch=main&commit=live{n:06}&job={}", report.job);
                let status = upload_and_await(&base_url, &token, &query, report.xml(n));
                uploaded
                    .stored_and_scored_ms
                    .push(started.elapsed().as_secs_f64() * 1000.0);
                if status != "completed" {
                    uploaded.failed += 1;
                }
                // Waits out the rest of the period, or ends at once when told to stop.
                match stopped.recv_timeout(every.saturating_sub(started.elapsed())) {
                    Err(RecvTimeoutError::Timeout) => continue,
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            uploaded
        });
        LiveUploads { stop, uploader }
    }

    /// Stops after the upload in flight ends; what was uploaded.
    pub fn finish(self) -> Uploaded {
        let _ = self.stop.send(());
        self.uploader.join().expect("the uploader thread")
    }
}

impl JobReport {
    /// Every test passes but one, a different one each time, so scores move as in use.
    fn xml(&self, n: usize) -> String {
        let failing = n.wrapping_mul(7919) % self.tests.len();
        let mut xml = String::with_capacity(self.tests.len() * 120);
        xml.push_str("<testsuites>\n");
        let mut open_suite: Option<&str> = None;
        for (i, (suite, classname, name)) in self.tests.iter().enumerate() {
            if open_suite != Some(suite) {
                if open_suite.is_some() {
                    xml.push_str("</testsuite>\n");
                }
                let _ = writeln!(xml, "<testsuite name=\"{}\">", escape(suite));
                open_suite = Some(suite);
            }
            let _ = write!(
                xml,
                "<testcase classname=\"{}\" name=\"{}\" time=\"0.{:03}\"",
                escape(classname),
                escape(name),
                (i * 37) % 1000
            );
            if i == failing {
                xml.push_str(
                    "><failure message=\"live upload\">assertion failed</failure></testcase>\n",
                );
            } else {
                xml.push_str("/>\n");
            }
        }
        if open_suite.is_some() {
            xml.push_str("</testsuite>\n");
        }
        xml.push_str("</testsuites>\n");
        xml
    }
}

/// The tests of each job's newest run of `project`, in the order they were stored.
pub fn job_reports(db: &TestDb, project_id: i64) -> Vec<JobReport> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        job: String,
        #[diesel(sql_type = Text)]
        suite: String,
        #[diesel(sql_type = Text)]
        classname: String,
        #[diesel(sql_type = Text)]
        name: String,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT r.job AS job, t.suite AS suite, t.classname AS classname, t.name AS name \
         FROM results x JOIN runs r ON r.id = x.run_id JOIN tests t ON t.id = x.test_id \
         WHERE r.id IN (SELECT max(id) FROM runs WHERE project_id = $1 GROUP BY job) \
         ORDER BY r.job, x.id",
    )
    .bind::<BigInt, _>(project_id)
    .load(&mut db.connect())
    .expect("read the newest run of each job");
    let mut reports: Vec<JobReport> = Vec::new();
    for row in rows {
        if reports.last().is_none_or(|report| report.job != row.job) {
            reports.push(JobReport {
                job: row.job.clone(),
                tests: Vec::new(),
            });
        }
        let report = reports.last_mut().expect("pushed above");
        report.tests.push((row.suite, row.classname, row.name));
    }
    reports
}

/// Uploads one report and waits for its task to end; its final status.
fn upload_and_await(base_url: &str, token: &str, query: &str, xml: String) -> String {
    let agent = super::agent();
    let bearer = format!("Bearer {token}");
    let mut answer = agent
        .post(&format!("{base_url}/api/v1/uploads?{query}"))
        .header("Authorization", &bearer)
        .send(xml.as_bytes())
        .expect("upload a live report");
    let body: serde_json::Value = answer.body_mut().read_json().expect("upload answer");
    let Some(task) = body["task"].as_str() else {
        return format!("refused: {body}");
    };
    loop {
        let url = format!("{base_url}/api/v1/tasks/{task}?wait=600");
        let mut answer = agent
            .get(&url)
            .header("Authorization", &bearer)
            .call()
            .expect("task status");
        let task: serde_json::Value = answer.body_mut().read_json().expect("task JSON");
        match task["status"].as_str() {
            Some(status @ ("completed" | "failed" | "cancelled")) => return status.to_owned(),
            _ => continue,
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
