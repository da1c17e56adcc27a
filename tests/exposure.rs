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
