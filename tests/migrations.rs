//! Migrations: idempotent, and matching the shared schema module on both backends.

mod common;

use diesel::prelude::*;
use flakewatch::db::{migrations, schema, DatabaseTarget};

storage_test!(fn second_run_applies_nothing(db) {
    let target = DatabaseTarget::parse(&db.url).unwrap();
    let mut conn = db.connect();
    // PostgreSQL test databases are cloned from a migrated template; SQLite ones start empty.
    let first = migrations::run_pending(&mut conn, &target).unwrap();
    let second = migrations::run_pending(&mut conn, &target).unwrap();
    assert!(second.is_empty(), "second run applied {second:?}");
    assert!(migrations::is_current(&mut conn).unwrap());
    if db.backend == flakewatch::db::Backend::Sqlite {
        assert!(!first.is_empty(), "a new SQLite file must get the schema");
    }
});

/// Selecting every column the schema module declares fails if a migration set lacks one.
macro_rules! assert_columns_exist {
    ($conn:expr, $($table:ident),+ $(,)?) => {
        $(
            let query = schema::$table::table.select(schema::$table::all_columns);
            diesel::select(diesel::dsl::exists(query))
                .get_result::<bool>($conn)
                .unwrap_or_else(|err| panic!("table {}: {err}", stringify!($table)));
        )+
    };
}

storage_test!(fn schema_module_matches_the_migrations(db) {
    let _opened = db.open(); // applies migrations
    let mut conn = db.connect();
    assert_columns_exist!(
        &mut conn,
        instance_secrets, projects, api_tokens, runner_rates, uploads, upload_payloads, store_tasks,
        runs, tests, failure_signatures, failure_messages, results, test_scores,
        test_impact_days, quarantines, project_codeowners, web_sessions, delivery_batches, deliveries, notification_events, test_states, staged_results,
    );
});
