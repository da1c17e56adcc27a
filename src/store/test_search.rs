//! Which of a project's tests a name search can match, read from the names' trigram index
//! instead of every name (see the `tests_name_search` migration).
//!
//! On PostgreSQL the list's own `LIKE` condition uses the trigram index: its planner
//! knows from statistics when a text is rare (read the index) or common (walk the score
//! order and stop after a page). SQLite's planner cannot tell, so it is told here: in a
//! list longer than `WALK_IS_SHORT`, the index's matches are read up to `NARROWS_TO`; that
//! few narrow the list to their ids, more mean the text is common and the list walks the
//! score order as it did before.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::db::schema::project_test_counts;
use crate::db::DbConnection;

/// Most matches that still narrow the list to their ids (each id is a bound parameter).
const NARROWS_TO: usize = 10_000;

/// Lists that walk no more tests than this are not narrowed: the walk costs no more than
/// reading the index.
const WALK_IS_SHORT: i64 = 1_000;
/// Shortest text the trigram index can look up: a run of 3 characters.
const TRIGRAM: usize = 3;

/// The ids of the project's tests, and only its, whose full name (`class::name`) may
/// contain `text` (a superset of the list's own, exact condition) in a list of the tests in
/// `status` (`None`: all). `None` when the index does not narrow the search: on
/// PostgreSQL; for text with no run of 3 plain characters; when the list is short; or
/// when the text is common.
pub fn candidates(
    conn: &mut DbConnection,
    project_id: i64,
    text: &str,
    status: Option<&str>,
) -> QueryResult<Option<Vec<i64>>> {
    let DbConnection::Sqlite(sqlite) = conn else {
        return Ok(None);
    };
    if !has_trigram(text) || listed(sqlite, project_id, status)? <= WALK_IS_SHORT {
        return Ok(None);
    }
    #[derive(QueryableByName)]
    struct Match {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    // `LIKE` without ESCAPE is what the index answers: `_` and `%` in the text then match
    // more than themselves, which only widens the candidates.
    let pattern = format!("%{}%", text.to_lowercase());
    // The index holds each test's full name, as the list's condition reads it.
    let matches: Vec<Match> = diesel::sql_query(
        "SELECT rowid AS id FROM tests_search WHERE text LIKE ?1 AND project_id = ?2 LIMIT ?3",
    )
    .bind::<Text, _>(&pattern)
    .bind::<BigInt, _>(project_id)
    .bind::<BigInt, _>(NARROWS_TO as i64 + 1)
    .load(sqlite)?;
    if matches.len() > NARROWS_TO {
        return Ok(None);
    }
    Ok(Some(matches.into_iter().map(|m| m.id).collect()))
}

/// How many tests the list would walk without the index: the kept counts of the
/// project's tests in `status`, or of all of them.
fn listed(
    sqlite: &mut SqliteConnection,
    project_id: i64,
    status: Option<&str>,
) -> QueryResult<i64> {
    let mut query = project_test_counts::table
        .filter(project_test_counts::project_id.eq(project_id))
        .select(project_test_counts::tests)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(project_test_counts::status.eq(status.to_owned()));
    }
    Ok(query.load::<i64>(sqlite)?.into_iter().sum())
}

/// Whether `text` holds 3 characters in a row that `LIKE` takes as themselves.
fn has_trigram(text: &str) -> bool {
    text.split(['%', '_'])
        .any(|run| run.chars().count() >= TRIGRAM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_with_three_plain_characters_in_a_row_has_a_trigram() {
        assert!(has_trigram("cache"));
        assert!(has_trigram("test_4242"));
        assert!(has_trigram("éàü"));
        assert!(!has_trigram("ab"));
        assert!(!has_trigram("a_b_c%d"));
        assert!(!has_trigram(""));
    }
}
