//! Reading tests with their scores: the flaky list, one test's history and failure modes.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::impact::{self, Impact};
use super::test_search;
use crate::analysis::Evidence;
use crate::db::schema::{
    failure_messages, failure_signatures, project_test_counts, results, runs, test_scores, tests,
};
use crate::db::DbConnection;
use crate::tasks::model::NaiveDateTimeUtc;

/// Days of data (back from the project's newest run) that impact is summed over.
pub const IMPACT_WINDOW_DAYS: i64 = 30;

/// How the list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestSort {
    /// Costliest first (`Impact::cmp_desc`), then by score.
    Impact,
    /// Most likely flaky first.
    Score,
    FailureRate,
    /// Most recent flaky failure first.
    LastFlaky,
    Name,
}

#[derive(Debug, Clone)]
pub struct TestFilter {
    pub project_id: i64,
    pub status: Option<String>,
    /// Only tests that ran in this job / on this branch (in its newest `FILTER_RUNS` runs).
    pub job: Option<String>,
    pub branch: Option<String>,
    /// Case-insensitive substring of classname or name, taken literally (`_` and `%` too).
    pub search: Option<String>,
    pub sort: TestSort,
    pub limit: i64,
    /// Only tests this owner (as CODEOWNERS names it, e.g. `@acme/cart`) owns.
    pub owner: Option<String>,
    /// Tests to pass over before the first one returned (the dashboard's pages).
    pub offset: i64,
}

/// Most tests read to find `limit` of one owner: owners come from CODEOWNERS, not SQL.
const OWNER_SCAN: i64 = 50_000;
/// Newest runs of a job (or branch) whose tests a job (branch) filter keeps.
const FILTER_RUNS: i64 = 20;

#[derive(Debug, Clone, Serialize)]
pub struct TestSummary {
    pub id: i64,
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
    pub status: String,
    pub score: f64,
    pub failure_rate: f64,
    pub runs_seen: i32,
    pub first_flaky_at: Option<NaiveDateTimeUtc>,
    pub last_flaky_at: Option<NaiveDateTimeUtc>,
    /// When the current status began.
    pub status_changed_at: NaiveDateTimeUtc,
    /// Set when a flaky spell was taken as fixed: the first clean run since.
    pub fixed_since: Option<NaiveDateTimeUtc>,
    /// What its flaky failures cost over the impact window (zero when none).
    pub impact: Impact,
    /// Its owners by the project's CODEOWNERS file and its file path, when both are known.
    pub owner: Option<String>,
    /// The quarantine in force, if any.
    pub quarantine: Option<super::quarantines::Quarantine>,
    /// The analyzer's reasons, one per kind, newest first, with the runs they point at.
    pub evidence: Vec<Evidence>,
}

type SummaryRow = (
    (i64, String, String, String, Option<String>),
    (
        String,
        f64,
        f64,
        i32,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        NaiveDateTime,
        Option<NaiveDateTime>,
        String,
    ),
);

fn to_summary(((id, suite, classname, name, file), score): SummaryRow) -> TestSummary {
    let (
        status,
        score,
        failure_rate,
        runs_seen,
        first_flaky_at,
        last_flaky_at,
        changed,
        fixed_since,
        evidence,
    ) = score;
    TestSummary {
        id,
        suite,
        classname,
        name,
        file,
        status,
        score,
        failure_rate,
        runs_seen,
        first_flaky_at: first_flaky_at.map(NaiveDateTimeUtc),
        last_flaky_at: last_flaky_at.map(NaiveDateTimeUtc),
        status_changed_at: NaiveDateTimeUtc(changed),
        fixed_since: fixed_since.map(NaiveDateTimeUtc),
        impact: Impact::default(),
        owner: None,
        quarantine: None,
        evidence: serde_json::from_str(&evidence).unwrap_or_default(),
    }
}

/// The first day of the impact window: `IMPACT_WINDOW_DAYS` back from the project's newest
/// run (data time, so a quiet project still shows what its flaky tests cost).
pub fn impact_since(conn: &mut DbConnection, project_id: i64) -> QueryResult<chrono::NaiveDate> {
    let newest: Option<NaiveDateTime> = runs::table
        .filter(runs::project_id.eq(project_id))
        .select(diesel::dsl::max(runs::started_at))
        .first(conn)?;
    let newest = newest.unwrap_or_default().date();
    Ok(newest - chrono::Duration::days(IMPACT_WINDOW_DAYS - 1))
}

/// What a summary shows beside its score: owners and quarantines, read once per list.
struct Context {
    owners: crate::codeowners::CodeOwners,
    quarantined: Vec<super::quarantines::Quarantine>,
}

impl Context {
    fn load(conn: &mut DbConnection, project_id: i64) -> QueryResult<Context> {
        let now = chrono::Utc::now().naive_utc();
        Ok(Context {
            owners: super::owners::load(conn, project_id)?,
            quarantined: super::quarantines::active(conn, project_id, now)?,
        })
    }

    fn fill(&self, summary: TestSummary) -> TestSummary {
        TestSummary {
            owner: super::owners::owner_of(&self.owners, summary.file.as_deref()),
            quarantine: self
                .quarantined
                .iter()
                .find(|q| q.test_id == summary.id)
                .cloned(),
            ..summary
        }
    }
}

/// A test's full name as pages show it, `class::name`, lowered: what a search matches,
/// so a name copied from a page finds its test. Written as the trigram indexes of the
/// `tests_name_search` migration hold it: PostgreSQL uses an index only for the same
/// expression, so the separator is written out, not bound.
fn full_name() -> diesel::expression::SqlLiteral<diesel::sql_types::Text> {
    diesel::dsl::sql("lower(tests.classname || '::' || tests.name)")
}

/// A LIKE pattern matching `text` anywhere, every character literally (`\` escapes).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

type SummaryQuery<'a> = diesel::dsl::IntoBoxed<
    'a,
    diesel::dsl::Select<
        diesel::dsl::Filter<
            diesel::dsl::InnerJoin<tests::table, test_scores::table>,
            diesel::dsl::Eq<test_scores::project_id, i64>,
        >,
        SummaryColumns,
    >,
    crate::db::MultiBackend,
>;

type SummaryColumns = (
    (
        tests::id,
        tests::suite,
        tests::classname,
        tests::name,
        tests::file,
    ),
    (
        test_scores::status,
        test_scores::score,
        test_scores::failure_rate,
        test_scores::runs_seen,
        test_scores::first_flaky_at,
        test_scores::last_flaky_at,
        test_scores::status_changed_at,
        test_scores::fixed_since,
        test_scores::evidence,
    ),
);

/// The columns a `TestSummary` is read from.
fn summary_columns() -> SummaryColumns {
    (
        (
            tests::id,
            tests::suite,
            tests::classname,
            tests::name,
            tests::file,
        ),
        (
            test_scores::status,
            test_scores::score,
            test_scores::failure_rate,
            test_scores::runs_seen,
            test_scores::first_flaky_at,
            test_scores::last_flaky_at,
            test_scores::status_changed_at,
            test_scores::fixed_since,
            test_scores::evidence,
        ),
    )
}

/// What a list reads besides its filter: the runs a job or branch filter keeps tests of
/// (see `filter_runs`), and the tests a name search can match (`test_search`).
struct Narrowed {
    ran_in: Option<Vec<i64>>,
    named: Option<Vec<i64>>,
}

impl Narrowed {
    fn read(conn: &mut DbConnection, filter: &TestFilter) -> QueryResult<Narrowed> {
        let named = match &filter.search {
            Some(text) => {
                let status = filter.status.as_deref();
                test_search::candidates(conn, filter.project_id, text, status)?
            }
            None => None,
        };
        Ok(Narrowed {
            ran_in: filter_runs(conn, filter)?,
            named,
        })
    }
}

/// The project's scored tests with the filter's conditions (not its order or limit).
fn filtered(filter: &TestFilter, narrowed: &Narrowed) -> SummaryQuery<'static> {
    let query = tests::table
        .inner_join(test_scores::table)
        .select(summary_columns())
        .into_boxed();
    let mut query = match &narrowed.named {
        // The project's own tests, read by id. The project is checked again in a form no
        // index serves (`+ 0`): as a plain condition, SQLite would walk the project's
        // million scores in order by its index instead of reading these few.
        Some(named) => query
            .filter(test_scores::test_id.eq_any(named.clone()))
            .filter((test_scores::project_id + 0).eq(filter.project_id)),
        // The project is taken from the scores, so the list reads them by index in its
        // order.
        None => query.filter(test_scores::project_id.eq(filter.project_id)),
    };
    if let Some(status) = &filter.status {
        query = query.filter(test_scores::status.eq(status.clone()));
    }
    if let Some(search) = &filter.search {
        let pattern = contains_pattern(search);
        query = query.filter(full_name().like(pattern).escape('\\'));
    }
    match &narrowed.ran_in {
        Some(runs) => query.filter(
            tests::id.eq_any(
                results::table
                    .filter(results::run_id.eq_any(runs.to_vec()))
                    .select(results::test_id),
            ),
        ),
        None => query,
    }
}

/// Runs a job or branch filter reads: the newest `FILTER_RUNS` of that job (on that
/// branch), so the filter keeps the tests that job runs now, at a cost bounded by a few
/// runs' results however long the history. `None` without such a filter.
fn filter_runs(conn: &mut DbConnection, filter: &TestFilter) -> QueryResult<Option<Vec<i64>>> {
    if filter.job.is_none() && filter.branch.is_none() {
        return Ok(None);
    }
    let mut query = runs::table
        .filter(runs::project_id.eq(filter.project_id))
        .select(runs::id)
        .order((runs::started_at.desc(), runs::id.desc()))
        .limit(FILTER_RUNS)
        .into_boxed();
    if let Some(job) = &filter.job {
        query = query.filter(runs::job.eq(job.clone()));
    }
    if let Some(branch) = &filter.branch {
        query = query.filter(runs::branch.eq(branch.clone()));
    }
    query.load(conn).map(Some)
}

/// Scored tests of a project matching `filter`, each with its impact over the window.
pub fn list(conn: &mut DbConnection, filter: &TestFilter) -> QueryResult<Vec<TestSummary>> {
    let since = impact_since(conn, filter.project_id)?;
    let impacts = impact::over_window(conn, filter.project_id, since, None)?;
    let context = Context::load(conn, filter.project_id)?;
    let narrowed = Narrowed::read(conn, filter)?;
    let with_impact = |summary: TestSummary| {
        context.fill(TestSummary {
            impact: impacts.get(&summary.id).copied().unwrap_or_default(),
            ..summary
        })
    };
    // With an owner filter, read wider and keep that owner's tests.
    let sql_limit = if filter.owner.is_some() {
        OWNER_SCAN
    } else {
        filter.limit
    };
    let owned = |summary: &TestSummary| match &filter.owner {
        None => true,
        Some(owner) => summary
            .owner
            .as_deref()
            .is_some_and(|owners| owners.split_whitespace().any(|o| o == owner)),
    };
    // Tests to pass over, split between SQL's OFFSET and memory: an owner is picked in
    // memory, so then every row is read from the start and the skipping is done there.
    let offsets = |offset: i64| -> (i64, usize) {
        if filter.owner.is_some() {
            (0, offset as usize)
        } else {
            (offset, 0)
        }
    };
    let mut tests: Vec<TestSummary>;
    if filter.sort == TestSort::Impact {
        // The tests that cost something, ranked in memory (there are few), then the rest by
        // score.
        let costly: Vec<i64> = impacts.keys().copied().collect();
        tests = filtered(filter, &narrowed)
            .filter(tests::id.eq_any(costly.clone()))
            .load::<SummaryRow>(conn)?
            .into_iter()
            .map(|row| with_impact(to_summary(row)))
            .filter(|t| owned(t))
            .collect();
        tests.sort_by(|a, b| {
            Impact::cmp_desc(&a.impact, &b.impact)
                .then(b.score.total_cmp(&a.score))
                .then(a.id.cmp(&b.id))
        });
        let offset = filter.offset.max(0);
        let ranked = tests.len() as i64;
        tests = tests
            .into_iter()
            .skip(offset as usize)
            .take(filter.limit.max(0) as usize)
            .collect();
        let rest = filter.limit - tests.len() as i64;
        if rest > 0 {
            let (sql_offset, skip) = offsets((offset - ranked).max(0));
            let more = filtered(filter, &narrowed)
                .filter(tests::id.ne_all(costly))
                .order((test_scores::score.desc(), test_scores::test_id))
                .offset(sql_offset)
                .limit(if filter.owner.is_some() {
                    sql_limit
                } else {
                    rest
                })
                .load::<SummaryRow>(conn)?;
            let more = more.into_iter().map(|row| with_impact(to_summary(row)));
            tests.extend(more.filter(|t| owned(t)).skip(skip).take(rest as usize));
        }
        return Ok(tests);
    }
    let (sql_offset, skip) = offsets(filter.offset.max(0));
    let query = filtered(filter, &narrowed)
        .offset(sql_offset)
        .limit(sql_limit);
    let query = match filter.sort {
        TestSort::Impact | TestSort::Score => {
            query.order((test_scores::score.desc(), test_scores::test_id))
        }
        TestSort::FailureRate => {
            query.order((test_scores::failure_rate.desc(), test_scores::test_id))
        }
        // Never-flaky tests last on both backends (PostgreSQL sorts NULL first when
        // descending, SQLite last).
        TestSort::LastFlaky => query.order((
            test_scores::last_flaky_at.is_null(),
            test_scores::last_flaky_at.desc(),
            tests::id,
        )),
        TestSort::Name => query.order((tests::classname, tests::name, tests::id)),
    };
    tests = query
        .load::<SummaryRow>(conn)?
        .into_iter()
        .map(|row| with_impact(to_summary(row)))
        .filter(|t| owned(t))
        .skip(skip)
        .take(filter.limit.max(0) as usize)
        .collect();
    Ok(tests)
}

/// One result of the test, with the run it belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub run_id: i64,
    pub started_at: NaiveDateTimeUtc,
    pub branch: String,
    pub commit: String,
    pub job: String,
    pub attempt: i32,
    pub pipeline: String,
    pub build_url: String,
    pub outcome: String,
    pub attempts: i32,
    pub failed_attempts: i32,
    pub duration_ms: Option<i64>,
    pub failure: Option<FailureText>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureText {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub signature_id: i64,
}

/// A distinct way the test fails: one normalised signature.
#[derive(Debug, Clone, Serialize)]
pub struct FailureMode {
    pub signature_id: i64,
    pub signature: String,
    pub occurrences: i64,
    /// Share of occurrences after which the test passed on an in-run retry.
    pub flaky_share: f64,
    /// Start of the first and the last run it happened in.
    pub first_seen: NaiveDateTimeUtc,
    pub last_seen: NaiveDateTimeUtc,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestDetail {
    #[serde(flatten)]
    pub test: TestSummary,
    pub failure_modes: Vec<FailureMode>,
    /// Newest first.
    pub history: Vec<HistoryEntry>,
}

type HistoryRow = (
    (
        i64,
        NaiveDateTime,
        String,
        String,
        String,
        i32,
        String,
        String,
    ),
    (String, i32, i32, Option<i64>),
    Option<(String, String, i64)>,
);

/// One test of the project with its newest `history` results and its failure modes.
pub fn detail(
    conn: &mut DbConnection,
    project_id: i64,
    test_id: i64,
    history: i64,
) -> QueryResult<Option<TestDetail>> {
    let Some(row) = tests::table
        .inner_join(test_scores::table)
        .filter(tests::project_id.eq(project_id))
        .filter(tests::id.eq(test_id))
        .select(summary_columns())
        .first::<SummaryRow>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let rows: Vec<HistoryRow> = results::table
        .inner_join(runs::table)
        .left_join(failure_messages::table)
        .filter(results::test_id.eq(test_id))
        .order((runs::started_at.desc(), runs::id.desc()))
        .limit(history)
        .select((
            (
                runs::id,
                runs::started_at,
                runs::branch,
                runs::commit_sha,
                runs::job,
                runs::attempt,
                runs::pipeline,
                runs::build_url,
            ),
            (
                results::outcome,
                results::attempts,
                results::failed_attempts,
                results::duration_ms,
            ),
            (
                failure_messages::kind,
                failure_messages::message,
                failure_messages::signature_id,
            )
                .nullable(),
        ))
        .load(conn)?;
    let history = rows
        .into_iter()
        .map(|(run, result, failure)| HistoryEntry {
            run_id: run.0,
            started_at: NaiveDateTimeUtc(run.1),
            branch: run.2,
            commit: run.3,
            job: run.4,
            attempt: run.5,
            pipeline: run.6,
            build_url: run.7,
            outcome: result.0,
            attempts: result.1,
            failed_attempts: result.2,
            duration_ms: result.3,
            failure: failure.map(|(kind, message, signature_id)| FailureText {
                kind,
                message,
                signature_id,
            }),
        })
        .collect();
    let since = impact_since(conn, project_id)?;
    let impact = impact::over_window(conn, project_id, since, None)?
        .remove(&test_id)
        .unwrap_or_default();
    let context = Context::load(conn, project_id)?;
    Ok(Some(TestDetail {
        test: context.fill(TestSummary {
            impact,
            ..to_summary(row)
        }),
        failure_modes: failure_modes(conn, test_id)?,
        history,
    }))
}

fn failure_modes(conn: &mut DbConnection, test_id: i64) -> QueryResult<Vec<FailureMode>> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    #[derive(QueryableByName)]
    struct Failed {
        #[diesel(sql_type = BigInt)]
        signature_id: i64,
        #[diesel(sql_type = Text)]
        outcome: String,
        #[diesel(sql_type = Timestamp)]
        at: NaiveDateTime,
    }
    // The test's failed results by index, each one's signature and run looked up by key.
    // As joins, PostgreSQL's generic plan (which expects thousands of results per test)
    // read every failure message of the project into a hash table on every call.
    let failed: Vec<Failed> = diesel::sql_query(
        "SELECT (SELECT m.signature_id FROM failure_messages m WHERE m.id = r.failure_message_id) \
         AS signature_id, r.outcome AS outcome, \
         (SELECT u.started_at FROM runs u WHERE u.id = r.run_id) AS at \
         FROM results r WHERE r.test_id = $1 AND r.failure_message_id IS NOT NULL",
    )
    .bind::<BigInt, _>(test_id)
    .load(conn)?;
    let mut modes: Vec<FailureMode> = Vec::new();
    for Failed {
        signature_id,
        outcome,
        at,
    } in failed
    {
        let index = match modes.iter().position(|m| m.signature_id == signature_id) {
            Some(index) => index,
            None => {
                modes.push(FailureMode {
                    signature_id,
                    signature: String::new(),
                    occurrences: 0,
                    flaky_share: 0.0,
                    first_seen: NaiveDateTimeUtc(at),
                    last_seen: NaiveDateTimeUtc(at),
                });
                modes.len() - 1
            }
        };
        let mode = &mut modes[index];
        mode.occurrences += 1;
        mode.first_seen = NaiveDateTimeUtc(mode.first_seen.0.min(at));
        mode.last_seen = NaiveDateTimeUtc(mode.last_seen.0.max(at));
        if outcome == "passed" {
            mode.flaky_share += 1.0;
        }
    }
    // Each signature's text once (SQLite binds at most 32,766 values a statement).
    for chunk in modes.chunks_mut(1000) {
        let ids: Vec<i64> = chunk.iter().map(|m| m.signature_id).collect();
        let texts: Vec<(i64, String)> = failure_signatures::table
            .filter(failure_signatures::id.eq_any(ids))
            .select((failure_signatures::id, failure_signatures::normalized))
            .load(conn)?;
        for (id, text) in texts {
            if let Some(mode) = chunk.iter_mut().find(|m| m.signature_id == id) {
                mode.signature = text;
            }
        }
    }
    for mode in &mut modes {
        mode.flaky_share /= mode.occurrences as f64;
    }
    modes.sort_by(|a, b| {
        b.occurrences
            .cmp(&a.occurrences)
            .then(a.signature_id.cmp(&b.signature_id))
    });
    Ok(modes)
}

/// How many scored tests the project has in each status (statuses with none left out),
/// as the database's triggers keep them with every write to the scores.
pub fn count_by_status(
    conn: &mut DbConnection,
    project_id: i64,
) -> QueryResult<Vec<(String, i64)>> {
    project_test_counts::table
        .filter(project_test_counts::project_id.eq(project_id))
        .filter(project_test_counts::tests.gt(0))
        .order(project_test_counts::status)
        .select((project_test_counts::status, project_test_counts::tests))
        .load(conn)
}
