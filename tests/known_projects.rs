//! The projects and their data versions a server keeps in memory while it hears of every
//! change (`web::known_projects`, `db::changes`). On both backends: nothing is kept while a
//! change could go unheard; once every change is heard, what was read is served again until
//! one is, and a change made through the server's own connections is heard at once. On
//! PostgreSQL, with two replicas: a replica that kept the projects shows a run that the other
//! replica stored, as soon as the upload's task was awaited through it.

mod common;

use std::sync::Arc;

use common::api::{await_task, get_text, token, upload_ok};
use common::reports::junit;
use common::{block_on, ServerOptions, TestDb, TestServer};
use flakewatch::db::{Database, DbError};
use flakewatch::store::tokens::Scope;
use flakewatch::store::{data_versions, projects};
use flakewatch::web::known_projects::KnownProjects;

async fn version_of(known: &KnownProjects, database: &Database, name: &str) -> i64 {
    let (_, version) = known
        .named(database, name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no project {name}"));
    version
}

storage_test! {
    fn kept_while_every_change_is_heard_and_read_again_after_one(db) {
        let database = db.open();
        token(&db, "shop", Scope::Upload);
        let known = KnownProjects::new(true);
        block_on(async {
            // Deaf (SQLite always, PostgreSQL until its listener is in): read every time.
            let first = known.all(&database).await.unwrap();
            let second = known.all(&database).await.unwrap();
            assert!(!Arc::ptr_eq(&first, &second), "kept while changes could go unheard");

            database.changes.set_listening(true);
            let kept = known.all(&database).await.unwrap();
            assert!(
                Arc::ptr_eq(&kept, &known.all(&database).await.unwrap()),
                "read again though nothing changed"
            );
            let (shop, before) = known.named(&database, "shop").await.unwrap().unwrap();
            assert_eq!(known.version(&database, shop.id).await.unwrap(), before);

            // A change through the server's own connection: heard when it goes back.
            database
                .run(move |conn| data_versions::bump(conn, shop.id).map_err(DbError::from))
                .await
                .unwrap();
            assert_eq!(version_of(&known, &database, "shop").await, before + 1);
            assert_eq!(known.version(&database, shop.id).await.unwrap(), before + 1);

            // A project created here is listed at once, in name order.
            database
                .run(|conn| {
                    projects::find_or_create(conn, "api", chrono::Utc::now().naive_utc())
                        .map_err(DbError::from)
                })
                .await
                .unwrap();
            let names: Vec<String> = known
                .all(&database)
                .await
                .unwrap()
                .all()
                .map(|(project, _)| project.name.clone())
                .collect();
            assert_eq!(names, ["api", "shop"]);

            // A project another process created, not heard of yet: found all the same.
            token(&db, "web", Scope::Upload);
            assert!(known.named(&database, "web").await.unwrap().is_some());
            assert!(known.named(&database, "nope").await.unwrap().is_none());

            // Deaf again: nothing read before is trusted.
            let before_deaf = known.all(&database).await.unwrap();
            database.changes.set_listening(false);
            assert!(!Arc::ptr_eq(&before_deaf, &known.all(&database).await.unwrap()));
        });
    }
}

storage_test! {
    fn requests_that_miss_together_share_one_read(db) {
        let database = db.open();
        token(&db, "shop", Scope::Upload);
        let known = KnownProjects::new(true);
        database.changes.set_listening(true);
        block_on(async {
            let before = known.all(&database).await.unwrap();
            database.changes.heard();
            // `join!` polls all five before any can finish: the first starts the read,
            // the other four find it under way.
            let (a, b, c, d, e) = tokio::join!(
                known.all(&database),
                known.all(&database),
                known.all(&database),
                known.all(&database),
                known.all(&database),
            );
            let a = a.unwrap();
            assert!(!Arc::ptr_eq(&a, &before), "not read again after a change");
            for other in [b, c, d, e] {
                assert!(Arc::ptr_eq(&a, &other.unwrap()), "read more than once");
            }
        });
    }
}

#[test]
fn a_replica_that_kept_the_projects_shows_a_run_the_other_stored_once_it_was_awaited() {
    let Some(db) = TestDb::postgres() else { return };
    let storing = TestServer::start_with(
        &db,
        ServerOptions {
            workers: 1,
            ..Default::default()
        },
    );
    let reading = TestServer::start_with(
        &db,
        ServerOptions {
            workers: 0,
            ..Default::default()
        },
    );
    reading.until_listening(true);
    let changes = reading.db.changes.clone();
    let upload_token = token(&db, "shop", Scope::Upload);
    let read_token = token(&db, "shop", Scope::Read);
    let first = upload_ok(
        &storing,
        &upload_token,
        "branch=main&commit=a",
        junit("first", 2, 0).as_bytes(),
    );
    await_task(&reading, &first);
    let (status, page) = get_text(&reading, &read_token, "/projects/shop/tests");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("first.Suite"), "{page}");
    assert!(!page.contains("second.Suite"), "{page}");
    assert!(
        changes.epoch().is_some(),
        "the reading replica keeps nothing"
    );

    let second = upload_ok(
        &storing,
        &upload_token,
        "branch=main&commit=b",
        junit("second", 2, 0).as_bytes(),
    );
    let ended = await_task(&reading, &second);
    assert_eq!(ended["status"], "completed", "{ended}");
    let (status, page) = get_text(&reading, &read_token, "/projects/shop/tests");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("second.Suite"), "{page}");
}
