//! Scoring stored runs: each test's analyzer state is advanced by its results, run after
//! run in the project's scoring order, and written back. This is the second stage after
//! storing (see `jobs::score`): one scorer per project at a time (`lock_project`), taking
//! the stored-but-unscored runs in batches, so a run is scored exactly once and a burst of
//! uploads costs one read and one write of each test's state per batch, not per run.
//!
//! A batch gives the same states as scoring its runs one by one: states stay in memory
//! across the batch's runs, each run's breakdown is written before the next run reads it
//! (rerun pairing), and a test that would have gone inactive between two runs of the batch
//! goes inactive before its next result (as `rescore_project` does).
//!
//! Scoring also keeps the impact rollups (`store::impact`), the per-day rollups of the
//! runs (`store::window_rollups`) and of passing durations (`store::duration_days`), and
//! marks tests that have not been reported for a while `inactive` (`mark_inactive`).

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::data_versions;
use super::duration_days;
use super::impact::{self, DayCost, ImpactBatch, RerunKey};
use super::retention;
use super::task_rollups;
use super::window_rollups::{self, RollupBatch};
use crate::analysis::summary::RunRecord;
use crate::analysis::{
    self, run_level, Evidence, Outcome, Params, RunContext, Status, TestResultObs, TestState,
};
use crate::db::schema::{failure_messages, projects, results, runs, test_scores, test_states};
use crate::db::DbConnection;

const CHUNK: i64 = 2000;
/// States kept in memory while a batch is scored before they are written out.
const MAX_CACHED_STATES: usize = 50_000;
/// Runs looked at per batch, at most.
const MAX_RUNS_PER_BATCH: i64 = 500;
/// Advisory-lock class of a project's scorer (PostgreSQL); any constant unique to us.
const SCORER_LOCK_CLASS: i32 = 0x4657_5343;

/// What the scoring of one run adds up to; stored on the run for CI-quality metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RedBreakdown {
    pub red_flaky: i32,
    pub red_broken: i32,
    pub red_other: i32,
    pub flaky_retry_ms: i64,
}

type ResultRow = (i64, String, i32, i32, i64, Option<i64>);

/// The rollups scoring adds to, gathered over a batch (or a whole rescore) and written at
/// its end.
struct Rollups {
    impact: ImpactBatch,
    windows: RollupBatch,
    /// Days up to this one keep their stored passing durations and impact (a rescore
    /// after a retention purge: their results are gone).
    kept_until: Option<NaiveDate>,
}

impl Rollups {
    fn new(project_id: i64) -> Rollups {
        Rollups {
            impact: ImpactBatch::default(),
            windows: RollupBatch::new(project_id),
            kept_until: None,
        }
    }

    /// For a rescore, once the project's stored rollups are cleared (durations and impact
    /// only after `kept_until`).
    fn from_scratch(project_id: i64, kept_until: Option<NaiveDate>) -> Rollups {
        Rollups {
            windows: RollupBatch::from_scratch(project_id),
            kept_until,
            ..Rollups::new(project_id)
        }
    }

    fn write(mut self, conn: &mut DbConnection, project_id: i64) -> QueryResult<()> {
        if let Some(last_kept) = self.kept_until {
            self.impact.drop_days_until(last_kept);
        }
        self.impact.write(conn, project_id)?;
        self.windows.write(conn)
    }
}

/// Makes the caller's transaction the project's only scorer until it ends: other
/// scorers of the project, in any process, wait here. On SQLite the write transaction
/// already excludes every other writer.
pub fn lock_project(conn: &mut DbConnection, project_id: i64) -> QueryResult<()> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<diesel::sql_types::Integer, _>(SCORER_LOCK_CLASS)
            // Ids past 2^31 share a lock with a smaller one: slower, never wrong.
            .bind::<diesel::sql_types::Integer, _>(project_id as i32)
            .execute(pg)?;
    }
    Ok(())
}

/// What one scoring batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScoredBatch {
    /// The runs scored, in scoring order.
    pub run_ids: Vec<i64>,
    pub results: u64,
    /// Tests whose status the batch changed, for the webhooks' events.
    pub status_changes: Vec<StatusChange>,
}

/// A test's status before a scoring batch and after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub test_id: i64,
    pub before: Status,
    pub after: Status,
    /// When the new status began.
    pub at: NaiveDateTime,
}

/// Scores the project's oldest stored-but-unscored runs, up to about `max_results`
/// results (at least one run), in the caller's transaction, which must hold
/// `lock_project`. Runs are taken in the order their stores became visible (by id among
/// those committed) and numbered (`score_seq`) in that order, which `rescore_project`
/// replays.
pub fn score_pending(
    conn: &mut DbConnection,
    project_id: i64,
    params: &Params,
    now: NaiveDateTime,
    max_results: u64,
) -> QueryResult<ScoredBatch> {
    let pending: Vec<(RunKey, i32)> = runs::table
        .filter(runs::project_id.eq(project_id))
        .filter(runs::scored_at.is_null())
        .order(runs::id)
        .limit(MAX_RUNS_PER_BATCH)
        .select((run_key_columns(), runs::tests))
        .load(conn)?;
    let mut batch = ScoredBatch::default();
    if pending.is_empty() {
        return Ok(batch);
    }
    let (newest_scored, last_seq): (Option<NaiveDateTime>, Option<i64>) = runs::table
        .filter(runs::project_id.eq(project_id))
        .filter(runs::scored_at.is_not_null())
        .select((
            diesel::dsl::max(runs::started_at),
            diesel::dsl::max(runs::score_seq),
        ))
        .first(conn)?;
    let mut previous_at = newest_scored;
    let mut seq = last_seq.unwrap_or(0);
    let mut states = States::loaded_from(project_id);
    let mut rollups = Rollups::new(project_id);
    for (key, tests) in pending {
        if !batch.run_ids.is_empty() && batch.results + tests.max(0) as u64 > max_results {
            break;
        }
        let run_id = key.0;
        let at = key.1;
        batch.results += score_one(
            conn,
            project_id,
            key,
            previous_at,
            &mut states,
            &mut rollups,
            params,
            now,
        )?;
        seq += 1;
        diesel::update(runs::table.find(run_id))
            .set((runs::scored_at.eq(now), runs::score_seq.eq(seq)))
            .execute(conn)?;
        previous_at = Some(previous_at.map_or(at, |before| before.max(at)));
        batch.run_ids.push(run_id);
    }
    states.flush(conn, params, now)?;
    rollups.write(conn, project_id)?;
    mark_inactive(conn, project_id, params)?;
    data_versions::bump(conn, project_id)?;
    batch.status_changes = states.changes.changes();
    Ok(batch)
}

/// Scores one run of the project: advances the states of its tests, writes the run's
/// red breakdown and charges its rerun, if it is one. Returns the results read.
#[allow(clippy::too_many_arguments)]
fn score_one(
    conn: &mut DbConnection,
    project_id: i64,
    (run_id, at, branch, on_default_branch, commit, job, attempt, pipeline): RunKey,
    previous_at: Option<NaiveDateTime>,
    states: &mut States,
    rollups: &mut Rollups,
    params: &Params,
    now: NaiveDateTime,
) -> QueryResult<u64> {
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
    let mut results = 0;
    for_each_chunk(conn, run_id, |conn, chunk| {
        let mut scoring = Scoring {
            run: &run,
            params,
            breakdown: &mut breakdown,
            costs: &mut rollups.impact,
        };
        states.ensure(conn, chunk)?;
        for row in chunk {
            let state = states.get(row.0);
            // What `mark_inactive` after the runs before this one would have done.
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
        results += chunk.len() as u64;
        if states.is_full() {
            states.flush(conn, params, now)?;
        }
        Ok(())
    })?;
    let (finished_at, runner, red, stored): (NaiveDateTime, String, bool, (i32, i32, i32, i64)) =
        runs::table
            .find(run_id)
            .select((
                runs::finished_at,
                runs::runner,
                (runs::failed + runs::errors).gt(0),
                (
                    runs::red_flaky,
                    runs::red_broken,
                    runs::red_other,
                    runs::flaky_retry_ms,
                ),
            ))
            .first(conn)?;
    // A run whose results were purged (only a rescore replays one) keeps the breakdown
    // its scoring stored: replayed without its results, it would count no red test.
    let purged = results == 0 && run.tests_in_run > 0;
    if purged {
        let (red_flaky, red_broken, red_other, flaky_retry_ms) = stored;
        breakdown = RedBreakdown {
            red_flaky,
            red_broken,
            red_other,
            flaky_retry_ms,
        };
    } else {
        store_breakdown(conn, run_id, &breakdown)?;
    }
    let record = RunRecord {
        pipeline: run.pipeline.clone(),
        commit: run.commit.clone(),
        job: run.job.clone(),
        runner,
        started_at: run.at,
        finished_at,
        red,
        red_flaky: breakdown.red_flaky,
        red_broken: breakdown.red_broken,
        red_other: breakdown.red_other,
        flaky_retry_ms: breakdown.flaky_retry_ms,
    };
    rollups.windows.add_run(conn, &record, &run.branch)?;
    if rollups
        .kept_until
        .is_none_or(|last_kept| run.at.date() > last_kept)
    {
        duration_days::add_run(conn, project_id, run_id, run.at.date())?;
    }
    let rerun = RerunKey {
        run_id,
        job: run.job.clone(),
        attempt: run.attempt,
        pipeline: run.pipeline.clone(),
        commit: run.commit.clone(),
        started_at: run.at,
        finished_at,
    };
    impact::charge_rerun(conn, project_id, &rerun, &mut rollups.impact)?;
    Ok(results)
}

/// Test states being advanced: read from the database on first use (or, when replaying a
/// history from scratch, started empty), written back by `flush`.
struct States {
    project_id: i64,
    /// Whether states missing here are read from `test_scores` (not when replaying).
    from_database: bool,
    map: HashMap<i64, TestState>,
    /// Statuses before and after, of the states read from the database.
    changes: ChangeLog,
}

/// Each test's status when first read in a batch, and as last written.
#[derive(Default)]
struct ChangeLog {
    before: HashMap<i64, Status>,
    after: HashMap<i64, (Status, NaiveDateTime)>,
}

impl ChangeLog {
    fn changes(&self) -> Vec<StatusChange> {
        let mut changes: Vec<StatusChange> = self
            .after
            .iter()
            .filter_map(|(id, (after, at))| {
                let before = self.before.get(id).copied().unwrap_or_default();
                (before != *after).then_some(StatusChange {
                    test_id: *id,
                    before,
                    after: *after,
                    at: *at,
                })
            })
            .collect();
        changes.sort_by_key(|change| change.test_id);
        changes
    }
}

impl States {
    fn loaded_from(project_id: i64) -> States {
        States {
            project_id,
            from_database: true,
            map: HashMap::new(),
            changes: ChangeLog::default(),
        }
    }

    fn from_scratch(project_id: i64) -> States {
        States {
            project_id,
            from_database: false,
            map: HashMap::new(),
            changes: ChangeLog::default(),
        }
    }

    /// Makes sure the states of the chunk's tests are at hand.
    fn ensure(&mut self, conn: &mut DbConnection, chunk: &[ResultRow]) -> QueryResult<()> {
        if !self.from_database {
            return Ok(());
        }
        let mut missing: Vec<i64> = chunk
            .iter()
            .map(|row| row.0)
            .filter(|id| !self.map.contains_key(id))
            .collect();
        missing.dedup(); // sorted already; a test reported twice in one run is one state
        if missing.is_empty() {
            return Ok(());
        }
        let loaded: HashMap<i64, TestState> = load_states(conn, &missing)?.into_iter().collect();
        for id in &missing {
            // A test with no state yet starts as `New`.
            let status = loaded.get(id).map(|state| state.status).unwrap_or_default();
            self.changes.before.entry(*id).or_insert(status);
        }
        self.map.extend(loaded);
        Ok(())
    }

    fn get(&mut self, test_id: i64) -> &mut TestState {
        self.map.entry(test_id).or_default()
    }

    fn is_full(&self) -> bool {
        self.from_database && self.map.len() >= MAX_CACHED_STATES
    }

    /// Writes every state held (in test id order) and forgets them.
    fn flush(
        &mut self,
        conn: &mut DbConnection,
        params: &Params,
        now: NaiveDateTime,
    ) -> QueryResult<()> {
        let mut ids: Vec<i64> = self.map.keys().copied().collect();
        ids.sort_unstable();
        for batch in ids.chunks(CHUNK as usize) {
            let rows: Vec<ScoreRow> = batch
                .iter()
                .map(|id| {
                    let state = self.map.get_mut(id).expect("ids come from the map");
                    if self.from_database {
                        let at = state.status_changed_at.unwrap_or(now);
                        self.changes.after.insert(*id, (state.status, at));
                    }
                    score_row(*id, self.project_id, state, params, now)
                })
                .collect();
            upsert_scores(conn, &rows)?;
        }
        self.map.clear();
        Ok(())
    }
}

/// One run being scored: what each result adds up to.
struct Scoring<'a> {
    run: &'a RunContext,
    params: &'a Params,
    breakdown: &'a mut RedBreakdown,
    costs: &'a mut ImpactBatch,
}

/// Tests of the project not reported for `inactive_after_hours` before its newest run
/// become `inactive`, since the moment that period ran out; their next result ends it
/// (see `analysis::observe`). A project that pauses changes nobody: only its own newest
/// scored run counts.
pub fn mark_inactive(conn: &mut DbConnection, project_id: i64, params: &Params) -> QueryResult<()> {
    let newest: Option<NaiveDateTime> = runs::table
        .filter(runs::project_id.eq(project_id))
        .filter(runs::scored_at.is_not_null())
        .select(diesel::dsl::max(runs::started_at))
        .first(conn)?;
    let Some(newest) = newest else {
        return Ok(());
    };
    let hours = params.inactive_after_hours.clamp(0.0, 1e6);
    let cutoff = newest - chrono::Duration::milliseconds((hours * 3_600_000.0) as i64);
    let gone: Vec<(i64, NaiveDateTime, String)> = test_scores::table
        .inner_join(test_states::table.on(test_states::test_id.eq(test_scores::test_id)))
        .filter(test_scores::project_id.eq(project_id))
        .filter(test_scores::last_seen_at.le(cutoff))
        .filter(test_scores::status.ne(Status::Inactive.as_str()))
        .select((
            test_scores::test_id,
            test_scores::last_seen_at.assume_not_null(),
            test_states::state,
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
            ))
            .execute(conn)?;
        diesel::update(test_states::table.find(test_id))
            .set(test_states::state.eq(state_json(&mut state)))
            .execute(conn)?;
    }
    Ok(())
}

/// Calls `work` with the run's results in chunks of ascending test id; a test's rows
/// (a test reported twice in one run) never straddle two chunks.
fn for_each_chunk(
    conn: &mut DbConnection,
    run_id: i64,
    mut work: impl FnMut(&mut DbConnection, &[ResultRow]) -> QueryResult<()>,
) -> QueryResult<()> {
    let mut after = i64::MIN;
    loop {
        let mut chunk: Vec<ResultRow> = results::table
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
        let Some(last) = chunk.last().map(|row| row.0) else {
            return Ok(());
        };
        if chunk.len() as i64 == CHUNK && chunk[0].0 != last {
            // The last test's rows may go on past the limit: it starts the next chunk.
            chunk.retain(|row| row.0 != last);
        }
        after = chunk.last().map_or(last, |row| row.0);
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
/// replaces its scores: for new analyzer parameters, after a change of the analyzer, or of
/// the default branch. Replays the scored runs in their scoring order (`score_seq`), so a
/// rescore gives what incremental scoring gave; runs still waiting are left to the
/// scorer. A run whose results retention purged keeps what its scoring stored (its red
/// breakdown, and its day's passing durations and impact); its tests' states learn
/// nothing from it. Takes the project's scoring lock for its transaction; `progress(done, total)`
/// is called after each run.
pub fn rescore_project(
    conn: &mut DbConnection,
    project_id: i64,
    params: &Params,
    now: NaiveDateTime,
    mut progress: impl FnMut(usize, usize),
) -> QueryResult<RescoreSummary> {
    crate::db::write_transaction(conn, |conn| {
        lock_project(conn, project_id)?;
        diesel::update(projects::table.find(project_id))
            .set(projects::rescore_requested.eq(false))
            .execute(conn)?;
        let scored: Vec<RunKey> = runs::table
            .filter(runs::project_id.eq(project_id))
            .filter(runs::scored_at.is_not_null())
            .order((runs::score_seq, runs::id))
            .select(run_key_columns())
            .load(conn)?;
        let mut states = States::from_scratch(project_id);
        // Passing durations and impact come from results: the days whose results were
        // purged keep theirs.
        let kept_until = retention::newest_purged_day(conn, project_id)?;
        let mut rollups = Rollups::from_scratch(project_id, kept_until);
        let mut summary = RescoreSummary::default();
        impact::clear_after(conn, project_id, kept_until)?;
        window_rollups::clear(conn, project_id)?;
        duration_days::clear_after(conn, project_id, kept_until)?;
        task_rollups::rebuild(conn, project_id)?;
        let mut previous_at: Option<NaiveDateTime> = None;
        let total = scored.len();
        for (index, key) in scored.into_iter().enumerate() {
            let at = key.1;
            summary.results += score_one(
                conn,
                project_id,
                key,
                previous_at,
                &mut states,
                &mut rollups,
                params,
                now,
            )?;
            previous_at = Some(previous_at.map_or(at, |before| before.max(at)));
            summary.runs += 1;
            progress(index + 1, total);
        }
        rollups.write(conn, project_id)?;
        diesel::delete(test_scores::table.filter(test_scores::project_id.eq(project_id)))
            .execute(conn)?;
        diesel::delete(test_states::table.filter(test_states::project_id.eq(project_id)))
            .execute(conn)?;
        summary.tests = states.map.len() as u64;
        states.flush(conn, params, now)?;
        mark_inactive(conn, project_id, params)?;
        data_versions::bump(conn, project_id)?;
        Ok(summary)
    })
}

/// Whether the project asked its scorer for a full rescore (its default branch changed
/// while uploads named it).
pub fn rescore_requested(conn: &mut DbConnection, project_id: i64) -> QueryResult<bool> {
    projects::table
        .find(project_id)
        .select(projects::rescore_requested)
        .first(conn)
}

#[allow(clippy::type_complexity)]
fn run_key_columns() -> (
    runs::id,
    runs::started_at,
    runs::branch,
    runs::on_default_branch,
    runs::commit_sha,
    runs::job,
    runs::attempt,
    runs::pipeline,
) {
    (
        runs::id,
        runs::started_at,
        runs::branch,
        runs::on_default_branch,
        runs::commit_sha,
        runs::job,
        runs::attempt,
        runs::pipeline,
    )
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

/// One test's score row, as written.
struct ScoreRow {
    test_id: i64,
    project_id: i64,
    status: &'static str,
    score: f64,
    failure_rate: f64,
    runs_seen: i32,
    first_flaky_at: Option<NaiveDateTime>,
    last_flaky_at: Option<NaiveDateTime>,
    status_changed_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    evidence: String,
    state: String,
    last_seen_at: Option<NaiveDateTime>,
    fixed_since: Option<NaiveDateTime>,
}

fn score_row(
    test_id: i64,
    project_id: i64,
    state: &mut TestState,
    params: &Params,
    now: NaiveDateTime,
) -> ScoreRow {
    let verdict = analysis::verdict(state, params);
    ScoreRow {
        test_id,
        project_id,
        status: verdict.status.as_str(),
        score: verdict.score,
        failure_rate: verdict.failure_rate,
        runs_seen: verdict.runs_seen as i32,
        first_flaky_at: verdict.first_flaky_at,
        last_flaky_at: verdict.last_flaky_at,
        status_changed_at: verdict.status_changed_at,
        updated_at: now,
        evidence: serde_json::to_string(&verdict.evidence).unwrap_or_else(|_| "[]".into()),
        last_seen_at: state.last_seen_at,
        state: state_json(state),
        fixed_since: verdict.fixed_since,
    }
}

fn upsert_scores(conn: &mut DbConnection, rows: &[ScoreRow]) -> QueryResult<()> {
    match conn {
        DbConnection::Postgres(pg) => upsert_scores_postgres(pg, rows),
        DbConnection::Sqlite(sqlite) => {
            let values: Vec<_> = rows
                .iter()
                .map(|r| {
                    (
                        test_scores::test_id.eq(r.test_id),
                        test_scores::project_id.eq(r.project_id),
                        test_scores::status.eq(r.status),
                        test_scores::score.eq(r.score),
                        test_scores::failure_rate.eq(r.failure_rate),
                        test_scores::runs_seen.eq(r.runs_seen),
                        test_scores::first_flaky_at.eq(r.first_flaky_at),
                        test_scores::last_flaky_at.eq(r.last_flaky_at),
                        test_scores::status_changed_at.eq(r.status_changed_at),
                        test_scores::updated_at.eq(r.updated_at),
                        test_scores::evidence.eq(&r.evidence),
                        test_scores::last_seen_at.eq(r.last_seen_at),
                        test_scores::fixed_since.eq(r.fixed_since),
                    )
                })
                .collect();
            diesel::insert_into(test_scores::table)
                .values(&values)
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
                    test_scores::last_seen_at.eq(excluded(test_scores::last_seen_at)),
                    test_scores::fixed_since.eq(excluded(test_scores::fixed_since)),
                ))
                .execute(sqlite)?;
            let states: Vec<_> = rows
                .iter()
                .map(|r| {
                    (
                        test_states::test_id.eq(r.test_id),
                        test_states::project_id.eq(r.project_id),
                        test_states::state.eq(&r.state),
                    )
                })
                .collect();
            diesel::insert_into(test_states::table)
                .values(&states)
                .on_conflict(test_states::test_id)
                .do_update()
                .set(test_states::state.eq(excluded(test_states::state)))
                .execute(sqlite)?;
            Ok(())
        }
    }
}

/// `upsert_scores` on PostgreSQL: one array per column through `unnest`, so every chunk
/// runs the same prepared statements (scores, then states), not parameters a row parsed
/// anew.
fn upsert_scores_postgres(pg: &mut diesel::PgConnection, rows: &[ScoreRow]) -> QueryResult<()> {
    use diesel::sql_types::{Array, BigInt, Double, Integer, Nullable, Text, Timestamp};
    let column =
        |field: fn(&ScoreRow) -> Option<NaiveDateTime>| rows.iter().map(field).collect::<Vec<_>>();
    diesel::sql_query(
        "INSERT INTO test_scores (test_id, project_id, status, score, failure_rate, runs_seen, \
         first_flaky_at, last_flaky_at, status_changed_at, updated_at, evidence, \
         last_seen_at, fixed_since) \
         SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (test_id) DO UPDATE SET status = excluded.status, score = excluded.score, \
         failure_rate = excluded.failure_rate, runs_seen = excluded.runs_seen, \
         first_flaky_at = excluded.first_flaky_at, last_flaky_at = excluded.last_flaky_at, \
         status_changed_at = excluded.status_changed_at, updated_at = excluded.updated_at, \
         evidence = excluded.evidence, \
         last_seen_at = excluded.last_seen_at, fixed_since = excluded.fixed_since",
    )
    .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.test_id).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.project_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.status).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(rows.iter().map(|r| r.score).collect::<Vec<_>>())
    .bind::<Array<Double>, _>(rows.iter().map(|r| r.failure_rate).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(rows.iter().map(|r| r.runs_seen).collect::<Vec<_>>())
    .bind::<Array<Nullable<Timestamp>>, _>(column(|r| r.first_flaky_at))
    .bind::<Array<Nullable<Timestamp>>, _>(column(|r| r.last_flaky_at))
    .bind::<Array<Timestamp>, _>(rows.iter().map(|r| r.status_changed_at).collect::<Vec<_>>())
    .bind::<Array<Timestamp>, _>(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.evidence.as_str()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Timestamp>>, _>(column(|r| r.last_seen_at))
    .bind::<Array<Nullable<Timestamp>>, _>(column(|r| r.fixed_since))
    .execute(pg)?;
    diesel::sql_query(
        "INSERT INTO test_states (test_id, project_id, state) \
         SELECT * FROM unnest($1, $2, $3) \
         ON CONFLICT (test_id) DO UPDATE SET state = excluded.state",
    )
    .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.test_id).collect::<Vec<_>>())
    .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.project_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.state.as_str()).collect::<Vec<_>>())
    .execute(pg)?;
    Ok(())
}

/// A state as stored: without its evidence, which has a column of its own.
fn state_json(state: &mut TestState) -> String {
    let evidence = std::mem::take(&mut state.evidence);
    let json = serde_json::to_string(state).unwrap_or_else(|_| "{}".into());
    state.evidence = evidence;
    json
}

#[derive(QueryableByName)]
struct StoredState {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    test_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    state: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    evidence: String,
}

/// The stored states of `ids` (sorted), their evidence put back in. The project's
/// scoring lock keeps every other writer away, so nothing is locked row by row.
fn load_states(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<(i64, TestState)>> {
    let rows: Vec<StoredState> = match conn {
        // A join against the list reads as one index scan per id, planned once.
        DbConnection::Postgres(pg) => diesel::sql_query(
            "SELECT s.test_id, st.state, s.evidence FROM test_scores s \
             JOIN unnest($1::bigint[]) AS wanted(id) ON s.test_id = wanted.id \
             JOIN test_states st ON st.test_id = s.test_id",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(ids)
        .load(pg)?,
        DbConnection::Sqlite(sqlite) => test_scores::table
            .inner_join(test_states::table.on(test_states::test_id.eq(test_scores::test_id)))
            .filter(test_scores::test_id.eq_any(ids))
            .select((
                test_scores::test_id,
                test_states::state,
                test_scores::evidence,
            ))
            .load::<(i64, String, String)>(sqlite)?
            .into_iter()
            .map(|(test_id, state, evidence)| StoredState {
                test_id,
                state,
                evidence,
            })
            .collect(),
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            // A state written by an older analyzer that no longer reads starts afresh.
            let mut state: TestState = serde_json::from_str(&row.state).unwrap_or_default();
            if state.evidence.is_empty() {
                // Older rows kept the evidence in the state too; newer ones only here.
                state.evidence =
                    serde_json::from_str::<Vec<Evidence>>(&row.evidence).unwrap_or_default();
            }
            (row.test_id, state)
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
