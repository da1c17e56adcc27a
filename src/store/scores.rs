//! Scoring a stored run: the analyzer's state of each test in the run is read, advanced
//! by this run's result and written back, inside the run's store transaction, so a run is
//! scored exactly once. Work is proportional to the tests in the run, in chunks of
//! `CHUNK` tests, so a huge run never holds all its states in memory.
//!
//! On PostgreSQL the states are locked (`FOR UPDATE`) in ascending test id, the same order
//! for every writer, so concurrent store transactions wait for each other but never
//! deadlock.
//!
//! Scoring also keeps the impact rollups (`store::impact`) and marks tests that have not
//! been reported for a while `inactive` (`mark_inactive`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::impact::{self, DayCost, ImpactBatch, RerunKey};
use crate::analysis::{
    self, run_level, Outcome, Params, RunContext, Status, TestResultObs, TestState,
};
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
    let mut costs = ImpactBatch::default();
    for_each_chunk(conn, run.run_id, |conn, chunk| {
        let mut scoring = Scoring {
            run: &run,
            params,
            breakdown: &mut breakdown,
            costs: &mut costs,
        };
        score_chunk(conn, project_id, chunk, &mut scoring, now)
    })?;
    store_breakdown(conn, run.run_id, &breakdown)?;
    let rerun = rerun_key(conn, &run)?;
    impact::charge_rerun(conn, project_id, &rerun, &mut costs)?;
    costs.write(conn, project_id)?;
    mark_inactive(conn, project_id, params)?;
    Ok(breakdown)
}

/// One run being scored: what each result adds up to.
struct Scoring<'a> {
    run: &'a RunContext,
    params: &'a Params,
    breakdown: &'a mut RedBreakdown,
    costs: &'a mut ImpactBatch,
}

fn rerun_key(conn: &mut DbConnection, run: &RunContext) -> QueryResult<RerunKey> {
    let finished_at = runs::table
        .find(run.run_id)
        .select(runs::finished_at)
        .first(conn)?;
    Ok(RerunKey {
        run_id: run.run_id,
        job: run.job.clone(),
        attempt: run.attempt,
        pipeline: run.pipeline.clone(),
        commit: run.commit.clone(),
        started_at: run.at,
        finished_at,
    })
}

/// Tests of the project not reported for `inactive_after_hours` before its newest run
/// become `inactive`, since the moment that period ran out; their next result ends it
/// (see `analysis::observe`). A project that pauses changes nobody: only its own newest
/// run counts.
pub fn mark_inactive(conn: &mut DbConnection, project_id: i64, params: &Params) -> QueryResult<()> {
    let newest: Option<NaiveDateTime> = runs::table
        .filter(runs::project_id.eq(project_id))
        .select(diesel::dsl::max(runs::started_at))
        .first(conn)?;
    let Some(newest) = newest else {
        return Ok(());
    };
    let hours = params.inactive_after_hours.clamp(0.0, 1e6);
    let cutoff = newest - chrono::Duration::milliseconds((hours * 3_600_000.0) as i64);
    let gone: Vec<(i64, NaiveDateTime, String)> = test_scores::table
        .filter(test_scores::project_id.eq(project_id))
        .filter(test_scores::last_seen_at.le(cutoff))
        .filter(test_scores::status.ne(Status::Inactive.as_str()))
        .select((
            test_scores::test_id,
            test_scores::last_seen_at.assume_not_null(),
            test_scores::state,
        ))
        .load(conn)?;
    for (test_id, last_seen, state) in gone {
        let since = analysis::inactive_from(last_seen, params).unwrap_or(newest);
        let mut state: TestState = serde_json::from_str(&state).unwrap_or_default();
        analysis::go_inactive(&mut state, since);
        diesel::update(test_scores::table.find(test_id))
            .set((
                test_scores::status.eq(Status::Inactive.as_str()),
                test_scores::status_changed_at.eq(since),
                test_scores::state
                    .eq(serde_json::to_string(&state).unwrap_or_else(|_| "{}".into())),
            ))
            .execute(conn)?;
    }
    Ok(())
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
        impact::clear(conn, project_id)?;
        // The incremental sweep (`mark_inactive`) marked a test inactive once a run of the
        // project came `inactive_after_hours` after its last result: the replay does the
        // same when the test comes back, judging by the run before.
        let mut previous_at: Option<NaiveDateTime> = None;
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
            let mut costs = ImpactBatch::default();
            for_each_chunk(conn, run_id, |_, chunk| {
                let mut scoring = Scoring {
                    run: &run,
                    params,
                    breakdown: &mut breakdown,
                    costs: &mut costs,
                };
                for row in chunk {
                    let state = states.entry(row.0).or_default();
                    let gone_from = state
                        .last_seen_at
                        .and_then(|last| analysis::inactive_from(last, params));
                    if let (Some(from), Some(before)) = (gone_from, previous_at) {
                        if from <= before && state.status != Status::Inactive {
                            analysis::go_inactive(state, from);
                        }
                    }
                    observe_row(state, row, &mut scoring);
                }
                summary.results += chunk.len() as u64;
                Ok(())
            })?;
            store_breakdown(conn, run_id, &breakdown)?;
            let rerun = rerun_key(conn, &run)?;
            impact::charge_rerun(conn, project_id, &rerun, &mut costs)?;
            costs.write(conn, project_id)?;
            previous_at = Some(previous_at.map_or(at, |before| before.max(at)));
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
        mark_inactive(conn, project_id, params)?;
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

fn score_chunk(
    conn: &mut DbConnection,
    project_id: i64,
    chunk: &[ResultRow],
    scoring: &mut Scoring<'_>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let mut ids: Vec<i64> = chunk.iter().map(|row| row.0).collect();
    ids.dedup(); // sorted already; a test reported twice in one run is one state
    let mut states: std::collections::HashMap<i64, TestState> =
        load_states(conn, &ids)?.into_iter().collect();
    for row in chunk {
        observe_row(states.entry(row.0).or_default(), row, scoring);
    }
    let rows: Vec<ScoreRow> = ids
        .iter()
        .map(|id| score_row(*id, project_id, &states[id], scoring.params, now))
        .collect();
    upsert_scores(conn, &rows)
}

/// Advances one test's state by its result in the run; counts the run's red tests by the
/// status the test has right after, and what it cost if it is flaky.
fn observe_row(state: &mut TestState, row: &ResultRow, scoring: &mut Scoring<'_>) {
    let (test_id, outcome, attempts, failed_attempts, retry_ms, signature) = row;
    let run = scoring.run;
    let outcome = parse_outcome(outcome);
    let observation = TestResultObs {
        outcome,
        attempts: (*attempts).max(1) as u32,
        failed_attempts: (*failed_attempts).max(0) as u32,
        signature: signature.map(|id| id.to_string()),
    };
    analysis::observe_in_place(state, run, &observation, scoring.params);
    let breakdown = &mut *scoring.breakdown;
    if outcome.is_failure() {
        match state.status {
            Status::Flaky => breakdown.red_flaky += 1,
            Status::Broken => breakdown.red_broken += 1,
            _ => breakdown.red_other += 1,
        }
    }
    let flaky = state.status == Status::Flaky;
    if flaky {
        breakdown.flaky_retry_ms += retry_ms;
    }
    let outage = run_level::classify(run, &observation, scoring.params).is_some();
    if flaky && observation.has_failed_attempt() && !outage {
        let failed = outcome.is_failure();
        let cost = DayCost {
            failures: i32::from(failed),
            red_runs_alone: i32::from(failed && run.failed_in_run == 1),
            rerun_ms: 0,
            retry_ms: *retry_ms,
        };
        scoring.costs.add(*test_id, run.at, cost);
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
    diesel::dsl::Eq<test_scores::last_seen_at, Option<NaiveDateTime>>,
    diesel::dsl::Eq<test_scores::fixed_since, Option<NaiveDateTime>>,
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
        test_scores::status.eq(verdict.status.as_str()),
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
        test_scores::last_seen_at.eq(state.last_seen_at),
        test_scores::fixed_since.eq(verdict.fixed_since),
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
            test_scores::last_seen_at.eq(excluded(test_scores::last_seen_at)),
            test_scores::fixed_since.eq(excluded(test_scores::fixed_since)),
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
