//! Writing a run: the run row, test identities, failure messages and results.
//!
//! Identities and failure messages are shared by every run of a project; on PostgreSQL
//! they are written on a separate autocommit connection, each batch in sorted order, so
//! concurrent store transactions never hold locks on them and cannot deadlock on them.
//! Results go in with `COPY` on PostgreSQL.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{failure_messages, failure_signatures, results, runs, tests};
use crate::db::DbConnection;

/// A run about to be stored; its counts are filled in when the last result is in.
pub struct NewRun<'a> {
    pub project_id: i64,
    pub upload_id: i64,
    pub meta: &'a super::uploads::UploadMeta,
    pub on_default_branch: bool,
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    pub stored_at: NaiveDateTime,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub tests: i32,
    pub passed: i32,
    pub failed: i32,
    pub errors: i32,
    pub skipped: i32,
    pub flaky_in_run: i32,
    pub test_time_ms: i64,
    pub retry_ms: i64,
}

pub fn insert_run(conn: &mut DbConnection, run: &NewRun<'_>) -> QueryResult<i64> {
    let meta = run.meta;
    crate::per_backend!(conn, |c| diesel::insert_into(runs::table)
        .values((
            runs::project_id.eq(run.project_id),
            runs::upload_id.eq(run.upload_id),
            runs::branch.eq(&meta.branch),
            runs::on_default_branch.eq(run.on_default_branch),
            runs::commit_sha.eq(&meta.commit),
            runs::job.eq(&meta.job),
            runs::attempt.eq(meta.attempt),
            runs::pipeline.eq(&meta.pipeline),
            runs::build_url.eq(&meta.build_url),
            runs::runner.eq(&meta.runner),
            runs::started_at.eq(run.started_at),
            runs::finished_at.eq(run.finished_at),
            runs::stored_at.eq(run.stored_at),
            runs::tests.eq(0),
            runs::passed.eq(0),
            runs::failed.eq(0),
            runs::errors.eq(0),
            runs::skipped.eq(0),
            runs::flaky_in_run.eq(0),
            runs::test_time_ms.eq(0),
        ))
        .returning(runs::id)
        .get_result(c))
}

/// When a run started and finished, once its reports are read, and where that came from.
pub struct RunTiming {
    pub started_at: NaiveDateTime,
    pub finished_at: NaiveDateTime,
    /// `runs.timing_source`: client, report, durations or receipt.
    pub source: &'static str,
}

pub fn set_run_counts(
    conn: &mut DbConnection,
    run_id: i64,
    counts: &RunCounts,
    timing: &RunTiming,
) -> QueryResult<()> {
    diesel::update(runs::table.filter(runs::id.eq(run_id)))
        .set((
            runs::started_at.eq(timing.started_at),
            runs::finished_at.eq(timing.finished_at),
            runs::timing_source.eq(timing.source),
            runs::tests.eq(counts.tests),
            runs::passed.eq(counts.passed),
            runs::failed.eq(counts.failed),
            runs::errors.eq(counts.errors),
            runs::skipped.eq(counts.skipped),
            runs::flaky_in_run.eq(counts.flaky_in_run),
            runs::test_time_ms.eq(counts.test_time_ms),
            runs::retry_ms.eq(counts.retry_ms),
        ))
        .execute(conn)
        .map(drop)
}

/// A test identity as stored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TestKey {
    pub identity_hash: String,
    pub suite: String,
    pub classname: String,
    pub name: String,
    pub file: Option<String>,
}

/// Ids of these tests, creating the new ones. Keys are sorted and de-duplicated first so
/// concurrent writers take row locks in one order.
pub fn ensure_tests(
    conn: &mut DbConnection,
    project_id: i64,
    keys: &mut Vec<TestKey>,
    now: NaiveDateTime,
) -> QueryResult<HashMap<String, i64>> {
    keys.sort();
    keys.dedup_by(|a, b| a.identity_hash == b.identity_hash);
    if let DbConnection::Postgres(pg) = conn {
        return ensure_tests_postgres(pg, project_id, keys, now);
    }
    let rows: Vec<_> = keys
        .iter()
        .map(|key| {
            (
                tests::project_id.eq(project_id),
                tests::identity_hash.eq(&key.identity_hash),
                tests::suite.eq(&key.suite),
                tests::classname.eq(&key.classname),
                tests::name.eq(&key.name),
                tests::file.eq(key.file.as_deref()),
                tests::first_seen_at.eq(now),
            )
        })
        .collect();
    crate::per_backend!(conn, |c| diesel::insert_into(tests::table)
        .values(&rows)
        .on_conflict((tests::project_id, tests::identity_hash))
        .do_nothing()
        .execute(c))?;
    let hashes: Vec<&str> = keys.iter().map(|k| k.identity_hash.as_str()).collect();
    let found: Vec<(String, i64)> = tests::table
        .filter(tests::project_id.eq(project_id))
        .filter(tests::identity_hash.eq_any(&hashes))
        .select((tests::identity_hash, tests::id))
        .load(conn)?;
    Ok(found.into_iter().collect())
}

/// `ensure_tests` on PostgreSQL: the keys go in as one array per column, so every batch
/// runs the same prepared statement with 7 parameters (not 7 a row, parsed and planned
/// anew each batch), and `RETURNING` hands back the new tests' ids. Only the tests that
/// were already there (or that a concurrent writer inserted first) are looked up after.
/// `unnest` yields the sorted keys in order, so row locks are still taken in that order.
fn ensure_tests_postgres(
    pg: &mut PgConnection,
    project_id: i64,
    keys: &[TestKey],
    now: NaiveDateTime,
) -> QueryResult<HashMap<String, i64>> {
    use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};

    #[derive(QueryableByName)]
    struct Inserted {
        #[diesel(sql_type = Text)]
        identity_hash: String,
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let column = |field: fn(&TestKey) -> &str| keys.iter().map(field).collect::<Vec<&str>>();
    let inserted: Vec<Inserted> = diesel::sql_query(
        "INSERT INTO tests (project_id, identity_hash, suite, classname, name, file, first_seen_at) \
         SELECT $1, k.identity_hash, k.suite, k.classname, k.name, k.file, $7 \
         FROM unnest($2, $3, $4, $5, $6) AS k(identity_hash, suite, classname, name, file) \
         ON CONFLICT (project_id, identity_hash) DO NOTHING \
         RETURNING identity_hash, id",
    )
    .bind::<BigInt, _>(project_id)
    .bind::<Array<Text>, _>(column(|k| &k.identity_hash))
    .bind::<Array<Text>, _>(column(|k| &k.suite))
    .bind::<Array<Text>, _>(column(|k| &k.classname))
    .bind::<Array<Text>, _>(column(|k| &k.name))
    .bind::<Array<Nullable<Text>>, _>(keys.iter().map(|k| k.file.as_deref()).collect::<Vec<_>>())
    .bind::<Timestamp, _>(now)
    .load(pg)?;
    let mut ids: HashMap<String, i64> = inserted
        .into_iter()
        .map(|row| (row.identity_hash, row.id))
        .collect();
    if ids.len() < keys.len() {
        let known: Vec<&str> = keys
            .iter()
            .map(|k| k.identity_hash.as_str())
            .filter(|hash| !ids.contains_key(*hash))
            .collect();
        // A join against the list, not `= ANY`: one index probe per key.
        let found: Vec<Inserted> = diesel::sql_query(
            "SELECT t.identity_hash, t.id FROM tests t \
             JOIN unnest($2) AS known(identity_hash) ON t.identity_hash = known.identity_hash \
             WHERE t.project_id = $1",
        )
        .bind::<BigInt, _>(project_id)
        .bind::<Array<Text>, _>(known)
        .load(pg)?;
        ids.extend(found.into_iter().map(|row| (row.identity_hash, row.id)));
    }
    Ok(ids)
}

/// A failure message as stored, with the signature it normalises to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FailureKey {
    pub message_hash: String,
    pub signature_hash: String,
    pub normalized: String,
    pub kind: String,
    pub message: String,
    pub details: String,
}

/// Ids of these failure messages (by message hash), creating messages and signatures
/// that are new.
pub fn ensure_failures(
    conn: &mut DbConnection,
    project_id: i64,
    keys: &mut Vec<FailureKey>,
    now: NaiveDateTime,
) -> QueryResult<HashMap<String, i64>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    keys.sort();
    keys.dedup_by(|a, b| a.message_hash == b.message_hash);

    let mut signatures: Vec<(&str, &str)> = keys
        .iter()
        .map(|k| (k.signature_hash.as_str(), k.normalized.as_str()))
        .collect();
    signatures.sort();
    signatures.dedup_by(|a, b| a.0 == b.0);
    let signature_rows: Vec<_> = signatures
        .iter()
        .map(|(hash, normalized)| {
            (
                failure_signatures::project_id.eq(project_id),
                failure_signatures::signature_hash.eq(*hash),
                failure_signatures::normalized.eq(*normalized),
                failure_signatures::first_seen_at.eq(now),
            )
        })
        .collect();
    crate::per_backend!(conn, |c| diesel::insert_into(failure_signatures::table)
        .values(&signature_rows)
        .on_conflict((
            failure_signatures::project_id,
            failure_signatures::signature_hash
        ))
        .do_nothing()
        .execute(c))?;
    let signature_hashes: Vec<&str> = signatures.iter().map(|(hash, _)| *hash).collect();
    let signature_ids: HashMap<String, i64> = failure_signatures::table
        .filter(failure_signatures::project_id.eq(project_id))
        .filter(failure_signatures::signature_hash.eq_any(&signature_hashes))
        .select((failure_signatures::signature_hash, failure_signatures::id))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();

    let message_rows: Vec<_> = keys
        .iter()
        .filter_map(|key| {
            let signature_id = *signature_ids.get(&key.signature_hash)?;
            Some((
                failure_messages::project_id.eq(project_id),
                failure_messages::message_hash.eq(&key.message_hash),
                failure_messages::signature_id.eq(signature_id),
                failure_messages::kind.eq(&key.kind),
                failure_messages::message.eq(&key.message),
                failure_messages::details.eq(&key.details),
            ))
        })
        .collect();
    crate::per_backend!(conn, |c| diesel::insert_into(failure_messages::table)
        .values(&message_rows)
        .on_conflict((failure_messages::project_id, failure_messages::message_hash))
        .do_nothing()
        .execute(c))?;
    let message_hashes: Vec<&str> = keys.iter().map(|k| k.message_hash.as_str()).collect();
    Ok(failure_messages::table
        .filter(failure_messages::project_id.eq(project_id))
        .filter(failure_messages::message_hash.eq_any(&message_hashes))
        .select((failure_messages::message_hash, failure_messages::id))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect())
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = results, treat_none_as_default_value = false)]
pub struct NewResult {
    pub run_id: i64,
    pub test_id: i64,
    pub outcome: &'static str,
    pub duration_ms: Option<i64>,
    pub attempts: i32,
    pub failed_attempts: i32,
    pub retry_ms: i64,
    pub failure_message_id: Option<i64>,
}

/// Inserts a batch of results: `COPY` on PostgreSQL, multi-row INSERTs on SQLite.
pub fn insert_results(conn: &mut DbConnection, rows: &[NewResult]) -> QueryResult<usize> {
    match conn {
        DbConnection::Postgres(pg) => diesel::copy_from(results::table)
            .from_insertable(rows)
            .execute(pg),
        DbConnection::Sqlite(sqlite) => {
            let mut inserted = 0;
            // 8 bound values a row; SQLite allows 32766 per statement.
            for chunk in rows.chunks(2000) {
                inserted += diesel::insert_into(results::table)
                    .values(chunk)
                    .execute(sqlite)?;
            }
            Ok(inserted)
        }
    }
}
