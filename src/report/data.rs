//! The weekly report as one plain, serialisable struct, loaded once; every format is a pure
//! function of it (`render`). Its headline figures are the metrics API's for the period.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::window::Period;
use crate::analysis::metrics::{self, Spread};
use crate::analysis::Status;
use crate::codeowners::CodeOwners;
use crate::db::schema::{test_scores, tests};
use crate::db::DbConnection;
use crate::store::ci_metrics::{self, Window};
use crate::store::duration_days::{self, MeanDurations};
use crate::store::impact::{self, Impact};
use crate::store::owners;
use crate::store::projects::Project;
use crate::tasks::model::NaiveDateTimeUtc;

/// The JSON schema's version (README, "Weekly report").
pub const SCHEMA: u32 = 1;
/// Rows per list.
const TOP: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct WeeklyReport {
    pub schema: u32,
    pub project: String,
    pub title: String,
    pub period: Period,
    pub previous: Period,
    pub generated_at: NaiveDateTimeUtc,
    /// Links go below this (the dashboard's base URL); empty: relative links.
    pub dashboard_url: String,
    pub currency: String,
    pub headline: Figures,
    pub previous_headline: Figures,
    /// Tests that became flaky in the period and still are.
    pub newly_flaky: Vec<TestRow>,
    /// Tests whose flakiness was taken as fixed in the period.
    pub fixed: Vec<TestRow>,
    /// Tests broken now.
    pub broken: Vec<TestRow>,
    /// The flaky tests that cost the most in the period.
    pub top_flaky: Vec<TestRow>,
    /// Longest mean duration of a passing run in the period.
    pub slowest: Vec<DurationRow>,
    /// Largest growth of that mean against the previous period.
    pub duration_regressions: Vec<DurationRow>,
}

/// The headline figures of one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Figures {
    pub runs: usize,
    pub red_runs: usize,
    pub false_alarms: usize,
    pub false_alarm_share: f64,
    pub broken_share: f64,
    pub flaky_failures_per_run: f64,
    pub pipeline_minutes_p50: Option<f64>,
    pub pipeline_minutes_p95: Option<f64>,
    pub minutes_to_first_red_p50: Option<f64>,
    pub cost_minutes: f64,
    pub cost_money: f64,
    pub reruns_after_flaky_minutes: f64,
    pub flaky_retry_minutes: f64,
    pub wasted_money: f64,
    pub queue_ms_p95: Option<f64>,
    pub store_ms_p95: Option<f64>,
    pub scoring_ms_p95: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestRow {
    pub test_id: i64,
    pub classname: String,
    pub name: String,
    pub status: String,
    pub since: NaiveDateTimeUtc,
    pub owner: Option<String>,
    pub score: f64,
    pub failure_rate: f64,
    pub impact: Impact,
    /// Minutes wasted priced at the project's default runner rate.
    pub wasted_money: f64,
    pub link: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DurationRow {
    pub test_id: i64,
    pub classname: String,
    pub name: String,
    pub owner: Option<String>,
    pub mean_ms: i64,
    pub previous_mean_ms: Option<i64>,
    pub runs: i64,
    pub link: String,
}

/// Loads the report of `project` for `period`.
pub fn load(
    conn: &mut DbConnection,
    project: &Project,
    period: &Period,
    dashboard_url: &str,
    now: NaiveDateTime,
) -> QueryResult<WeeklyReport> {
    let previous = period.previous();
    let (rates, currency) = ci_metrics::rate_table(conn, project.id)?;
    let per_minute = rates.default_micros as f64 / 1e6;
    let headline = figures(conn, project.id, period, &rates)?;
    let previous_headline = figures(conn, project.id, &previous, &rates)?;
    let owners = owners::load(conn, project.id)?;
    let impacts = impact::over_window(
        conn,
        project.id,
        period.since.0.date(),
        Some(period.until.0.date()),
    )?;
    let link = |id: i64| {
        format!(
            "{}/projects/{}/tests/{id}",
            dashboard_url.trim_end_matches('/'),
            project.name
        )
    };
    let context = RowContext {
        owners: &owners,
        impacts: &impacts,
        per_minute,
        link: &link,
    };
    let in_period = |since: NaiveDateTime| period.since.0 <= since && since < period.until.0;
    let scored = scored_tests(conn, project.id)?;
    let mut newly_flaky: Vec<TestRow> = scored
        .iter()
        .filter(|t| t.status == Status::Flaky.as_str() && in_period(t.since))
        .map(|t| context.row(t))
        .collect();
    let mut fixed: Vec<TestRow> = scored
        .iter()
        .filter(|t| t.fixed && t.status != Status::Flaky.as_str() && in_period(t.since))
        .map(|t| context.row(t))
        .collect();
    let mut broken: Vec<TestRow> = scored
        .iter()
        .filter(|t| t.status == Status::Broken.as_str())
        .map(|t| context.row(t))
        .collect();
    let mut top_flaky: Vec<TestRow> = scored
        .iter()
        .filter(|t| impacts.get(&t.id).is_some_and(|i| i.flaky_failures > 0))
        .map(|t| context.row(t))
        .collect();
    top_flaky
        .sort_by(|a, b| Impact::cmp_desc(&a.impact, &b.impact).then(a.test_id.cmp(&b.test_id)));
    top_flaky.truncate(TOP);
    for list in [&mut newly_flaky, &mut fixed, &mut broken] {
        list.sort_by(|a, b| a.since.cmp(&b.since).then(a.test_id.cmp(&b.test_id)));
    }
    let (slowest, duration_regressions) =
        durations(conn, project.id, period, &previous, &scored, &owners, &link)?;
    Ok(WeeklyReport {
        schema: SCHEMA,
        project: project.name.clone(),
        title: project.title().to_owned(),
        period: period.clone(),
        previous,
        generated_at: NaiveDateTimeUtc(now),
        dashboard_url: dashboard_url.trim_end_matches('/').to_owned(),
        currency,
        headline,
        previous_headline,
        newly_flaky,
        fixed,
        broken,
        top_flaky,
        slowest,
        duration_regressions,
    })
}

/// The metrics API's figures for a period (same rollups, same functions).
fn figures(
    conn: &mut DbConnection,
    project_id: i64,
    period: &Period,
    rates: &metrics::RateTable,
) -> QueryResult<Figures> {
    let window = Window {
        since: Some(period.since.0),
        until: Some(period.until.0),
        ..Window::default()
    };
    let summary = ci_metrics::summary(conn, project_id, &window)?;
    let timings = ci_metrics::task_timings(conn, project_id, &window)?;
    let accuracy = metrics::accuracy(&summary);
    let promptness = metrics::promptness(&summary);
    let cost = metrics::cost(&summary, rates);
    let money = |micros: i64| micros as f64 / 1e6;
    Ok(Figures {
        runs: accuracy.runs,
        red_runs: accuracy.red_runs,
        false_alarms: accuracy.red_flaky_only,
        false_alarm_share: accuracy.false_alarm_share,
        broken_share: accuracy.broken_share,
        flaky_failures_per_run: accuracy.flaky_failures_per_run,
        pipeline_minutes_p50: promptness.per_pipeline.p50,
        pipeline_minutes_p95: promptness.per_pipeline.p95,
        minutes_to_first_red_p50: promptness.time_to_first_red.p50,
        cost_minutes: cost.total.minutes,
        cost_money: money(cost.total.money_micros),
        reruns_after_flaky_minutes: cost.reruns_after_flaky.minutes,
        flaky_retry_minutes: cost.flaky_retries.minutes,
        wasted_money: money(cost.reruns_after_flaky.money_micros + cost.flaky_retries.money_micros),
        queue_ms_p95: Spread::ms_of(&timings.queue).p95,
        store_ms_p95: Spread::ms_of(&timings.store).p95,
        scoring_ms_p95: Spread::ms_of(&timings.scoring).p95,
    })
}

/// A scored test as the lists need it.
struct Scored {
    id: i64,
    classname: String,
    name: String,
    file: Option<String>,
    status: String,
    since: NaiveDateTime,
    fixed: bool,
    score: f64,
    failure_rate: f64,
}

type ScoredRow = (
    (i64, String, String, Option<String>),
    (String, NaiveDateTime, Option<NaiveDateTime>, f64, f64),
);

fn scored_tests(conn: &mut DbConnection, project_id: i64) -> QueryResult<Vec<Scored>> {
    let rows: Vec<ScoredRow> = tests::table
        .inner_join(test_scores::table)
        .filter(tests::project_id.eq(project_id))
        .filter(test_scores::status.eq_any([
            Status::Flaky.as_str(),
            Status::Broken.as_str(),
            Status::Healthy.as_str(),
        ]))
        .select((
            (tests::id, tests::classname, tests::name, tests::file),
            (
                test_scores::status,
                test_scores::status_changed_at,
                test_scores::fixed_since,
                test_scores::score,
                test_scores::failure_rate,
            ),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |((id, classname, name, file), (status, since, fixed, score, failure_rate))| Scored {
                id,
                classname,
                name,
                file,
                status,
                since,
                fixed: fixed.is_some(),
                score,
                failure_rate,
            },
        )
        .collect())
}

struct RowContext<'a> {
    owners: &'a CodeOwners,
    impacts: &'a HashMap<i64, Impact>,
    per_minute: f64,
    link: &'a dyn Fn(i64) -> String,
}

impl RowContext<'_> {
    fn row(&self, t: &Scored) -> TestRow {
        let impact = self.impacts.get(&t.id).copied().unwrap_or_default();
        TestRow {
            test_id: t.id,
            classname: t.classname.clone(),
            name: t.name.clone(),
            status: t.status.clone(),
            since: NaiveDateTimeUtc(t.since),
            owner: owners::owner_of(self.owners, t.file.as_deref()),
            score: t.score,
            failure_rate: t.failure_rate,
            impact,
            wasted_money: impact.minutes() * self.per_minute,
            link: (self.link)(t.id),
        }
    }
}

/// Each test's passing results in a period, (total ms, results): from the per-day rollups
/// when the period is whole days (weeks are), else from its results.
fn mean_durations(
    conn: &mut DbConnection,
    project_id: i64,
    period: &Period,
) -> QueryResult<MeanDurations> {
    let (since, until) = (period.since.0, period.until.0);
    let midnight = |at: NaiveDateTime| at.time() == chrono::NaiveTime::MIN;
    if midnight(since) && midnight(until) && since < until {
        let last = until.date() - chrono::Duration::days(1);
        duration_days::from_days(conn, project_id, since.date(), last)
    } else {
        duration_days::from_results(conn, project_id, since, until)
    }
}

fn durations(
    conn: &mut DbConnection,
    project_id: i64,
    period: &Period,
    previous: &Period,
    scored: &[Scored],
    owners: &CodeOwners,
    link: &dyn Fn(i64) -> String,
) -> QueryResult<(Vec<DurationRow>, Vec<DurationRow>)> {
    let now = mean_durations(conn, project_id, period)?;
    let before = mean_durations(conn, project_id, previous)?;
    let names: HashMap<i64, &Scored> = scored.iter().map(|t| (t.id, t)).collect();
    let mut rows: Vec<DurationRow> = now
        .iter()
        .filter_map(|(id, (total, count))| {
            let t = names.get(id)?;
            Some(DurationRow {
                test_id: *id,
                classname: t.classname.clone(),
                name: t.name.clone(),
                owner: owners::owner_of(owners, t.file.as_deref()),
                mean_ms: total / count.max(&1),
                previous_mean_ms: before.get(id).map(|(total, count)| total / count.max(&1)),
                runs: *count,
                link: link(*id),
            })
        })
        .collect();
    rows.sort_by(|a, b| b.mean_ms.cmp(&a.mean_ms).then(a.test_id.cmp(&b.test_id)));
    let slowest: Vec<DurationRow> = rows.iter().take(TOP).cloned().collect();
    let growth = |r: &DurationRow| r.previous_mean_ms.map_or(0, |p| r.mean_ms - p);
    let mut regressions: Vec<DurationRow> = rows.into_iter().filter(|r| growth(r) > 0).collect();
    regressions.sort_by(|a, b| growth(b).cmp(&growth(a)).then(a.test_id.cmp(&b.test_id)));
    regressions.truncate(TOP);
    Ok((slowest, regressions))
}
