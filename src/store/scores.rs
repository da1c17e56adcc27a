//! Scoring a stored run: the analyzer's state of each test in the run is read, advanced
//! by this run's result and written back, inside the run's store transaction, so a run is
//! scored exactly once. Work is proportional to the tests in the run, in chunks of
//! `CHUNK` tests, so a huge run never holds all its states in memory.
//!
//! On PostgreSQL the states are locked (`FOR UPDATE`) in ascending test id, the same order
//! for every writer, so concurrent store transactions wait for each other but never
//! deadlock.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::analysis::{self, Outcome, Params, RunContext, Status, TestResultObs, TestState};
use crate::db::schema::{failure_messages, results, runs, test_scores};
use crate::db::DbConnection;

const CHUNK: i64 = 2000;

/// What the scoring of one run adds up to; stored on the run for CI-quality metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RedBreakdown {
    pub red_flaky: i32,
    pub red_broken: i32,
    pub red_other: i32,
    pub flaky_retry_ms: i64,
}

type ResultRow = (i64, String, i32, i32, i64, Option<i64>);

/// Scores every test of `run_id`. `run` carries the run's metadata; its run-level counts
/// are filled in here from the stored results.
pub fn score_run(
    conn: &mut DbConnection,
    project_id: i64,
    mut run: RunContext,
    params: &Params,
    now: NaiveDateTime,
) -> QueryResult<RedBreakdown> {
    fill_run_level_counts(conn, &mut run)?;
    let mut breakdown = RedBreakdown::default();
    for_each_chunk(conn, run.run_id, |conn, chunk| {
        score_chunk(conn, project_id, &run, chunk, params, now, &mut breakdown)
    })?;
    store_breakdown(conn, run.run_id, &breakdown)?;
    Ok(breakdown)
}

/// Calls `work` with the run's results in chunks of ascending test id.
fn for_each_chunk(
    conn: &mut DbConnection,
    run_id: i64,
    mut work: impl FnMut(&mut DbConnection, &[ResultRow]) -> QueryResult<()>,
) -> QueryResult<()> {
    let mut after = i64::MIN;
    loop {
        let chunk: Vec<ResultRow> = results::table
            .left_join(failure_messages::table)
            .filter(results::run_id.eq(run_id))
            .filter(results::test_id.gt(after))
            .order(results::test_id)
            .limit(CHUNK)
            .select((
                results::test_id,
                results::outcome,
                results::attempts,
                results::failed_attempts,
                results::retry_ms,
                failure_messages::signature_id.nullable(),
            ))
            .load(conn)?;
        let Some(last) = chunk.last() else {
            return Ok(());
        };
        after = last.0;
        work(conn, &chunk)?;
    }
}

fn store_breakdown(
    conn: &mut DbConnection,
    run_id: i64,
    breakdown: &RedBreakdown,
) -> QueryResult<()> {
    diesel::update(runs::table.filter(runs::id.eq(run_id)))
        .set((
            runs::red_flaky.eq(breakdown.red_flaky),
            runs::red_broken.eq(breakdown.red_broken),
            runs::red_other.eq(breakdown.red_other),
            runs::flaky_retry_ms.eq(breakdown.flaky_retry_ms),
        ))
        .execute(conn)
        .map(drop)
}

/// Scores a project again from its first run, with every state kept in memory, and
/// replaces its scores: for new analyzer parameters, or after a change of the analyzer.
/// One transaction; `progress(done, total)` is called after each run.
pub fn rescore_project(
    conn: &mut DbConnection,
    project_id: i64,
    params: &Params,
    now: NaiveDateTime,
    mut progress: impl FnMut(usize, usize),
) -> QueryResult<RescoreSummary> {
    conn.transaction(|conn| {
        let all_runs: Vec<RunKey> = runs::table
            .filter(runs::project_id.eq(project_id))
            .order((runs::started_at, runs::id))
            .select((
                runs::id,
                runs::started_at,
                runs::branch,
                runs::on_default_branch,
                runs::commit_sha,
                runs::job,
                runs::attempt,
                runs::pipeline,
            ))
            .load(conn)?;
        let mut states: std::collections::HashMap<i64, TestState> =
            std::collections::HashMap::new();
        let mut summary = RescoreSummary::default();
        for (index, (run_id, at, branch, on_default_branch, commit, job, attempt, pipeline)) in
            all_runs.iter().cloned().enumerate()
        {
            let mut run = RunContext {
                run_id,
                at,
                branch,
                on_default_branch,
                commit,
                job,
                attempt,
                pipeline,
                tests_in_run: 0,
                failed_in_run: 0,
                top_signature_failures: 0,
                top_signature: None,
            };
            fill_run_level_counts(conn, &mut run)?;
            let mut breakdown = RedBreakdown::default();
            for_each_chunk(conn, run_id, |_, chunk| {
                for row in chunk {
                    observe_row(
                        states.entry(row.0).or_default(),
                        &run,
                        row,
                        params,
                        &mut breakdown,
                    );
                }
                summary.results += chunk.len() as u64;
                Ok(())
            })?;
            store_breakdown(conn, run_id, &breakdown)?;
            summary.runs += 1;
            progress(index + 1, all_runs.len());
        }
        diesel::delete(test_scores::table.filter(test_scores::project_id.eq(project_id)))
            .execute(conn)?;
        let mut ids: Vec<i64> = states.keys().copied().collect();
        ids.sort_unstable();
        for batch in ids.chunks(CHUNK as usize) {
            let rows: Vec<ScoreRow> = batch
                .iter()
                .map(|id| score_row(*id, project_id, &states[id], params, now))
                .collect();
            upsert_scores(conn, &rows)?;
        }
        summary.tests = ids.len() as u64;
        Ok(summary)
    })
}

/// id, started_at, branch, on default branch, commit, job, attempt, pipeline
type RunKey = (
    i64,
    NaiveDateTime,
    String,
    bool,
    String,
    String,
    i32,
    String,
);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RescoreSummary {
    pub runs: u64,
    pub results: u64,
    pub tests: u64,
}

/// Executed and failed tests come from the run's counts; the most common failure
/// signature among tests with a failed try from one aggregate query.
fn fill_run_level_counts(conn: &mut DbConnection, run: &mut RunContext) -> QueryResult<()> {
    let (tests, skipped, failed, errors): (i32, i32, i32, i32) = runs::table
        .filter(runs::id.eq(run.run_id))
        .select((runs::tests, runs::skipped, runs::failed, runs::errors))
        .first(conn)?;
    run.tests_in_run = (tests - skipped).max(0) as u32;
    run.failed_in_run = (failed + errors).max(0) as u32;
    let top: Option<(i64, i64)> = results::table
        .inner_join(failure_messages::table)
        .filter(results::run_id.eq(run.run_id))
        .group_by(failure_messages::signature_id)
        .select((failure_messages::signature_id, diesel::dsl::count_star()))
        .order((
            diesel::dsl::count_star().desc(),
            failure_messages::signature_id,
        ))
        .first(conn)
        .optional()?;
    run.top_signature_failures = top.map_or(0, |(_, n)| n as u32);
    run.top_signature = top.map(|(signature, _)| signature.to_string());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn score_chunk(
    conn: &mut DbConnection,
    project_id: i64,
    run: &RunContext,
    chunk: &[ResultRow],
    params: &Params,
    now: NaiveDateTime,
    breakdown: &mut RedBreakdown,
) -> QueryResult<()> {
    let mut ids: Vec<i64> = chunk.iter().map(|row| row.0).collect();
    ids.dedup(); // sorted already; a test reported twice in one run is one state
    let mut states: std::collections::HashMap<i64, TestState> =
        load_states(conn, &ids)?.into_iter().collect();
    for row in chunk {
        observe_row(
            states.entry(row.0).or_default(),
            run,
            row,
            params,
            breakdown,
        );
    }
    let rows: Vec<ScoreRow> = ids
        .iter()
        .map(|id| score_row(*id, project_id, &states[id], params, now))
        .collect();
    upsert_scores(conn, &rows)
}

/// Advances one test's state by its result in `run`, and counts the run's red tests by
/// the status the test has right after.
fn observe_row(
    state: &mut TestState,
    run: &RunContext,
    row: &ResultRow,
    params: &Params,
    breakdown: &mut RedBreakdown,
) {
    let (_, outcome, attempts, failed_attempts, retry_ms, signature) = row;
    let outcome = parse_outcome(outcome);
    let observation = TestResultObs {
        outcome,
        attempts: (*attempts).max(1) as u32,
        failed_attempts: (*failed_attempts).max(0) as u32,
        signature: signature.map(|id| id.to_string()),
    };
    analysis::observe_in_place(state, run, &observation, params);
    if outcome.is_failure() {
        match state.status {
            Status::Flaky => breakdown.red_flaky += 1,
            Status::Broken => breakdown.red_broken += 1,
            Status::New | Status::Healthy => breakdown.red_other += 1,
        }
    }
    if state.status == Status::Flaky {
        breakdown.flaky_retry_ms += retry_ms;
    }
}

type ScoreRow = (
    diesel::dsl::Eq<test_scores::test_id, i64>,
    diesel::dsl::Eq<test_scores::project_id, i64>,
    diesel::dsl::Eq<test_scores::status, &'static str>,
    diesel::dsl::Eq<test_scores::score, f64>,
    diesel::dsl::Eq<test_scores::failure_rate, f64>,
    diesel::dsl::Eq<test_scores::runs_seen, i32>,
    diesel::dsl::Eq<test_scores::first_flaky_at, Option<NaiveDateTime>>,
    diesel::dsl::Eq<test_scores::last_flaky_at, Option<NaiveDateTime>>,
    diesel::dsl::Eq<test_scores::status_changed_at, NaiveDateTime>,
    diesel::dsl::Eq<test_scores::updated_at, NaiveDateTime>,
    diesel::dsl::Eq<test_scores::evidence, String>,
    diesel::dsl::Eq<test_scores::state, String>,
);

fn score_row(
    test_id: i64,
    project_id: i64,
    state: &TestState,
    params: &Params,
    now: NaiveDateTime,
) -> ScoreRow {
    let verdict = analysis::verdict(state, params);
    (
        test_scores::test_id.eq(test_id),
        test_scores::project_id.eq(project_id),
        test_scores::status.eq(status_name(verdict.status)),
        test_scores::score.eq(verdict.score),
        test_scores::failure_rate.eq(verdict.failure_rate),
        test_scores::runs_seen.eq(verdict.runs_seen as i32),
        test_scores::first_flaky_at.eq(verdict.first_flaky_at),
        test_scores::last_flaky_at.eq(verdict.last_flaky_at),
        test_scores::status_changed_at.eq(verdict.status_changed_at),
        test_scores::updated_at.eq(now),
        test_scores::evidence
            .eq(serde_json::to_string(&verdict.evidence).unwrap_or_else(|_| "[]".into())),
        test_scores::state.eq(serde_json::to_string(state).unwrap_or_else(|_| "{}".into())),
    )
}

fn upsert_scores(conn: &mut DbConnection, rows: &[ScoreRow]) -> QueryResult<()> {
    crate::per_backend!(conn, |c| diesel::insert_into(test_scores::table)
        .values(rows)
        .on_conflict(test_scores::test_id)
        .do_update()
        .set((
            test_scores::status.eq(excluded(test_scores::status)),
            test_scores::score.eq(excluded(test_scores::score)),
            test_scores::failure_rate.eq(excluded(test_scores::failure_rate)),
            test_scores::runs_seen.eq(excluded(test_scores::runs_seen)),
            test_scores::first_flaky_at.eq(excluded(test_scores::first_flaky_at)),
            test_scores::last_flaky_at.eq(excluded(test_scores::last_flaky_at)),
            test_scores::status_changed_at.eq(excluded(test_scores::status_changed_at)),
            test_scores::updated_at.eq(excluded(test_scores::updated_at)),
            test_scores::evidence.eq(excluded(test_scores::evidence)),
            test_scores::state.eq(excluded(test_scores::state)),
        ))
        .execute(c))?;
    Ok(())
}

/// The stored states of `ids` (sorted), locked on PostgreSQL until the transaction ends
/// (in ascending id order, as the query sorts them).
fn load_states(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<(i64, TestState)>> {
    let query = test_scores::table
        .filter(test_scores::test_id.eq_any(ids))
        .order(test_scores::test_id)
        .select((test_scores::test_id, test_scores::state));
    let rows: Vec<(i64, String)> = match conn {
        DbConnection::Postgres(pg) => query.for_update().load(pg)?,
        DbConnection::Sqlite(sqlite) => query.load(sqlite)?,
    };
    Ok(rows
        .into_iter()
        .map(|(id, state)| {
            // A state written by an older analyzer that no longer reads starts afresh.
            (id, serde_json::from_str(&state).unwrap_or_default())
        })
        .collect())
}

fn parse_outcome(text: &str) -> Outcome {
    match text {
        "passed" => Outcome::Passed,
        "failed" => Outcome::Failed,
        "error" => Outcome::Error,
        _ => Outcome::Skipped,
    }
}

pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::New => "new",
        Status::Healthy => "healthy",
        Status::Flaky => "flaky",
        Status::Broken => "broken",
    }
}
