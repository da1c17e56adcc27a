//! Safe to expose: security headers, `HEAD`, URL hygiene, sign-in for pages and the
//! limits that keep hostile input from hurting the server, on both backends.

mod common;

use common::{http, TestServer};
use flakewatch::web::security_headers::HEADERS;

storage_test!(fn every_response_carries_the_security_headers(db) {
    let server = TestServer::start(&db);
    // A page, the stylesheet, JSON, an error and an unknown path.
    for path in ["/", "/static/flakewatch.css", "/healthz", "/api/v1/tasks", "/no/such/page"] {
        let response = http().get(server.url(path)).call().unwrap();
        for (name, value) in HEADERS {
            assert_eq!(
                response.headers().get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name} on {path} ({})",
                response.status()
            );
        }
    }
});

storage_test!(fn head_works_wherever_get_does(db) {
    let server = TestServer::start(&db);
    for path in ["/", "/tasks", "/healthz", "/readyz", "/metrics", "/static/flakewatch.css"] {
        let get = http().get(server.url(path)).call().unwrap();
        let mut head = http().head(server.url(path)).call().unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {path}"
        );
        assert_eq!(head.body_mut().read_to_vec().unwrap(), b"", "HEAD {path} has no body");
    }
    assert_eq!(http().head(server.url("/no/such/page")).call().unwrap().status(), 404);
});

mod urls {
    use super::*;
    use common::api::{await_task, token, upload, upload_ok};
    use common::reports::junit;
    use flakewatch::store::tokens::Scope;
    use flakewatch::web::access::{Access, AuthMode};

    const META: &str = "branch=main&commit=abc&job=unit";

    storage_test!(fn only_http_build_urls_are_stored(db) {
        let server = TestServer::start(&db);
        let upload_token = token(&db, "shop", Scope::Upload);
        let body = junit("a", 2, 0);
        for bad in ["javascript:alert(8)//", "data:text/html,x", "//evil.example.com/x", "ftp://x"] {
            let query = format!("{META}&build_url={}", bad.replace(':', "%3A").replace('/', "%2F"));
            let (status, answer) = upload(&server, &upload_token, &query, body.as_bytes(), &[]);
            assert_eq!(status, 400, "{bad}: {answer}");
            assert_eq!(answer["error"]["field"], "build_url", "{answer}");
        }
        assert_eq!(common::api::count(&db, "uploads"), 0);
        let task = upload_ok(&server, &upload_token, &format!("{META}&build_url=https%3A%2F%2Fci.example.com%2Fjob%2F1"), body.as_bytes());
        assert_eq!(await_task(&server, &task)["status"], "completed");
        // The server is still healthy after the refusals.
        assert_eq!(http().get(server.url("/healthz")).call().unwrap().status(), 200);
    });

    storage_test!(fn stored_non_http_build_urls_are_never_links(db) {
        let server = TestServer::start(&db);
        let upload_token = token(&db, "shop", Scope::Upload);
        let task = upload_ok(&server, &upload_token, &format!("{META}&build_url=https%3A%2F%2Fci.example.com%2Fjob%2F1"), junit("a", 1, 1).as_bytes());
        assert_eq!(await_task(&server, &task)["status"], "completed");
        let page = |path: &str| http().get(server.url(path)).call().unwrap().body_mut().read_to_string().unwrap();
        let test_id = {
            let read = token(&db, "shop", Scope::Read);
            let answer: serde_json::Value = http()
                .get(server.url("/api/v1/projects/shop/tests?status=all"))
                .header("Authorization", &format!("Bearer {read}"))
                .call().unwrap().body_mut().read_json().unwrap();
            answer["tests"][0]["id"].as_i64().unwrap()
        };
        let test_path = format!("/projects/shop/tests/{test_id}");
        assert!(page("/projects/shop").contains("href=\"https://ci.example.com/job/1\""));
        assert!(page(&test_path).contains("href=\"https://ci.example.com/job/1\""));
        // As if stored before URLs were checked.
        {
            use diesel::prelude::*;
            let mut conn = db.connect();
            diesel::sql_query("UPDATE runs SET build_url = 'javascript:alert(8)//'").execute(&mut conn).unwrap();
        }
        for path in ["/projects/shop", test_path.as_str()] {
            let html = page(path);
            assert!(!html.contains("javascript:"), "{path}: {html}");
            assert!(!html.contains("ci.example.com"), "{path}");
        }
    });

    fn status_url(server: &TestServer, upload_token: &str, commit: &str) -> String {
        let (status, answer) = upload(
            server,
            upload_token,
            &format!("branch=main&commit={commit}"),
            junit("a", 1, 0).as_bytes(),
            &[
                ("Host", "evil.example.com"),
                ("X-Forwarded-Proto", "javascript"),
                ("X-Forwarded-Host", "evil.example.com"),
                ("Forwarded", "proto=javascript;host=evil"),
            ],
        );
        assert_eq!(status, 202, "{answer}");
        let url = answer["status_url"].as_str().unwrap().to_owned();
        assert!(
            url.ends_with(&format!(
                "/api/v1/tasks/{}",
                answer["task"].as_str().unwrap()
            )),
            "{url}"
        );
        url
    }

    storage_test!(fn handed_out_urls_never_come_from_request_headers(db) {
        let server = TestServer::start(&db);
        let upload_token = token(&db, "shop", Scope::Upload);
        let url = status_url(&server, &upload_token, "c1");
        assert!(url.starts_with("/api/v1/tasks/fwt_"), "relative without --public-url: {url}");
        server.shut_down();

        let mut access = Access::with_mode(AuthMode::Open);
        access.public_url = Some("https://ci.example.com/fw".into());
        let server = TestServer::start_with(&db, common::ServerOptions { access, ..Default::default() });
        let url = status_url(&server, &upload_token, "c2");
        assert!(url.starts_with("https://ci.example.com/fw/api/v1/tasks/fwt_"), "{url}");
    });
}
