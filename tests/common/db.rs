//! A fresh database per test.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use flakewatch::config::DatabaseSettings;
use flakewatch::db::{self, Backend, Database, DatabaseTarget, DbConnection};

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Serialises template creation across the test processes nextest runs in parallel.
const TEMPLATE_LOCK_KEY: i64 = 0x6677_7465_6d70; // "fwtemp"

/// One test's own database; PostgreSQL ones are dropped when it goes out of scope.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The temporary folder holding the SQLite file; deleted on drop.
    Sqlite(tempfile::TempDir),
    /// Database name and the maintenance URL to drop it from.
    Postgres { name: String, admin_url: String },
    /// Someone else's database (a private cluster a test runs): left as it is.
    Borrowed,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("create a temporary folder for SQLite");
        let url = dir.path().join("flakewatch.db").display().to_string();
        TestDb {
            backend: Backend::Sqlite,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A new PostgreSQL database cloned from the migrated template, or `None` when
    /// `FLAKEWATCH_SKIP_PG=1`. Panics, saying how to start the server, when it is down.
    pub fn postgres() -> Option<TestDb> {
        if std::env::var("FLAKEWATCH_SKIP_PG").is_ok_and(|v| v == "1") {
            eprintln!("FLAKEWATCH_SKIP_PG=1: skipping the PostgreSQL half of this test");
            return None;
        }
        let admin_url =
            std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|err| {
            panic!(
                "PostgreSQL is not reachable at {admin_url}: {err}\n\
                 Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
                 point TEST_DATABASE_URL at another server, or set FLAKEWATCH_SKIP_PG=1 to run only the SQLite half."
            )
        });
        let template = template_name();
        let name = unique_name();
        admin
            .batch_execute(&format!("SELECT pg_advisory_lock({TEMPLATE_LOCK_KEY})"))
            .expect("take the template lock");
        ensure_template(&mut admin, &admin_url, &template);
        let created = admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"));
        admin
            .batch_execute(&format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK_KEY})"))
            .expect("release the template lock");
        created.unwrap_or_else(|err| panic!("create test database {name}: {err}"));
        Some(TestDb {
            backend: Backend::Postgres,
            url: with_database(&admin_url, &name),
            cleanup: Cleanup::Postgres { name, admin_url },
        })
    }

    /// A database that outlives this value, such as one on a private PostgreSQL cluster.
    pub fn borrowed(backend: Backend, url: String) -> TestDb {
        TestDb {
            backend,
            url,
            cleanup: Cleanup::Borrowed,
        }
    }

    pub fn settings(&self) -> DatabaseSettings {
        DatabaseSettings {
            database_url: self.url.clone(),
            db_pool_size: 8,
            // A test's SQLite file is new: it is made on first open, as `serve` makes it.
            create: true,
        }
    }

    /// Opens the database the way `serve` does (migrations, pool).
    pub fn open(&self) -> Database {
        db::open(&self.settings()).expect("open the test database")
    }

    /// One plain connection, for tests that look under the hood.
    pub fn connect(&self) -> DbConnection {
        db::connect(&DatabaseTarget::parse(&self.url).unwrap()).expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { name, admin_url } = &self.cleanup {
            // FORCE ends connections a failed test may have left open.
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

/// Creates the migrated template if it does not exist yet. The caller holds the lock.
/// It is built under another name and renamed, so a half-built template is never used.
fn ensure_template(admin: &mut PgConnection, admin_url: &str, template: &str) {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found: Found =
        diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
            .bind::<diesel::sql_types::Text, _>(template)
            .get_result(admin)
            .expect("look for the template database");
    if found.n > 0 {
        return;
    }
    let building = format!("{template}_building");
    // Left over if a test process died while building it; we hold the lock, so it is stale.
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
        .expect("drop a stale template database");
    admin
        .batch_execute(&format!("CREATE DATABASE {building}"))
        .expect("create the template database");
    let url = with_database(admin_url, &building);
    let target = DatabaseTarget::parse(&url).unwrap();
    let mut conn = db::connect(&target).expect("connect to the template database");
    db::migrations::run_pending(&mut conn, &target).expect("migrate the template database");
    drop(conn);
    admin
        .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
        .expect("publish the template database");
}

/// Named after the migrations' contents, so editing a migration makes a new template.
fn template_name() -> String {
    let mut hasher = DefaultHasher::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file)
            .expect("read a migration")
            .hash(&mut hasher);
    }
    format!("flakewatch_tpl_{:016x}", hasher.finish())
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list migrations").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "flakewatch_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `postgres://u@h:p/old?x` with the database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let prefix = match base.rfind('/') {
        Some(slash) if slash > "postgres://".len() => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    }
}
