//! API tokens a server keeps once checked, while it hears of every change
//! (`web::known_tokens`): on both backends a revocation is heard at once, by the server
//! that made it and (after the notification, on PostgreSQL) by any other; requests that
//! check one token at once share one lookup.

mod common;

use common::api::{get_json, token};
use common::{block_on, TestDb, TestServer};
use flakewatch::db::{Database, DbError};
use flakewatch::store::tokens::{self, Scope};
use flakewatch::web::known_tokens::KnownTokens;

fn id_of(db: &TestDb, plaintext: &str) -> i64 {
    tokens::authenticate(&mut db.connect(), plaintext)
        .unwrap()
        .expect("a live token")
        .id
}

async fn revoke_here(database: &Database, id: i64) {
    database
        .run(move |conn| {
            tokens::revoke(conn, id, chrono::Utc::now().naive_utc()).map_err(DbError::from)
        })
        .await
        .unwrap();
}

storage_test! {
    fn a_kept_token_revoked_through_this_server_is_refused_at_once(db) {
        let database = db.open();
        database.changes.set_listening(true);
        let known = KnownTokens::new(true);
        let plaintext = token(&db, "shop", Scope::Read);
        let id = id_of(&db, &plaintext);
        block_on(async {
            let first = known.authenticate(&database, &plaintext).await.unwrap();
            assert_eq!(first.map(|t| t.id), Some(id));
            let lookups = database.pool_wait.count();
            let again = known.authenticate(&database, &plaintext).await.unwrap();
            assert_eq!(again.map(|t| t.id), Some(id));
            assert_eq!(database.pool_wait.count(), lookups, "looked up again though kept");

            revoke_here(&database, id).await;
            assert!(known.authenticate(&database, &plaintext).await.unwrap().is_none());
            assert!(known.authenticate(&database, "fw_read_unknown").await.unwrap().is_none());
        });
    }
}

storage_test! {
    fn requests_checking_one_token_at_once_share_one_lookup(db) {
        let database = db.open();
        database.changes.set_listening(true);
        let known = KnownTokens::new(true);
        let plaintext = token(&db, "shop", Scope::Read);
        block_on(async {
            let lookups = database.pool_wait.count();
            // `join!` polls all five before any can finish: the first starts the lookup,
            // the other four find it under way.
            let found = tokio::join!(
                known.authenticate(&database, &plaintext),
                known.authenticate(&database, &plaintext),
                known.authenticate(&database, &plaintext),
                known.authenticate(&database, &plaintext),
                known.authenticate(&database, &plaintext),
            );
            for one in [found.0, found.1, found.2, found.3, found.4] {
                assert!(one.unwrap().is_some());
            }
            assert_eq!(database.pool_wait.count() - lookups, 1, "one lookup for all five");
        });
    }
}

storage_test! {
    fn a_token_revoked_by_another_process_is_refused_once_heard(db) {
        let server = TestServer::start(&db);
        let plaintext = token(&db, "shop", Scope::Read);
        let path = "/api/v1/projects/shop/tests";
        let (status, body) = get_json(&server, &plaintext, path);
        assert_eq!(status, 200, "{body}");
        // Revoked as `flakewatch token revoke` does: from another connection.
        let id = id_of(&db, &plaintext);
        assert!(tokens::revoke(&mut db.connect(), id, chrono::Utc::now().naive_utc()).unwrap());
        server.hear_every_change();
        let (status, body) = get_json(&server, &plaintext, path);
        assert_eq!(status, 401, "{body}");
    }
}
