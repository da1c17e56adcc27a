//! Migrations: idempotent, and matching the shared schema module on both backends; and
//! the settings every connection gets.

mod common;

use diesel::connection::SimpleConnection;
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
        test_impact_days, quarantines, project_codeowners, web_sessions, delivery_batches, deliveries, notification_events, test_states, staged_results, run_names, project_data_versions,
    );
});

// SQLite's write-ahead log is emptied once no reader holds it, and left alone (with no
// long wait) while one does; PostgreSQL has no such file.
storage_test!(fn the_sqlite_log_is_emptied_once_no_reader_holds_it(db) {
    use diesel::connection::SimpleConnection;
    use flakewatch::db::wal::truncate_log;
    let _opened = db.open(); // applies migrations, which fill the log
    let mut conn = db.connect();
    if db.backend == flakewatch::db::Backend::Postgres {
        assert_eq!(truncate_log(&mut conn).unwrap(), None);
        return;
    }
    let log = std::path::PathBuf::from(format!("{}-wal", db.url));
    conn.batch_execute("INSERT INTO projects (name, created_at) VALUES ('a', '2026-12-01 00:00:00')")
        .unwrap();
    // A reader in the middle of a read transaction keeps the log in use.
    let mut reader = db.connect();
    reader.batch_execute("BEGIN; SELECT count(*) FROM projects;").unwrap();
    conn.batch_execute("INSERT INTO projects (name, created_at) VALUES ('b', '2026-12-01 00:00:00')")
        .unwrap();
    let held = truncate_log(&mut conn).unwrap().expect("a SQLite checkpoint");
    assert!(held.busy, "a reader holds the log: {held:?}");
    assert!(std::fs::metadata(&log).unwrap().len() > 0, "the log is left as it is");
    reader.batch_execute("COMMIT").unwrap();
    let emptied = truncate_log(&mut conn).unwrap().expect("a SQLite checkpoint");
    assert!(!emptied.busy, "{emptied:?}");
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 0, "the log file is emptied");
    // The connection keeps its usual busy timeout afterwards.
    #[derive(diesel::QueryableByName)]
    struct Timeout {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        timeout: i32,
    }
    let timeout: Timeout = diesel::sql_query("PRAGMA busy_timeout").get_result(&mut conn).unwrap();
    assert_eq!(timeout.timeout, 30_000);
});

// A database user that may create tables but not extensions (not the database's owner) still
// migrates: the name search's trigram indexes are left out (searching then reads names).
#[test]
fn without_pg_trgm_the_migrations_apply_and_leave_the_trigram_indexes_out() {
    let Some(db) = common::TestDb::postgres() else {
        return;
    };
    let Some((_, host_and_database)) = db
        .url
        .strip_prefix("postgres://")
        .and_then(|r| r.split_once('@'))
    else {
        return; // no user in the URL to swap for another
    };
    let role = format!("fw_plain_{}", std::process::id());
    let mut admin = db.connect();
    let flakewatch::db::DbConnection::Postgres(pg) = &mut admin else {
        unreachable!()
    };
    // As if pg_trgm had never been there: the template has it, this user could not add it.
    pg.batch_execute(&format!(
        "DROP EXTENSION pg_trgm CASCADE;
         DELETE FROM __diesel_schema_migrations WHERE version = '20261207000303';
         DROP ROLE IF EXISTS {role};
         CREATE ROLE {role} LOGIN;
         GRANT USAGE, CREATE ON SCHEMA public TO {role};
         GRANT ALL ON ALL TABLES IN SCHEMA public TO {role};"
    ))
    .unwrap();

    let url = format!("postgres://{role}@{host_and_database}");
    let target = DatabaseTarget::parse(&url).unwrap();
    let mut plain = flakewatch::db::connect(&target).unwrap();
    let applied = migrations::run_pending(&mut plain, &target);
    drop(plain);
    pg.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .unwrap();
    assert_eq!(applied.unwrap(), ["20261207000303"]);

    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found: Found = diesel::sql_query(
        "SELECT count(*) AS n FROM pg_indexes WHERE indexname LIKE 'tests_%_trigrams'",
    )
    .get_result(pg)
    .unwrap();
    assert_eq!(found.n, 0);
}

/// PostgreSQL: every connection turns JIT off, whose compiling (10-30 ms) cost more than
/// the short statements it started on.
#[test]
fn postgres_connections_run_without_jit() {
    #[derive(QueryableByName)]
    struct Shown {
        #[diesel(sql_type = diesel::sql_types::Text)]
        jit: String,
    }
    let Some(db) = common::TestDb::postgres() else {
        return;
    };
    let shown: Shown = diesel::sql_query("SHOW jit")
        .get_result(&mut db.connect())
        .unwrap();
    assert_eq!(shown.jit, "off");
}
