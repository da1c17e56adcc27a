//! What flaky tests cost, kept per test and day as runs are scored, so lists can rank
//! flaky tests by impact over a window without scanning results:
//! - red runs a test caused alone (it was the run's only failure);
//! - runner time of job reruns after a red run whose failures were all flaky, shared
//!   between those tests;
//! - in-run retry time of the test.
//!
//! Only failures of tests that were `Flaky` when the run was scored count (the same rule as
//! the red-run breakdown of the CI metrics), so a regression costs nothing here.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::upsert::excluded;
use serde::Serialize;

use crate::db::schema::{results, runs, test_impact_days};
use crate::db::DbConnection;

/// One test's costs on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCost {
    pub failures: i32,
    pub red_runs_alone: i32,
    pub rerun_ms: i64,
    pub retry_ms: i64,
}

/// Costs gathered while a run (or a whole history) is scored, written in one go.
#[derive(Debug, Default)]
pub struct ImpactBatch {
    costs: BTreeMap<(i64, NaiveDate), DayCost>,
}

impl ImpactBatch {
    pub fn add(&mut self, test_id: i64, at: NaiveDateTime, cost: DayCost) {
        if cost == DayCost::default() {
            return;
        }
        let c = self.costs.entry((test_id, at.date())).or_default();
        c.failures += cost.failures;
        c.red_runs_alone += cost.red_runs_alone;
        c.rerun_ms += cost.rerun_ms;
        c.retry_ms += cost.retry_ms;
    }

    /// Drops the costs of days up to `last_kept`, whose stored rollups a rescore keeps.
    pub fn drop_days_until(&mut self, last_kept: NaiveDate) {
        self.costs.retain(|(_, day), _| *day > last_kept);
    }

    /// Adds the rollups to the stored ones (in test id order, so concurrent writers lock
    /// rows in one order).
    pub fn write(self, conn: &mut DbConnection, project_id: i64) -> QueryResult<()> {
        let rows: Vec<_> = self
            .costs
            .iter()
            .map(|((test_id, day), c)| {
                (
                    test_impact_days::test_id.eq(*test_id),
                    test_impact_days::project_id.eq(project_id),
                    test_impact_days::day.eq(*day),
                    test_impact_days::failures.eq(c.failures),
                    test_impact_days::red_runs_alone.eq(c.red_runs_alone),
                    test_impact_days::rerun_ms.eq(c.rerun_ms),
                    test_impact_days::retry_ms.eq(c.retry_ms),
                )
            })
            .collect();
        for chunk in rows.chunks(1000) {
            crate::per_backend!(conn, |c| diesel::insert_into(test_impact_days::table)
                .values(chunk)
                .on_conflict((test_impact_days::test_id, test_impact_days::day))
                .do_update()
                .set((
                    test_impact_days::failures
                        .eq(test_impact_days::failures + excluded(test_impact_days::failures)),
                    test_impact_days::red_runs_alone.eq(test_impact_days::red_runs_alone
                        + excluded(test_impact_days::red_runs_alone)),
                    test_impact_days::rerun_ms
                        .eq(test_impact_days::rerun_ms + excluded(test_impact_days::rerun_ms)),
                    test_impact_days::retry_ms
                        .eq(test_impact_days::retry_ms + excluded(test_impact_days::retry_ms)),
                ))
                .execute(c))?;
        }
        Ok(())
    }
}

/// A run as rerun pairing sees it.
#[derive(Debug, Clone)]
pub struct RerunKey {
    pub run_id: i64,
    pub job: String,
    pub attempt: i32,
    pub pipeline: String,
    pub commit: String,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
}

/// If `run` reruns an earlier attempt of its job that was red only because of flaky tests,
/// charges its runner time to those tests. Attempts pair by pipeline, or by commit when the
/// CI step sent no pipeline (as `analysis::summary` pairs attempts).
pub fn charge_rerun(
    conn: &mut DbConnection,
    project_id: i64,
    run: &RerunKey,
    batch: &mut ImpactBatch,
) -> QueryResult<()> {
    let mut query = runs::table
        .filter(runs::project_id.eq(project_id))
        .filter(runs::job.eq(run.job.clone()))
        .filter(runs::id.ne(run.run_id))
        .filter(runs::started_at.le(run.started_at))
        .into_boxed();
    query = if run.pipeline.is_empty() {
        query
            .filter(runs::commit_sha.eq(run.commit.clone()))
            .filter(runs::pipeline.eq(""))
    } else {
        query.filter(runs::pipeline.eq(run.pipeline.clone()))
    };
    let previous: Option<(i64, i32, i32, i32, i32)> = query
        .filter(runs::attempt.le(run.attempt))
        .order((runs::started_at.desc(), runs::id.desc()))
        .select((
            runs::id,
            runs::red_flaky,
            runs::red_broken,
            runs::red_other,
            runs::attempt,
        ))
        .first(conn)
        .optional()?;
    let Some((previous_id, flaky, broken, other, attempt)) = previous else {
        return Ok(());
    };
    let paired = attempt < run.attempt || run.pipeline.is_empty();
    if !paired || flaky == 0 || broken > 0 || other > 0 {
        return Ok(());
    }
    let failed: Vec<i64> = results::table
        .filter(results::run_id.eq(previous_id))
        .filter(results::outcome.eq_any(["failed", "error"]))
        .select(results::test_id)
        .load(conn)?;
    let rerun_ms = (run.finished_at - run.started_at).num_milliseconds().max(0);
    if failed.is_empty() || rerun_ms == 0 {
        return Ok(());
    }
    let share = rerun_ms / failed.len() as i64;
    for test_id in failed {
        let cost = DayCost {
            rerun_ms: share,
            ..DayCost::default()
        };
        batch.add(test_id, run.started_at, cost);
    }
    Ok(())
}

/// A test's costs summed over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Impact {
    /// Failures while it was flaky.
    pub flaky_failures: i64,
    /// Red runs it was the only failure of.
    pub red_runs: i64,
    /// Runner minutes of job reruns after runs it failed (shared with the other failures).
    pub rerun_minutes: f64,
    /// Minutes of its own in-run retries.
    pub retry_minutes: f64,
}

impl Impact {
    /// Minutes wasted in all.
    pub fn minutes(&self) -> f64 {
        self.rerun_minutes + self.retry_minutes
    }

    /// Ranking order: red runs caused first (each cost someone a rerun and a look), then
    /// minutes wasted, then failures.
    pub fn cmp_desc(a: &Impact, b: &Impact) -> std::cmp::Ordering {
        b.red_runs
            .cmp(&a.red_runs)
            .then(b.minutes().total_cmp(&a.minutes()))
            .then(b.flaky_failures.cmp(&a.flaky_failures))
    }
}

/// Impact per test over the days from `since` (inclusive) to `until` (exclusive; none: no
/// end), for the tests that have any.
pub fn over_window(
    conn: &mut DbConnection,
    project_id: i64,
    since: NaiveDate,
    until: Option<NaiveDate>,
) -> QueryResult<HashMap<i64, Impact>> {
    let mut query = test_impact_days::table
        .filter(test_impact_days::project_id.eq(project_id))
        .filter(test_impact_days::day.ge(since))
        .into_boxed();
    if let Some(until) = until {
        query = query.filter(test_impact_days::day.lt(until));
    }
    let rows: Vec<(i64, i32, i32, i64, i64)> = query
        .select((
            test_impact_days::test_id,
            test_impact_days::failures,
            test_impact_days::red_runs_alone,
            test_impact_days::rerun_ms,
            test_impact_days::retry_ms,
        ))
        .load(conn)?;
    let mut impacts: HashMap<i64, Impact> = HashMap::new();
    for (test_id, failures, red, rerun_ms, retry_ms) in rows {
        let i = impacts.entry(test_id).or_default();
        i.flaky_failures += i64::from(failures);
        i.red_runs += i64::from(red);
        i.rerun_minutes += rerun_ms as f64 / 60_000.0;
        i.retry_minutes += retry_ms as f64 / 60_000.0;
    }
    Ok(impacts)
}

/// Forgets a project's rollups after `kept_until` (all for `None`), before it is scored
/// again from scratch. The days kept are those whose results were purged.
pub fn clear_after(
    conn: &mut DbConnection,
    project_id: i64,
    kept_until: Option<NaiveDate>,
) -> QueryResult<()> {
    let days = test_impact_days::table.filter(test_impact_days::project_id.eq(project_id));
    match kept_until {
        Some(last_kept) => diesel::delete(days.filter(test_impact_days::day.gt(last_kept)))
            .execute(conn)
            .map(drop),
        None => diesel::delete(days).execute(conn).map(drop),
    }
}
