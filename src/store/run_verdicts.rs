//! "Is this red my fault?": every failed test of a run, classed by what flakewatch knows of
//! it — quarantined, already broken on the default branch, known flaky, or new (nothing
//! explains it: most likely the change under test). The classes use what is known now, so
//! a verdict read later reflects later knowledge.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::owners;
use super::quarantines::{self, Quarantine};
use crate::analysis::state::BranchTrack;
use crate::analysis::{Status, TestState};
use crate::db::schema::{
    failure_messages, projects, results, runs, test_scores, test_states, tests,
};
use crate::db::DbConnection;
use crate::tasks::model::NaiveDateTimeUtc;
use crate::wording::count;

/// Why a test failed, as far as flakewatch can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Someone quarantined it: its failures do not fail the gate.
    Quarantined,
    /// Known to fail and pass without a code change.
    Flaky,
    /// Already failing on the default branch since a commit.
    Broken,
    /// Nothing explains it: most likely the change under test.
    New,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Quarantined => "quarantined",
            FailureClass::Broken => "broken",
            FailureClass::Flaky => "flaky",
            FailureClass::New => "new",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FailedTest {
    pub test_id: i64,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    pub owner: Option<String>,
    pub class: FailureClass,
    /// `failed` or `error`.
    pub outcome: String,
    /// The failure's type and message, as the report gave them.
    pub message: String,
    /// The test's status now, its flakiness score and estimated flaky failure rate.
    pub status: String,
    pub score: f64,
    pub failure_rate: f64,
    /// Flaky: since when; broken: since the first failing run of its streak.
    pub since: Option<NaiveDateTimeUtc>,
    /// Broken: the commit its failing streak on the default branch began at.
    pub broken_since_commit: Option<String>,
    pub quarantine: Option<Quarantine>,
    /// One line a person reads: why it is in its class.
    pub explanation: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClassCounts {
    pub failed: usize,
    pub flaky: usize,
    pub broken: usize,
    pub quarantined: usize,
    pub new: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunVerdict {
    pub project: String,
    pub run_id: i64,
    pub branch: String,
    pub commit: String,
    pub job: String,
    pub attempt: i32,
    pub build_url: String,
    pub default_branch: String,
    pub tests: i32,
    pub counts: ClassCounts,
    /// Counts first, in one line: "3 tests failed: 1 known flaky, 1 new (most likely this
    /// change)".
    pub summary: String,
    /// Failures by class (new first), then by name.
    pub failures: Vec<FailedTest>,
}

type FailureRow = (
    (i64, String, String, Option<String>),
    String,
    Option<(String, f64, f64, NaiveDateTime)>,
    Option<String>,
    Option<(String, String)>,
);

/// The verdict of a run of the project; `None` when the project has no such run.
pub fn verdict(
    conn: &mut DbConnection,
    project_id: i64,
    run_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<RunVerdict>> {
    type RunRow = (String, String, String, i32, String, i32, String, String);
    let run: Option<RunRow> = runs::table
        .inner_join(projects::table.on(projects::id.eq(runs::project_id)))
        .filter(runs::id.eq(run_id))
        .filter(runs::project_id.eq(project_id))
        .select((
            runs::branch,
            runs::commit_sha,
            runs::job,
            runs::attempt,
            runs::build_url,
            runs::tests,
            projects::default_branch,
            projects::name,
        ))
        .first(conn)
        .optional()?;
    let Some((branch, commit, job, attempt, build_url, tests_in_run, default_branch, project)) =
        run
    else {
        return Ok(None);
    };
    let known = Known::load(conn, project_id, now)?;
    let mut failures = failures_of(conn, &[run_id])?
        .into_iter()
        .map(|(_, row)| known.classify(row, &job, &default_branch, now))
        .collect::<Vec<_>>();
    failures.sort_by_key(|f| std::cmp::Reverse(f.class));
    let counts = counts_of(&failures);
    Ok(Some(RunVerdict {
        summary: summary(&counts, &default_branch),
        project,
        run_id,
        branch,
        commit,
        job,
        attempt,
        build_url,
        default_branch,
        tests: tests_in_run,
        counts,
        failures,
    }))
}

/// Each run's one-line summary (as `RunVerdict::summary`), for runs of the project, in
/// one read of their failures: the commit page shows one per run.
pub fn summaries(
    conn: &mut DbConnection,
    project_id: i64,
    default_branch: &str,
    run_ids: &[i64],
    now: NaiveDateTime,
) -> QueryResult<HashMap<i64, String>> {
    let known = Known::load(conn, project_id, now)?;
    let mut failures: HashMap<i64, Vec<FailedTest>> =
        run_ids.iter().map(|id| (*id, Vec::new())).collect();
    let mut jobs: HashMap<i64, String> = HashMap::new();
    for chunk in run_ids.chunks(IDS_PER_READ) {
        let rows: Vec<(i64, String)> = runs::table
            .filter(runs::id.eq_any(chunk))
            .select((runs::id, runs::job))
            .load(conn)?;
        jobs.extend(rows);
    }
    for (run_id, row) in failures_of(conn, run_ids)? {
        let job = jobs.get(&run_id).map_or("", String::as_str);
        let failed = known.classify(row, job, default_branch, now);
        failures.entry(run_id).or_default().push(failed);
    }
    Ok(failures
        .into_iter()
        .map(|(run_id, failed)| (run_id, summary(&counts_of(&failed), default_branch)))
        .collect())
}

/// Ids read per `IN (...)` list: within SQLite's limit on bound values.
const IDS_PER_READ: usize = 10_000;

type TestRow = (
    (i64, String, String, Option<String>),
    Option<(String, f64, f64, NaiveDateTime)>,
    Option<String>,
);

/// The failed and errored results of these runs, each with its run id, by test name.
///
/// Three reads by index rather than one join: the failing results (the partial index of
/// failing results), then their tests with scores and states, then their messages, each
/// by primary key. One join let PostgreSQL's planner, on estimates made before a large
/// load was analysed, hash the whole `tests` table for a run's single failure.
fn failures_of(conn: &mut DbConnection, run_ids: &[i64]) -> QueryResult<Vec<(i64, FailureRow)>> {
    let failing: Vec<(i64, i64, String, Option<i64>)> = results::table
        .filter(results::run_id.eq_any(run_ids))
        // Written out, not bound: only a literal condition lets either database use the
        // partial index for every statement, so a run of a million passing tests costs its
        // failures alone.
        .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "results.outcome IN ('failed', 'error')",
        ))
        .select((
            results::run_id,
            results::test_id,
            results::outcome,
            results::failure_message_id,
        ))
        .load(conn)?;
    let mut test_ids: Vec<i64> = failing.iter().map(|f| f.1).collect();
    test_ids.sort_unstable();
    test_ids.dedup();
    let mut found: Vec<TestRow> = Vec::new();
    for chunk in test_ids.chunks(IDS_PER_READ) {
        found.extend(
            tests::table
                .left_join(test_scores::table.on(test_scores::test_id.eq(tests::id)))
                .left_join(test_states::table.on(test_states::test_id.eq(tests::id)))
                .filter(tests::id.eq_any(chunk))
                .select((
                    (tests::id, tests::classname, tests::name, tests::file),
                    (
                        test_scores::status,
                        test_scores::score,
                        test_scores::failure_rate,
                        test_scores::status_changed_at,
                    )
                        .nullable(),
                    test_states::state.nullable(),
                ))
                .load::<TestRow>(conn)?,
        );
    }
    found.sort_by(|a, b| (&a.0 .1, &a.0 .2, a.0 .0).cmp(&(&b.0 .1, &b.0 .2, b.0 .0)));
    // Each test with its place in name order.
    let tests: HashMap<i64, (usize, TestRow)> = found
        .into_iter()
        .enumerate()
        .map(|(place, row)| (row.0 .0, (place, row)))
        .collect();
    let mut message_ids: Vec<i64> = failing.iter().filter_map(|f| f.3).collect();
    message_ids.sort_unstable();
    message_ids.dedup();
    let mut messages: HashMap<i64, (String, String)> = HashMap::new();
    for chunk in message_ids.chunks(IDS_PER_READ) {
        let rows: Vec<(i64, String, String)> = failure_messages::table
            .filter(failure_messages::id.eq_any(chunk))
            .select((
                failure_messages::id,
                failure_messages::kind,
                failure_messages::message,
            ))
            .load(conn)?;
        messages.extend(
            rows.into_iter()
                .map(|(id, kind, message)| (id, (kind, message))),
        );
    }
    let mut rows: Vec<(usize, i64, FailureRow)> = failing
        .into_iter()
        .filter_map(|(run_id, test_id, outcome, message_id)| {
            let (place, (test, score, state)) = tests.get(&test_id)?.clone();
            let failure = message_id.and_then(|id| messages.get(&id).cloned());
            Some((place, run_id, (test, outcome, score, state, failure)))
        })
        .collect();
    rows.sort_by_key(|(place, run_id, _)| (*place, *run_id));
    Ok(rows
        .into_iter()
        .map(|(_, run_id, row)| (run_id, row))
        .collect())
}

/// What a failure is classed by besides its test's score: quarantines and owners.
struct Known {
    quarantined: Vec<Quarantine>,
    owners: crate::codeowners::CodeOwners,
}

impl Known {
    fn load(conn: &mut DbConnection, project_id: i64, now: NaiveDateTime) -> QueryResult<Known> {
        Ok(Known {
            quarantined: quarantines::active(conn, project_id, now)?,
            owners: owners::load(conn, project_id)?,
        })
    }

    fn classify(
        &self,
        row: FailureRow,
        job: &str,
        default_branch: &str,
        now: NaiveDateTime,
    ) -> FailedTest {
        let ((test_id, classname, name, file), outcome, score, state, failure) = row;
        let quarantine = self
            .quarantined
            .iter()
            .find(|q| q.test_id == test_id)
            .cloned();
        let owner = owners::owner_of(&self.owners, file.as_deref());
        let message = failure.map_or_else(String::new, |(kind, message)| {
            match (kind.is_empty(), message.is_empty()) {
                (false, false) => format!("{kind}: {message}"),
                (true, _) => message,
                (false, true) => kind,
            }
        });
        let mut failed = FailedTest {
            test_id,
            classname,
            name,
            file,
            owner,
            class: FailureClass::New,
            outcome,
            message,
            status: Status::New.as_str().to_owned(),
            score: 0.0,
            failure_rate: 0.0,
            since: None,
            broken_since_commit: None,
            quarantine,
            explanation: String::new(),
        };
        if let Some((status, score, rate, changed)) = score {
            failed.status = status;
            failed.score = score;
            failed.failure_rate = rate;
            let state = state.as_deref().unwrap_or("{}");
            classify(&mut failed, changed, state, job, default_branch);
        } else {
            classify(&mut failed, now, "{}", job, default_branch);
        }
        failed
    }
}

/// Where a `Broken` test fails on the default branch, as it bears on a failure in one job.
enum Breakage {
    /// In this job: its failing streak (commit, start), when the state still holds it.
    Here(Option<(String, Option<NaiveDateTime>)>),
    /// Only in another job (the one named): a build matrix's other platform.
    Elsewhere(String),
}

impl Breakage {
    fn of(state: &TestState, job: &str) -> Breakage {
        let streak = |b: &BranchTrack| (b.streak_commit.clone(), b.streak_started_at);
        let marked: Vec<&BranchTrack> = state.branches.iter().filter(|b| b.broken).collect();
        if let Some(first) = marked.first() {
            return match marked.iter().find(|b| state.is_job(b.job, job)) {
                Some(here) => Breakage::Here(Some(streak(here))),
                None => Breakage::Elsewhere(state.job_name(first.job).to_owned()),
            };
        }
        // A state scored before jobs were told apart marks no track: its default-branch
        // streak stands for every job.
        let failing = state
            .branches
            .iter()
            .find(|b| b.is_default && b.fail_streak > 0);
        Breakage::Here(failing.map(streak))
    }
}

/// Puts a failed test in its class, with the line that explains it.
fn classify(
    f: &mut FailedTest,
    status_since: NaiveDateTime,
    state: &str,
    job: &str,
    default_branch: &str,
) {
    let day = |t: NaiveDateTime| t.format("%Y-%m-%d").to_string();
    if let Some(q) = &f.quarantine {
        f.class = FailureClass::Quarantined;
        let owner = if q.owner.is_empty() {
            String::new()
        } else {
            format!(" by {}", q.owner)
        };
        let until = q
            .expires_at
            .map_or_else(String::new, |t| format!(" until {}", day(t.0)));
        f.explanation = format!("quarantined{owner}{until}: {}", q.reason);
        return;
    }
    match Status::parse(&f.status) {
        Some(Status::Broken) => {
            let state: TestState = serde_json::from_str(state).unwrap_or_default();
            let streak = match Breakage::of(&state, job) {
                Breakage::Here(streak) => streak,
                Breakage::Elsewhere(other) => {
                    f.class = FailureClass::New;
                    f.explanation = format!(
                        "failing on {default_branch} only in job {other}; nothing known \
                         explains it in {}: most likely this change",
                        if job.is_empty() { "this job" } else { job }
                    );
                    return;
                }
            };
            f.class = FailureClass::Broken;
            let since = streak
                .as_ref()
                .and_then(|(_, started)| *started)
                .unwrap_or(status_since);
            f.broken_since_commit = streak.map(|(commit, _)| commit);
            f.since = Some(NaiveDateTimeUtc(since));
            f.explanation = match &f.broken_since_commit {
                Some(commit) => format!(
                    "already failing on {default_branch} since commit {} ({})",
                    commit.chars().take(7).collect::<String>(),
                    day(since)
                ),
                None => format!("already failing on {default_branch} since {}", day(since)),
            };
        }
        Some(Status::Flaky) => {
            f.class = FailureClass::Flaky;
            f.since = Some(NaiveDateTimeUtc(status_since));
            f.explanation = format!(
                "known flaky since {}: fails {:.1}% of its runs without a code change (score {:.2})",
                day(status_since),
                100.0 * f.failure_rate,
                f.score
            );
        }
        _ => {
            f.class = FailureClass::New;
            f.explanation = "nothing known explains it: most likely this change".to_owned();
        }
    }
}

fn counts_of(failures: &[FailedTest]) -> ClassCounts {
    let mut c = ClassCounts {
        failed: failures.len(),
        ..ClassCounts::default()
    };
    for f in failures {
        match f.class {
            FailureClass::Quarantined => c.quarantined += 1,
            FailureClass::Broken => c.broken += 1,
            FailureClass::Flaky => c.flaky += 1,
            FailureClass::New => c.new += 1,
        }
    }
    c
}

/// "3 tests failed: 1 new (most likely this change), 1 already broken on main, 1 known
/// flaky". Counts first, the class that needs attention first.
pub fn summary(c: &ClassCounts, default_branch: &str) -> String {
    if c.failed == 0 {
        return "no test failed".to_owned();
    }
    let mut parts = Vec::new();
    if c.new > 0 {
        parts.push(format!("{} new (most likely this change)", c.new));
    }
    if c.broken > 0 {
        parts.push(format!("{} already broken on {default_branch}", c.broken));
    }
    if c.flaky > 0 {
        parts.push(format!("{} known flaky", c.flaky));
    }
    if c.quarantined > 0 {
        parts.push(format!("{} quarantined", c.quarantined));
    }
    let head = format!("{} failed", count(c.failed, "test"));
    if c.new == 0 {
        format!("{head}, none of them new: {}", parts.join(", "))
    } else {
        format!("{head}: {}", parts.join(", "))
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn the_summary_puts_counts_and_new_failures_first() {
        let c = ClassCounts {
            failed: 4,
            flaky: 1,
            broken: 1,
            quarantined: 1,
            new: 1,
        };
        assert_eq!(
            summary(&c, "master"),
            "4 tests failed: 1 new (most likely this change), 1 already broken on master, \
             1 known flaky, 1 quarantined"
        );
        let known = ClassCounts {
            failed: 1,
            flaky: 1,
            ..ClassCounts::default()
        };
        assert_eq!(
            summary(&known, "main"),
            "1 test failed, none of them new: 1 known flaky"
        );
        assert_eq!(summary(&ClassCounts::default(), "main"), "no test failed");
    }
}
