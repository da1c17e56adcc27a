//! Writes one upload's reports as one run, batch by batch, checking in between batches.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use chrono::NaiveDateTime;

use super::payload::for_each_report;
use super::stored_text;
use super::timing::ReportClock;
use super::{IngestError, PartialReport};
use crate::analysis::signature;
use crate::db::{Backend, DbConnection};
use crate::junit::{Item, JunitReader, Outcome, ParseOptions, TestCase};
use crate::secrets::sha256_hex;
use crate::store::results::{self, FailureKey, NewResult, NewRun, RunCounts, RunTiming, TestKey};
use crate::store::staging::{self, StagedResult};
use crate::store::uploads::UploadForIngest;
use crate::store::{projects, run_names};
use crate::tasks::queue::{self, CheckIn};
use crate::tasks::{ClaimedTask, Progress, Warning, WorkerContext};

/// Test cases written per batch: large enough for COPY to pay off, small enough that
/// check-ins (cancel, lease) come often.
const BATCH: usize = 1000;
/// Failure text kept per distinct message; the rest stays in the CI logs.
const MAX_DETAILS_BYTES: usize = 8 * 1024;
/// Warnings listed per task; beyond that they are counted.
const MAX_WARNINGS: usize = 50;

/// Where a batch of results goes: straight into the run (one transaction for the whole
/// store), or into staging, one committed step a batch (see `store::staging`).
#[derive(Debug, Clone, Copy)]
enum Dest {
    Run(i64),
    Staging,
}

pub struct RunWriter<'a> {
    ctx: &'a WorkerContext,
    task: &'a ClaimedTask,
    upload: &'a UploadForIngest,
    started: NaiveDateTime,
    pending: Vec<TestCase>,
    counts: RunCounts,
    progress: Progress,
    warnings: Vec<Warning>,
    warnings_dropped: usize,
    /// Identities seen in this run, as 64-bit prefixes of their hashes (8 bytes a test).
    seen_identities: HashSet<u64>,
    clock: ReportClock,
}

impl<'a> RunWriter<'a> {
    pub fn new(
        ctx: &'a WorkerContext,
        task: &'a ClaimedTask,
        upload: &'a UploadForIngest,
        started: NaiveDateTime,
    ) -> Self {
        RunWriter {
            ctx,
            task,
            upload,
            started,
            pending: Vec::with_capacity(BATCH),
            counts: RunCounts::default(),
            progress: Progress::default(),
            warnings: Vec::new(),
            warnings_dropped: 0,
            seen_identities: HashSet::new(),
            clock: ReportClock::default(),
        }
    }

    pub fn partial_report(&self) -> PartialReport {
        PartialReport {
            warnings: self.final_warnings(),
            progress: self.progress,
        }
    }

    /// Writes everything inside the caller's transaction `tx`, then marks the task stored
    /// in that same transaction (PostgreSQL). Returns the number of results stored. Nothing
    /// here writes a row another upload of the project also writes (identities go through
    /// `side`, committed apart), so concurrent stores never wait on each other.
    pub fn write(
        &mut self,
        tx: &mut DbConnection,
        side: &mut DbConnection,
        payload: &[u8],
    ) -> Result<u64, IngestError> {
        let run_id = self.insert_run(tx)?;
        self.read_reports(tx, side, Dest::Run(run_id), payload)?;
        self.finish_run(tx, run_id)
    }

    /// Writes in steps that each commit (SQLite, see `store::staging`): a transaction per
    /// batch of staged results, then one that creates the run from them and marks the
    /// task stored. SQLite's write lock is held a step at a time, never for the whole store.
    pub fn write_in_steps(
        &mut self,
        conn: &mut DbConnection,
        side: &mut DbConnection,
        payload: &[u8],
    ) -> Result<u64, IngestError> {
        // What an earlier claim of this task staged before it stopped.
        staging::discard(conn, self.task.id)?;
        self.read_reports(conn, side, Dest::Staging, payload)?;
        let publishing = std::time::Instant::now();
        let stored = crate::db::write_transaction(conn, |tx| {
            self.renew(tx)?;
            let run_id = self.insert_run(tx)?;
            let published = staging::publish(tx, self.task, run_id)?;
            // Fewer than were staged: a later claim discarded them, so the task is not ours.
            if published as i64 != self.progress.records_stored {
                return Err(IngestError::LeaseLost);
            }
            self.finish_run(tx, run_id)
        })?;
        // The one step whose hold on the write lock grows with the report.
        let publish_ms = publishing.elapsed().as_millis() as u64;
        tracing::info!(
            task = self.task.id,
            results = stored,
            publish_ms,
            "run published from staging"
        );
        Ok(stored)
    }

    /// The run's row, with the project's default branch as the CI system reports it.
    fn insert_run(&mut self, tx: &mut DbConnection) -> Result<i64, IngestError> {
        let meta = &self.upload.meta;
        let project_id = self.upload.project_id;
        let adopted =
            projects::adopt_reported_default_branch(tx, project_id, &meta.default_branch)?;
        // When runs were re-marked, the project is flagged for its scorer to replay.
        let default_branch = match adopted {
            Some(adopted) => adopted.branch,
            None => self.upload.default_branch.clone(),
        };
        let received_at = self.upload.received_at;
        // The times are known for sure only once the reports are read: see `ReportClock`.
        let new_run = NewRun {
            project_id,
            upload_id: self.task.upload_id,
            meta,
            on_default_branch: meta.branch == default_branch,
            started_at: meta.started_at.unwrap_or(received_at),
            finished_at: meta.finished_at.unwrap_or(received_at),
            stored_at: self.started,
        };
        Ok(results::insert_run(tx, &new_run)?)
    }

    /// Reads every report of the upload, storing its cases batch by batch into `dest`.
    fn read_reports(
        &mut self,
        tx: &mut DbConnection,
        side: &mut DbConnection,
        dest: Dest,
        payload: &[u8],
    ) -> Result<(), IngestError> {
        let mut files = 0;
        for_each_report(
            std::io::Cursor::new(payload),
            &self.upload.report_name,
            self.ctx.max_report_bytes,
            |name, reader| {
                files += 1;
                self.write_report(tx, side, dest, name, reader)
            },
        )?;
        self.flush(tx, side, dest)?;
        if files > 1 {
            self.warn("files", format!("{files} report files stored as one run"));
        }
        Ok(())
    }

    /// The run's counts and times, and the task marked stored, in the caller's transaction.
    fn finish_run(&mut self, tx: &mut DbConnection, run_id: i64) -> Result<u64, IngestError> {
        let meta = &self.upload.meta;
        let received_at = self.upload.received_at;
        let (started_at, finished_at, source) =
            self.clock
                .resolve(meta.started_at, meta.finished_at, received_at);
        let timing = RunTiming {
            started_at,
            finished_at,
            source: source.as_str(),
        };
        results::set_run_counts(tx, run_id, &self.counts, &timing)?;
        run_names::note(tx, self.upload.project_id, &meta.branch, &meta.job)?;
        let warnings = self.final_warnings();
        let stored = queue::mark_stored(tx, self.task, now(), self.progress, &warnings)?;
        if !stored {
            return Err(IngestError::LeaseLost);
        }
        Ok(self.progress.records_stored as u64)
    }

    /// Opens a step's transaction: the claim renewed and the progress recorded, or
    /// `LeaseLost`.
    fn renew(&self, tx: &mut DbConnection) -> Result<(), IngestError> {
        if queue::record_step(tx, self.task, now(), self.progress)? {
            Ok(())
        } else {
            Err(IngestError::LeaseLost)
        }
    }

    fn write_report(
        &mut self,
        tx: &mut DbConnection,
        side: &mut DbConnection,
        dest: Dest,
        name: &str,
        reader: &mut dyn Read,
    ) -> Result<(), IngestError> {
        let options = ParseOptions {
            max_decompressed_bytes: self.ctx.max_report_bytes,
            ..ParseOptions::default()
        };
        let mut junit = JunitReader::new(reader, name, options)?;
        while let Some(item) = junit.next_item()? {
            match item {
                Item::Case(mut case) => {
                    self.progress.records_seen += 1;
                    self.check_case_limit(name, case.source_line)?;
                    self.fit(name, &mut case);
                    self.pending.push(*case);
                    if self.pending.len() >= BATCH {
                        self.flush(tx, side, dest)?;
                    }
                }
                Item::SuiteStart(suite) => self.clock.suite(&suite),
                Item::SuiteEnd(_) => {}
            }
        }
        self.clock.run_info(junit.run_info());
        for warning in junit.warnings() {
            self.warn(warning.kind.code(), format!("{name}: {warning}"));
        }
        Ok(())
    }

    /// Fails the store once the upload holds more cases than it may store. The whole store
    /// then rolls back: a run cut at an arbitrary case would look complete while missing
    /// results (perhaps the failing ones), so a run is stored whole or not at all.
    fn check_case_limit(&self, report: &str, line: u64) -> Result<(), IngestError> {
        let max = self.ctx.max_cases_per_upload;
        if self.progress.records_seen as u64 <= max {
            return Ok(());
        }
        Err(IngestError::Rejected(format!(
            "{report}:{line}: this upload holds more than {max} test cases, the most one upload \
             may store (--max-cases-per-upload, FLAKEWATCH_MAX_CASES_PER_UPLOAD); nothing of it \
             was stored: split the report into several uploads or raise the limit"
        )))
    }

    /// Makes the case storable (see `stored_text`), with a warning when that changed it.
    fn fit(&mut self, report: &str, case: &mut TestCase) {
        let line = case.source_line;
        let max = self.ctx.max_name_bytes;
        let fitted = stored_text::fit(case, max);
        if fitted.names_cut {
            let shown: String = case.name.chars().take(80).collect();
            self.warn(
                "name_truncated",
                format!(
                    "{report}:{line}: a test name, classname, suite or file of `{shown}` is longer \
                     than {max} bytes; it is stored cut"
                ),
            );
        }
        if fitted.nul_replaced {
            self.warn(
                "nul_replaced",
                format!(
                    "{report}:{line}: NUL characters in the test's text were replaced with U+FFFD"
                ),
            );
        }
    }

    /// Stores the pending cases, then checks in: cancel requested, lease lost, shutdown.
    fn flush(
        &mut self,
        tx: &mut DbConnection,
        side: &mut DbConnection,
        dest: Dest,
    ) -> Result<(), IngestError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let cases = std::mem::take(&mut self.pending);
        let now = now();
        let project_id = self.upload.project_id;

        let mut test_keys = Vec::with_capacity(cases.len());
        let mut failure_keys = Vec::new();
        let mut case_keys = Vec::with_capacity(cases.len());
        for case in &cases {
            let test_key = test_key(case);
            let failure = failure_key(case);
            case_keys.push((
                test_key.identity_hash.clone(),
                failure.as_ref().map(|f| f.message_hash.clone()),
            ));
            if let Some(failure) = failure {
                failure_keys.push(failure);
            }
            self.note_duplicate(&test_key);
            test_keys.push(test_key);
        }
        let stored = match dest {
            Dest::Run(run_id) => {
                // Shared rows: on PostgreSQL outside the store transaction (see
                // store::results), committed without waiting for a flush (the store's own
                // commit flushes them).
                let (test_ids, failure_ids) = match self.ctx.db.backend {
                    Backend::Postgres => crate::db::without_flush_wait(side, |side| {
                        let tests = results::ensure_tests(side, project_id, &mut test_keys, now)?;
                        let failures =
                            results::ensure_failures(side, project_id, &mut failure_keys, now)?;
                        Ok((tests, failures))
                    })?,
                    Backend::Sqlite => (
                        results::ensure_tests(tx, project_id, &mut test_keys, now)?,
                        results::ensure_failures(tx, project_id, &mut failure_keys, now)?,
                    ),
                };
                let rows = self.result_rows(run_id, &cases, case_keys, &test_ids, &failure_ids)?;
                results::insert_results(tx, &rows)?
            }
            // One step of its own: committed, so the write lock is free until the next.
            Dest::Staging => crate::db::write_transaction(tx, |step| {
                let after = Progress {
                    records_stored: self.progress.records_stored + cases.len() as i64,
                    ..self.progress
                };
                if !queue::record_step(step, self.task, now, after)? {
                    return Err(IngestError::LeaseLost);
                }
                let test_ids = results::ensure_tests(step, project_id, &mut test_keys, now)?;
                let failure_ids =
                    results::ensure_failures(step, project_id, &mut failure_keys, now)?;
                let rows = self.result_rows(0, &cases, case_keys, &test_ids, &failure_ids)?;
                let staged: Vec<StagedResult> =
                    rows.into_iter().map(|row| self.staged(row)).collect();
                Ok::<_, IngestError>(staging::insert(step, &staged)?)
            })?,
        };
        self.progress.records_stored += stored as i64;
        self.check_in(side)
    }

    /// The batch's result rows, counted into the run's totals.
    fn result_rows(
        &mut self,
        run_id: i64,
        cases: &[TestCase],
        case_keys: Vec<(String, Option<String>)>,
        test_ids: &HashMap<String, i64>,
        failure_ids: &HashMap<String, i64>,
    ) -> Result<Vec<NewResult>, IngestError> {
        let mut rows = Vec::with_capacity(cases.len());
        for (case, (identity_hash, message_hash)) in cases.iter().zip(case_keys) {
            let test_id = *test_ids.get(&identity_hash).ok_or_else(|| {
                IngestError::Rejected(format!("test {} could not be recorded", case.identity()))
            })?;
            self.count(case);
            rows.push(NewResult {
                run_id,
                test_id,
                outcome: case.outcome.as_str(),
                duration_ms: case.duration_ms,
                attempts: case.tries().min(i32::MAX as usize) as i32,
                failed_attempts: failed_attempts(case),
                retry_ms: retry_ms(case),
                failure_message_id: message_hash.and_then(|hash| failure_ids.get(&hash).copied()),
            });
        }
        Ok(rows)
    }

    fn staged(&self, row: NewResult) -> StagedResult {
        StagedResult {
            task_id: self.task.id,
            claim: self.task.claim,
            test_id: row.test_id,
            outcome: row.outcome,
            duration_ms: row.duration_ms,
            attempts: row.attempts,
            failed_attempts: row.failed_attempts,
            retry_ms: row.retry_ms,
            failure_message_id: row.failure_message_id,
        }
    }

    fn check_in(&mut self, side: &mut DbConnection) -> Result<(), IngestError> {
        self.ctx
            .signals
            .report_progress(self.task.id, self.progress);
        if let Some(observer) = &self.ctx.batch_observer {
            observer(self.task.id, self.progress);
        }
        if *self.ctx.hand_back_now.borrow() {
            return Err(IngestError::HandBack);
        }
        if self.ctx.signals.take_cancel(self.task.id) {
            return Err(IngestError::Cancelled);
        }
        match queue::check_in(side, self.task, now(), self.ctx.lease, self.progress)? {
            CheckIn::Alive {
                cancel_requested: false,
            } => Ok(()),
            CheckIn::Alive {
                cancel_requested: true,
            } => Err(IngestError::Cancelled),
            CheckIn::LeaseLost => Err(IngestError::LeaseLost),
        }
    }

    fn count(&mut self, case: &TestCase) {
        let counts = &mut self.counts;
        counts.tests += 1;
        match case.outcome {
            Outcome::Passed => counts.passed += 1,
            Outcome::Failed => counts.failed += 1,
            Outcome::Error => counts.errors += 1,
            Outcome::Skipped => counts.skipped += 1,
        }
        if case.is_flaky_in_run() {
            counts.flaky_in_run += 1;
        }
        counts.test_time_ms += case.duration_ms.unwrap_or(0).max(0);
        counts.retry_ms += retry_ms(case);
        self.clock
            .case(case.duration_ms.unwrap_or(0).max(0) + retry_ms(case));
    }

    fn note_duplicate(&mut self, key: &TestKey) {
        let prefix = u64::from_str_radix(&key.identity_hash[..16], 16).unwrap_or(0);
        if !self.seen_identities.insert(prefix) {
            let message = format!(
                "test {}::{} appears more than once in this run; each copy is stored",
                key.classname, key.name
            );
            self.warn("duplicate_identity", message);
        }
    }

    fn warn(&mut self, code: &str, message: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(Warning {
                code: code.to_owned(),
                message,
            });
        } else {
            self.warnings_dropped += 1;
        }
    }

    fn final_warnings(&self) -> Vec<Warning> {
        let mut warnings = self.warnings.clone();
        if self.warnings_dropped > 0 {
            warnings.push(Warning {
                code: "more_warnings".into(),
                message: format!(
                    "{} more {} not listed",
                    self.warnings_dropped,
                    crate::wording::agree(self.warnings_dropped, "warning", "warnings")
                ),
            });
        }
        warnings
    }
}

fn test_key(case: &TestCase) -> TestKey {
    let identity = case.identity();
    TestKey {
        identity_hash: sha256_hex(&[identity.scope.as_bytes(), identity.name.as_bytes()]),
        suite: case.suite_path.join("/"),
        classname: case.classname.clone().unwrap_or_default(),
        name: case.name.clone(),
        file: case.file.clone(),
    }
}

/// The failure that explains this result: its own for a failing test, the first failed
/// attempt for a test that passed on retry.
fn failure_key(case: &TestCase) -> Option<FailureKey> {
    let (kind, message, text) = if case.outcome.is_failing() {
        (
            case.failure_type.as_deref(),
            case.message.as_deref(),
            case.text.as_ref(),
        )
    } else {
        let attempt = case.attempts.iter().find(|a| a.outcome.is_failing())?;
        (
            attempt.failure_type.as_deref(),
            attempt.message.as_deref(),
            attempt.text.as_ref(),
        )
    };
    let kind = kind.unwrap_or("").to_owned();
    let message = message.unwrap_or("").to_owned();
    let mut details = text.map(|t| t.text.clone()).unwrap_or_default();
    truncate_at_char(&mut details, MAX_DETAILS_BYTES);
    let normalized = signature::normalize(&kind, &message, &details);
    Some(FailureKey {
        message_hash: sha256_hex(&[kind.as_bytes(), message.as_bytes(), details.as_bytes()]),
        signature_hash: signature::signature_hash(&normalized),
        normalized,
        kind,
        message,
        details,
    })
}

fn failed_attempts(case: &TestCase) -> i32 {
    let own = i32::from(case.outcome.is_failing());
    let extra = case
        .attempts
        .iter()
        .filter(|a| a.outcome.is_failing())
        .count();
    own + extra.min(i32::MAX as usize - 1) as i32
}

/// Time spent on the tries other than the one that decided the outcome.
fn retry_ms(case: &TestCase) -> i64 {
    case.attempts
        .iter()
        .filter(|a| a.outcome != Outcome::Skipped)
        .map(|a| a.duration_ms.unwrap_or(0).max(0))
        .sum()
}

fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
