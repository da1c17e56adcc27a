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
            if name == "Cache-Control" && path.starts_with("/static/") {
                // The stylesheet may be cached.
                assert_eq!(response.headers().get(name).unwrap(), "public, max-age=3600");
                continue;
            }
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
        // Rows are edited below behind the server's back: no page data may be kept.
        let server = TestServer::start_with(&db, common::ServerOptions { page_cache_entries: 0, ..Default::default() });
        let upload_token = token(&db, "shop", Scope::Upload);
        let task = upload_ok(&server, &upload_token, &format!("{META}&build_url=https%3A%2F%2Fci.example.com%2Fjob%2F1"), junit("a", 1, 1).as_bytes());
        let done = await_task(&server, &task);
        assert_eq!(done["status"], "completed");
        let run_path = format!("/projects/shop/runs/{}", done["run_id"]);
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
        // The run page links the build log.
        assert!(page(&run_path).contains("href=\"https://ci.example.com/job/1\""));
        // As if stored before URLs were checked.
        {
            use diesel::prelude::*;
            let mut conn = db.connect();
            diesel::sql_query("UPDATE runs SET build_url = 'javascript:alert(8)//'").execute(&mut conn).unwrap();
        }
        for path in ["/projects/shop", test_path.as_str(), run_path.as_str(), "/projects/shop/runs"] {
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

/// A browser's part in the tests of sign-in: cookies kept, redirects not followed.
mod browser_session {
    use std::collections::HashMap;

    use super::TestServer;

    pub struct Browser<'a> {
        server: &'a TestServer,
        agent: ureq::Agent,
        pub cookies: HashMap<String, String>,
        /// Every `Set-Cookie` header seen, as sent.
        pub set_cookies: Vec<String>,
        /// The `Origin` its forms are sent from: the server's own, unless set.
        pub origin: String,
    }

    pub struct Answer {
        pub status: u16,
        pub location: Option<String>,
        pub body: String,
    }

    impl<'a> Browser<'a> {
        pub fn new(server: &'a TestServer) -> Browser<'a> {
            Browser {
                server,
                agent: ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .max_redirects(0)
                    .timeout_global(Some(std::time::Duration::from_secs(30)))
                    .build()
                    .into(),
                cookies: HashMap::new(),
                set_cookies: Vec::new(),
                origin: server.base_url.clone(),
            }
        }

        fn cookie_header(&self) -> String {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        }

        fn keep(&mut self, mut response: ureq::http::Response<ureq::Body>) -> Answer {
            for value in response.headers().get_all("set-cookie") {
                let value = value.to_str().unwrap().to_owned();
                let pair = value.split(';').next().unwrap();
                let (name, cookie) = pair.split_once('=').unwrap();
                if cookie.is_empty() || value.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), cookie.to_owned());
                }
                self.set_cookies.push(value);
            }
            Answer {
                status: response.status().as_u16(),
                location: response
                    .headers()
                    .get("location")
                    .map(|v| v.to_str().unwrap().to_owned()),
                body: response.body_mut().read_to_string().unwrap_or_default(),
            }
        }

        pub fn get(&mut self, path: &str) -> Answer {
            let response = self
                .agent
                .get(self.server.url(path))
                .header("Cookie", &self.cookie_header())
                .call()
                .unwrap();
            self.keep(response)
        }

        /// POSTs a form as a page of the dashboard would (same `Origin`).
        pub fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
            let origin = self.origin.clone();
            self.post_from(path, form, &origin)
        }

        pub fn post_from(&mut self, path: &str, form: &[(&str, &str)], origin: &str) -> Answer {
            let response = self
                .agent
                .post(self.server.url(path))
                .header("Cookie", &self.cookie_header())
                .header("Origin", origin)
                .send_form(form.iter().copied())
                .unwrap();
            self.keep(response)
        }

        /// The hidden `csrf` field of the page's form.
        pub fn csrf_of(body: &str) -> String {
            let at = body
                .find("name=\"csrf\" value=\"")
                .expect("a form with a CSRF field")
                + "name=\"csrf\" value=\"".len();
            body[at..].split('"').next().unwrap().to_owned()
        }

        /// Opens the sign-in page and signs in with `token`.
        pub fn sign_in(&mut self, token: &str) -> Answer {
            let form = self.get("/login");
            assert_eq!(form.status, 200, "{}", form.body);
            let csrf = Self::csrf_of(&form.body);
            self.post("/login", &[("token", token), ("csrf", &csrf)])
        }
    }
}

mod pages_sign_in {
    use super::browser_session::Browser;
    use super::*;
    use common::api::{await_task, token, upload_ok};
    use common::reports::junit;
    use common::ServerOptions;
    use flakewatch::store::tokens::Scope;
    use flakewatch::web::access::{Access, AuthMode};

    fn token_server(db: &common::TestDb, public_url: Option<&str>) -> TestServer {
        let mut access = Access::with_mode(AuthMode::Token);
        access.public_url = public_url.map(str::to_owned);
        TestServer::start_with(
            db,
            ServerOptions {
                access,
                ..Default::default()
            },
        )
    }

    /// Two projects with one stored run each; returns a test id and the run id of each.
    fn two_projects(db: &common::TestDb, server: &TestServer) -> ((i64, i64), (i64, i64)) {
        let mut ids = Vec::new();
        for project in ["alpha", "beta"] {
            let upload = token(db, project, Scope::Upload);
            let task = upload_ok(
                server,
                &upload,
                "branch=main&commit=abc",
                junit(project, 1, 1).as_bytes(),
            );
            let done = await_task(server, &task);
            assert_eq!(done["status"], "completed");
            let run_id = done["run_id"].as_i64().unwrap();
            let read = token(db, project, Scope::Read);
            let answer: serde_json::Value = http()
                .get(server.url(&format!("/api/v1/projects/{project}/tests?status=all")))
                .header("Authorization", &format!("Bearer {read}"))
                .call()
                .unwrap()
                .body_mut()
                .read_json()
                .unwrap();
            ids.push((answer["tests"][0]["id"].as_i64().unwrap(), run_id));
        }
        (ids[0], ids[1])
    }

    storage_test!(fn pages_need_a_session_and_show_only_its_project(db) {
        let server = token_server(&db, None);
        let (alpha_test, beta_test) = two_projects(&db, &server);
        // Every page of a project: overview, tests, a test, runs, a run, a commit.
        let pages = |project: &str, (test, run): (i64, i64)| {
            vec![
                format!("/projects/{project}"),
                format!("/projects/{project}/tests"),
                format!("/projects/{project}/tests/{test}"),
                format!("/projects/{project}/runs"),
                format!("/projects/{project}/runs/{run}"),
                format!("/projects/{project}/commits/abc"),
                format!("/projects/{project}/reports"),
                format!("/projects/{project}/reports/2026-W45/md"),
            ]
        };

        // Without a session every page sends the browser to sign in, and names nothing.
        let mut anonymous = Browser::new(&server);
        for path in ["/".to_owned(), "/tasks".to_owned()].into_iter().chain(pages("alpha", alpha_test)).chain(pages("beta", beta_test)) {
            let answer = anonymous.get(&path);
            assert_eq!((answer.status, answer.location.as_deref()), (303, Some("/login")), "{path}");
            assert!(!answer.body.contains("alpha") && !answer.body.contains("beta"), "{path}");
        }

        // A read token of alpha: alpha's pages, nothing of beta, no task list.
        let mut reader = Browser::new(&server);
        let signed_in = reader.sign_in(&token(&db, "alpha", Scope::Read));
        assert_eq!((signed_in.status, signed_in.location.as_deref()), (303, Some("/projects/alpha")));
        let cookie = reader.set_cookies.iter().find(|c| c.starts_with("fw_session=")).unwrap().clone();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
            assert!(cookie.contains(attribute), "{attribute} in {cookie}");
        }
        assert!(!cookie.contains("Secure"), "no Secure without an https public URL: {cookie}");
        let home = reader.get("/");
        assert_eq!(home.status, 200);
        assert!(home.body.contains("/projects/alpha") && !home.body.contains("beta"), "{}", home.body);
        for path in pages("alpha", alpha_test) {
            assert_eq!(reader.get(&path).status, 200, "{path}");
        }
        let beta_in_alpha = [
            format!("/projects/alpha/tests/{}", beta_test.0),
            format!("/projects/alpha/runs/{}", beta_test.1),
        ];
        for path in pages("beta", beta_test).into_iter().chain(beta_in_alpha) {
            let answer = reader.get(&path);
            assert_eq!(answer.status, 404, "{path}");
            assert!(!answer.body.contains("beta_"), "{path}: {}", answer.body);
        }
        let tasks = reader.get("/tasks");
        assert_eq!(tasks.status, 403, "{}", tasks.body);

        // An admin token of beta: beta's store tasks only.
        let mut admin = Browser::new(&server);
        assert_eq!(admin.sign_in(&token(&db, "beta", Scope::Admin)).status, 303);
        let tasks = admin.get("/tasks");
        assert_eq!(tasks.status, 200);
        assert!(tasks.body.contains("<td>beta</td>") && !tasks.body.contains("alpha"), "{}", tasks.body);
        assert_eq!(admin.get("/projects/alpha").status, 404);
    });

    storage_test!(fn an_admin_quarantines_a_test_from_its_page(db) {
        let server = token_server(&db, None);
        let (alpha_test, _) = two_projects(&db, &server);
        let test_path = format!("/projects/alpha/tests/{}", alpha_test.0);

        // A reader sees how to do it, not a form.
        let mut reader = Browser::new(&server);
        reader.sign_in(&token(&db, "alpha", Scope::Read));
        let page = reader.get(&test_path);
        assert!(page.body.contains("flakewatch quarantine add --project alpha") && !page.body.contains("name=\"reason\""), "{}", page.body);
        let refused = reader.post(&format!("{test_path}/quarantine"), &[("csrf", "x"), ("reason", "r")]);
        assert_eq!(refused.status, 403, "{}", refused.body);

        // The admin's form, with the session's token.
        let mut admin = Browser::new(&server);
        admin.sign_in(&token(&db, "alpha", Scope::Admin));
        let page = admin.get(&test_path);
        let csrf = Browser::csrf_of(&page.body);
        let missing = admin.post(&format!("{test_path}/quarantine"), &[("csrf", &csrf), ("reason", " ")]);
        assert_eq!(missing.status, 400, "{}", missing.body);
        assert!(missing.body.contains("say why"), "{}", missing.body);
        let forged = admin.post(&format!("{test_path}/quarantine"), &[("csrf", "0123"), ("reason", "flaky sandbox")]);
        assert_eq!(forged.status, 403, "{}", forged.body);
        let added = admin.post(&format!("{test_path}/quarantine"), &[
            ("csrf", &csrf), ("reason", "flaky sandbox"), ("owner", "@ana"),
            ("issue_url", "https://issues.example.com/1"), ("days", "14"),
        ]);
        assert_eq!((added.status, added.location.as_deref()), (303, Some(test_path.as_str())), "{}", added.body);
        let page = admin.get(&test_path);
        assert!(page.body.contains("<strong>Quarantined</strong> by @ana") && page.body.contains("until 20"), "{}", page.body);
        assert!(page.body.contains("flaky sandbox"), "{}", page.body);
        let quarantined: serde_json::Value = http()
            .get(server.url("/api/v1/projects/alpha/quarantine"))
            .header("Authorization", &format!("Bearer {}", token(&db, "alpha", Scope::Read)))
            .call().unwrap().body_mut().read_json().unwrap();
        assert_eq!(quarantined["quarantine"][0]["test_id"], alpha_test.0, "{quarantined}");

        // Ending it.
        let csrf = Browser::csrf_of(&page.body);
        let ended = admin.post(&format!("{test_path}/quarantine/end"), &[("csrf", &csrf)]);
        assert_eq!(ended.status, 303, "{}", ended.body);
        assert!(admin.get(&test_path).body.contains("name=\"reason\""));
    });

    storage_test!(fn an_admin_cancels_a_waiting_store_task_from_the_tasks_page(db) {
        // No worker: uploads wait in the queue.
        let server = TestServer::start_with(&db, ServerOptions {
            access: Access::with_mode(AuthMode::Token),
            workers: 0,
            ..Default::default()
        });
        let task = upload_ok(&server, &token(&db, "alpha", Scope::Upload), "branch=main&commit=c1&job=unit", junit("t", 2, 0).as_bytes());
        // On SQLite the upload may still wait in the spool, with no id yet.
        let id = server.in_queue(&task);
        let cancel_path = format!("/tasks/{id}/cancel");

        // A reader of the project may not; neither may an admin of another project.
        let mut reader = Browser::new(&server);
        reader.sign_in(&token(&db, "alpha", Scope::Read));
        assert_eq!(reader.post(&cancel_path, &[("csrf", "x")]).status, 403, "a reader may not");
        let mut other = Browser::new(&server);
        other.sign_in(&token(&db, "beta", Scope::Admin));
        assert_eq!(other.post(&cancel_path, &[("csrf", "x")]).status, 404);

        let mut admin = Browser::new(&server);
        admin.sign_in(&token(&db, "alpha", Scope::Admin));
        let page = admin.get("/tasks?project=alpha&status=enqueued");
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(&format!("<code>{task}</code>")), "the task's token: {}", page.body);
        assert!(page.body.contains(&format!("action=\"{cancel_path}\"")), "{}", page.body);
        let csrf = Browser::csrf_of(&page.body);
        let forged = admin.post(&cancel_path, &[("csrf", "0123")]);
        assert_eq!(forged.status, 403, "{}", forged.body);
        let cross_site = admin.post_from(&cancel_path, &[("csrf", &csrf)], "https://evil.example.com");
        assert_eq!(cross_site.status, 403, "{}", cross_site.body);
        let cancelled = admin.post(&cancel_path, &[("csrf", &csrf)]);
        assert_eq!((cancelled.status, cancelled.location.as_deref()), (303, Some("/tasks?project=alpha")), "{}", cancelled.body);
        let page = admin.get("/tasks?project=alpha");
        assert!(page.body.contains("status-cancelled\">cancelled</span>") && !page.body.contains("action=\"/tasks/"), "{}", page.body);
        let again = admin.post(&cancel_path, &[("csrf", &csrf)]);
        assert_eq!(again.status, 409, "{}", again.body);
        assert!(again.body.contains("already ended (cancelled)"), "{}", again.body);
    });

    storage_test!(fn sign_in_refuses_bad_tokens_and_forged_forms(db) {
        let server = token_server(&db, None);
        let upload = token(&db, "alpha", Scope::Upload);
        let read = token(&db, "alpha", Scope::Read);
        let mut browser = Browser::new(&server);

        let refused = browser.sign_in(&upload);
        assert_eq!(refused.status, 403);
        assert!(refused.body.contains("read or admin token"), "{}", refused.body);
        let refused = browser.sign_in("fw_read_00000000000000000000000000000000");
        assert_eq!(refused.status, 401);
        assert!(refused.body.contains("unknown or revoked"), "{}", refused.body);
        assert!(!browser.cookies.contains_key("fw_session"));

        // A form without the token of the page, or sent from another site.
        let form = browser.get("/login");
        let csrf = Browser::csrf_of(&form.body);
        let forged = browser.post("/login", &[("token", &read), ("csrf", "0123")]);
        assert_eq!(forged.status, 403, "{}", forged.body);
        assert!(forged.body.contains("the form is out of date"), "{}", forged.body);
        let mut other = Browser::new(&server);
        let forged = other.post("/login", &[("token", &read), ("csrf", &csrf)]);
        assert_eq!(forged.status, 403, "no cookie of the form: {}", forged.body);
        let cross_site = browser.post_from("/login", &[("token", &read), ("csrf", &csrf)], "https://evil.example.com");
        assert_eq!(cross_site.status, 403, "{}", cross_site.body);
        assert!(!browser.cookies.contains_key("fw_session"));
        assert_eq!(browser.post("/login", &[("token", &read), ("csrf", &csrf)]).status, 303);
        assert_eq!(browser.get("/projects/alpha").status, 200);
        assert_eq!(http().get(server.url("/healthz")).call().unwrap().status(), 200);
    });

    /// A browser on the dashboard at https://ci.example.com (its public URL).
    fn open_browser(server: &TestServer) -> Browser<'_> {
        let mut browser = Browser::new(server);
        browser.origin = "https://ci.example.com".into();
        browser
    }

    storage_test!(fn sessions_end_on_sign_out_revocation_and_expiry(db) {
        let server = token_server(&db, Some("https://ci.example.com"));
        token(&db, "alpha", Scope::Upload);
        let read = token(&db, "alpha", Scope::Read);

        // Sign-out needs the session's form token and this site's origin.
        let mut browser = open_browser(&server);
        let signed_in = browser.sign_in(&read);
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        assert!(browser.set_cookies.iter().any(|c| c.starts_with("fw_session=") && c.contains("Secure")));
        let account = browser.get("/login");
        assert!(account.body.contains("Sign out"), "{}", account.body);
        let csrf = Browser::csrf_of(&account.body);
        assert_eq!(browser.post_from("/logout", &[("csrf", &csrf)], "https://ci.example.com").status, 303);
        assert_eq!(browser.get("/").status, 303, "signed out");

        // The session is stored hashed: the cookie's value is not in the table.
        let mut browser = open_browser(&server);
        browser.sign_in(&read);
        let secret = browser.cookies["fw_session"].clone();
        let mut page = browser.get("/login");
        let csrf = Browser::csrf_of(&page.body);
        assert_eq!(browser.post_from("/logout", &[("csrf", "wrong")], "https://ci.example.com").status, 403);
        assert_eq!(browser.post_from("/logout", &[("csrf", &csrf)], "http://evil.example.com").status, 403);
        assert_eq!(browser.get("/").status, 200, "still signed in");
        {
            use diesel::prelude::*;
            use flakewatch::db::schema::web_sessions;
            let mut conn = db.connect();
            let hashes: Vec<String> = web_sessions::table.select(web_sessions::session_hash).load(&mut conn).unwrap();
            assert!(!hashes.is_empty() && !hashes.contains(&secret));
            // Expiry: the session's time runs out.
            diesel::update(web_sessions::table).set(web_sessions::expires_at.eq(chrono::Utc::now().naive_utc())).execute(&mut conn).unwrap();
        }
        assert_eq!(browser.get("/").status, 303, "expired");

        // Revoking the token ends its sessions.
        let mut browser = open_browser(&server);
        browser.sign_in(&read);
        assert_eq!(browser.get("/").status, 200);
        {
            let mut conn = db.connect();
            let id = flakewatch::store::tokens::authenticate(&mut conn, &read).unwrap().unwrap().id;
            assert!(flakewatch::store::tokens::revoke(&mut conn, id, chrono::Utc::now().naive_utc()).unwrap());
        }
        page = browser.get("/");
        assert_eq!(page.status, 303, "revoked");
    });

    storage_test!(fn metrics_can_require_a_token(db) {
        let mut access = Access::with_mode(AuthMode::Open);
        access.metrics_token_hash = Some(flakewatch::secrets::token_hash("scrape-secret"));
        let server = TestServer::start_with(&db, ServerOptions { access, ..Default::default() });
        let mut refused = http().get(server.url("/metrics")).call().unwrap();
        assert_eq!(refused.status(), 401);
        let body: serde_json::Value = refused.body_mut().read_json().unwrap();
        assert_eq!(body["error"]["code"], "missing_token");
        let wrong = http().get(server.url("/metrics")).header("Authorization", "Bearer nope").call().unwrap();
        assert_eq!(wrong.status(), 401);
        let ok = http().get(server.url("/metrics")).header("Authorization", "Bearer scrape-secret").call().unwrap();
        assert_eq!(ok.status(), 200);
    });

    fn proxy_server(db: &common::TestDb, trusted: &str) -> TestServer {
        let mut access = Access::with_mode(AuthMode::Proxy);
        access.trusted_proxies = vec![trusted.parse().unwrap()];
        TestServer::start_with(
            db,
            ServerOptions {
                access,
                ..Default::default()
            },
        )
    }

    fn as_user(server: &TestServer, path: &str, groups: Option<&str>) -> (u16, String) {
        let mut request = http()
            .get(server.url(path))
            .header("X-Forwarded-User", "ada@example.com");
        if let Some(groups) = groups {
            request = request.header("X-Forwarded-Groups", groups);
        }
        let mut response = request.call().unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    }

    storage_test!(fn proxy_users_read_the_projects_of_their_groups(db) {
        let server = proxy_server(&db, "127.0.0.1");
        let (alpha_test, beta_test) = two_projects(&db, &server);
        let (status, home) = as_user(&server, "/", Some("staff, flakewatch-alpha"));
        assert_eq!(status, 200);
        assert!(home.contains("/projects/alpha") && !home.contains("beta"), "{home}");
        assert_eq!(as_user(&server, &format!("/projects/alpha/tests/{}", alpha_test.0), Some("flakewatch-alpha")).0, 200);
        assert_eq!(as_user(&server, &format!("/projects/alpha/runs/{}", alpha_test.1), Some("flakewatch-alpha")).0, 200);
        assert_eq!(as_user(&server, "/projects/beta", Some("flakewatch-alpha")).0, 404);
        assert_eq!(as_user(&server, &format!("/projects/beta/tests/{}", beta_test.0), Some("flakewatch-alpha")).0, 404);
        assert_eq!(as_user(&server, &format!("/projects/beta/runs/{}", beta_test.1), Some("flakewatch-alpha")).0, 404);
        assert_eq!(as_user(&server, "/tasks", Some("flakewatch-alpha")).0, 403);
        let (status, tasks) = as_user(&server, "/tasks", Some("flakewatch-admin"));
        assert_eq!(status, 200);
        assert!(tasks.contains("alpha") && tasks.contains("beta"));
        // No user named: 401, and nothing listed.
        let mut response = http().get(server.url("/")).call().unwrap();
        assert_eq!(response.status(), 401);
        assert!(!response.body_mut().read_to_string().unwrap().contains("alpha"));
    });

    storage_test!(fn proxy_headers_from_other_addresses_are_ignored(db) {
        let server = proxy_server(&db, "10.9.9.9");
        token(&db, "alpha", Scope::Upload);
        let (status, body) = as_user(&server, "/", Some("flakewatch-admin"));
        assert_eq!(status, 401, "{body}");
        assert!(!body.contains("alpha"));
        assert_eq!(as_user(&server, "/tasks", Some("flakewatch-admin")).0, 401);
    });
}

mod limits {
    use super::*;
    use common::api::{await_task, count, token, upload, upload_ok};
    use common::reports::junit;
    use common::ServerOptions;
    use flakewatch::store::tokens::Scope;
    use serde_json::Value;

    fn healthy(server: &TestServer) {
        assert_eq!(
            http().get(server.url("/healthz")).call().unwrap().status(),
            200
        );
        assert_eq!(
            http().get(server.url("/readyz")).call().unwrap().status(),
            200
        );
    }

    fn warning_codes(task: &Value) -> Vec<String> {
        task["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["code"].as_str().unwrap().to_owned())
            .collect()
    }

    fn stored_tests(server: &TestServer, read: &str) -> Vec<Value> {
        let answer: Value = http()
            .get(server.url("/api/v1/projects/shop/tests?status=all&sort=name"))
            .header("Authorization", &format!("Bearer {read}"))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        answer["tests"].as_array().unwrap().clone()
    }

    storage_test!(fn nul_and_bad_percent_encoding_in_metadata_are_refused_alike(db) {
        let server = TestServer::start(&db);
        let upload_token = token(&db, "shop", Scope::Upload);
        let body = junit("a", 1, 0);
        for (query, field) in [
            ("branch=ma%00in&commit=abc", "branch"),
            ("branch=main&commit=%ZZ", "commit"),
            ("branch=main&commit=abc&job=%FF", "job"),
            ("branch=main&commit=abc&runner=x%0", "runner"),
        ] {
            let (status, answer) = upload(&server, &upload_token, query, body.as_bytes(), &[]);
            assert_eq!(status, 400, "{query}: {answer}");
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
        // Fields longer than 1024 characters are refused the same way.
        let long = "b".repeat(1025);
        let (status, answer) = upload(&server, &upload_token, &format!("branch={long}&commit=abc"), body.as_bytes(), &[]);
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["field"], "branch");
        assert!(answer["error"]["message"].as_str().unwrap().contains("1024"), "{answer}");
        assert_eq!(count(&db, "uploads"), 0);
        healthy(&server);
    });

    storage_test!(fn nul_in_report_text_is_replaced_with_a_warning(db) {
        let server = TestServer::start(&db);
        let upload_token = token(&db, "shop", Scope::Upload);
        let report = "<testsuite name=\"s\"><testcase classname=\"pkg.A\" name=\"a\0b\">\
                      <failure message=\"boom\0\">trace\0</failure></testcase></testsuite>";
        let task = upload_ok(&server, &upload_token, "branch=main&commit=abc", report.as_bytes());
        let task = await_task(&server, &task);
        assert_eq!(task["status"], "completed", "{task}");
        assert!(warning_codes(&task).contains(&"nul_replaced".to_owned()), "{task}");
        let tests = stored_tests(&server, &token(&db, "shop", Scope::Read));
        assert_eq!(tests.len(), 1);
        assert_eq!(tests[0]["name"], "a\u{FFFD}b");
        healthy(&server);
    });

    storage_test!(fn an_upload_with_too_many_cases_fails_and_stores_nothing(db) {
        let server = TestServer::start_with(&db, ServerOptions { max_cases_per_upload: 5, ..Default::default() });
        let upload_token = token(&db, "shop", Scope::Upload);
        // Eight cases, one per line from line 4: the sixth (line 9) is one too many.
        let task = upload_ok(&server, &upload_token, "branch=main&commit=big", junit("a", 8, 0).as_bytes());
        let task = await_task(&server, &task);
        assert_eq!(task["status"], "failed", "{task}");
        let error = task["error"].as_str().unwrap();
        assert!(error.starts_with("report.xml:9: this upload holds more than 5 test cases"), "{error}");
        assert!(error.contains("--max-cases-per-upload"), "{error}");
        assert_eq!((count(&db, "runs"), count(&db, "results")), (0, 0));
        let read = token(&db, "shop", Scope::Read);
        assert!(stored_tests(&server, &read).is_empty());
        healthy(&server);

        // At the limit, an upload is stored whole.
        let task = upload_ok(&server, &upload_token, "branch=main&commit=fits", junit("b", 5, 0).as_bytes());
        assert_eq!(await_task(&server, &task)["status"], "completed");
        assert_eq!(stored_tests(&server, &read).len(), 5);
        assert_eq!(count(&db, "results"), 5);
    });

    storage_test!(fn long_test_names_are_cut_with_a_warning(db) {
        const MAX_NAME_BYTES: usize = 1000;
        let server = TestServer::start_with(&db, ServerOptions { max_name_bytes: MAX_NAME_BYTES as u64, ..Default::default() });
        let upload_token = token(&db, "shop", Scope::Upload);
        let long_name = "n".repeat(1 << 20);
        let long_class = "c".repeat(200_000);
        let report = format!(
            "<testsuite name=\"s\"><testcase classname=\"{long_class}\" name=\"{long_name}\"/>\
             <testcase classname=\"pkg.A\" name=\"short\"/></testsuite>"
        );
        let task = upload_ok(&server, &upload_token, "branch=main&commit=abc", report.as_bytes());
        let task = await_task(&server, &task);
        assert_eq!(task["status"], "completed", "{task}");
        assert!(warning_codes(&task).contains(&"name_truncated".to_owned()), "{task}");
        let tests = stored_tests(&server, &token(&db, "shop", Scope::Read));
        assert_eq!(tests.len(), 2);
        let long = tests.iter().find(|t| t["name"] != "short").unwrap();
        let (name, classname) = (long["name"].as_str().unwrap(), long["classname"].as_str().unwrap());
        assert!(name.len() <= MAX_NAME_BYTES && name.len() > MAX_NAME_BYTES - 8 && name.starts_with("nnnn"), "{}", name.len());
        assert!(classname.len() <= MAX_NAME_BYTES && classname.starts_with("cccc"), "{}", classname.len());
        healthy(&server);
    });
}

mod bundle_limits {
    use super::*;
    use common::api::{await_task, count, token, upload, upload_ok};
    use flakewatch::ingest::{MAX_ENTRIES, MAX_ENTRY_NAME_BYTES};
    use flakewatch::store::tokens::Scope;
    use std::io::Write;

    fn tar_gz(names: impl Iterator<Item = String>) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let report = b"<testsuite name=\"s\"><testcase classname=\"A\" name=\"t\"/></testsuite>";
        for name in names {
            let mut header = tar::Header::new_gnu();
            header.set_size(report.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, &report[..]).unwrap();
        }
        let mut gz = builder.into_inner().unwrap();
        gz.flush().unwrap();
        gz.finish().unwrap()
    }

    storage_test!(fn bundles_with_too_many_files_or_long_names_are_refused(db) {
        let server = TestServer::start(&db);
        let upload_token = token(&db, "shop", Scope::Upload);
        let too_many = tar_gz((0..=MAX_ENTRIES).map(|i| format!("r/{i}.xml")));
        let (status, answer) = upload(&server, &upload_token, "branch=main&commit=a", &too_many, &[]);
        assert_eq!(status, 413, "{answer}");
        assert_eq!(answer["error"]["code"], "too_many_files");

        let long = format!("{}.xml", "n".repeat(MAX_ENTRY_NAME_BYTES));
        let long_name = tar_gz(["TEST-ok.xml".to_owned(), long].into_iter());
        let (status, answer) = upload(&server, &upload_token, "branch=main&commit=b", &long_name, &[]);
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], "file_name_too_long");
        assert!(answer["error"]["message"].as_str().unwrap().len() < 1000, "{answer}");
        assert_eq!(count(&db, "uploads"), 0);

        // At the limits, a bundle is taken and stored.
        let at_limit = tar_gz((0..MAX_ENTRIES).map(|i| if i == 0 { format!("{}.xml", "n".repeat(MAX_ENTRY_NAME_BYTES - 4)) } else { format!("r/{i}.xml") }));
        let task = upload_ok(&server, &upload_token, "branch=main&commit=c", &at_limit);
        assert_eq!(await_task(&server, &task)["status"], "completed");
        assert_eq!(http().get(server.url("/readyz")).call().unwrap().status(), 200);
    });
}

mod slow_and_busy_clients {
    use super::*;
    use common::api::{count, token, upload};
    use common::reports::junit;
    use common::ServerOptions;
    use flakewatch::store::tokens::Scope;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    /// Starts an upload by hand: headers and `sent` of `length` body bytes, then nothing.
    fn partial_upload(server: &TestServer, token: &str, length: usize, sent: usize) -> TcpStream {
        let addr = server.base_url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST /api/v1/uploads?branch=main&commit=slow HTTP/1.1\r\nHost: {addr}\r\n\
             Authorization: Bearer {token}\r\nContent-Length: {length}\r\n\r\n"
        )
        .unwrap();
        stream.write_all(&vec![b'<'; sent]).unwrap();
        stream.flush().unwrap();
        stream
    }

    /// Reads the server's whole answer (it closes the connection after an error).
    fn answer(mut stream: TcpStream) -> String {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut text = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    text.extend_from_slice(&buf[..n]);
                    if text.windows(4).any(|w| w == b"\r\n\r\n") && text.ends_with(b"}}") {
                        break;
                    }
                }
                Err(err) => panic!(
                    "no answer from the server: {err}; read so far: {}",
                    String::from_utf8_lossy(&text)
                ),
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    storage_test!(fn slow_bodies_get_408_and_the_server_stays_healthy(db) {
        let server = TestServer::start_with(&db, ServerOptions {
            body_idle_timeout: Duration::from_secs(1),
            ..Default::default()
        });
        let upload_token = token(&db, "shop", Scope::Upload);
        let started = Instant::now();
        let text = answer(partial_upload(&server, &upload_token, 1000, 10));
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("\"code\":\"body_too_slow\"") && text.contains("no data came for 1 s"), "{text}");
        assert!(started.elapsed() < Duration::from_secs(10));
        server.shut_down();

        let server = TestServer::start_with(&db, ServerOptions {
            body_timeout: Duration::from_secs(1),
            ..Default::default()
        });
        let text = answer(partial_upload(&server, &upload_token, 1000, 10));
        assert!(text.starts_with("HTTP/1.1 408") && text.contains("not complete within 1 s"), "{text}");
        assert_eq!(count(&db, "uploads"), 0);
        assert_eq!(http().get(server.url("/readyz")).call().unwrap().status(), 200);
    });

    storage_test!(fn a_token_has_a_bounded_number_of_uploads_in_flight(db) {
        let server = TestServer::start_with(&db, ServerOptions { uploads_per_token: 2, ..Default::default() });
        let busy = token(&db, "shop", Scope::Upload);
        let other = token(&db, "shop", Scope::Upload);
        let held = [partial_upload(&server, &busy, 1 << 20, 100), partial_upload(&server, &busy, 1 << 20, 100)];

        // Once both hold their slots (the gauge on /metrics says so), a third upload of the
        // token is turned away. An empty body is refused with 400 after a slot is taken, so
        // the probe stores nothing.
        let in_flight_becomes = |n: usize| {
            let deadline = Instant::now() + Duration::from_secs(20);
            let line = format!("flakewatch_uploads_in_flight {n}\n");
            while !http().get(server.url("/metrics")).call().unwrap().body_mut().read_to_string().unwrap().contains(&line) {
                assert!(Instant::now() < deadline, "uploads in flight never became {n}");
            }
        };
        let probe = |token: &str| {
            let mut response = http()
                .post(server.url("/api/v1/uploads?branch=main&commit=probe"))
                .header("Authorization", &format!("Bearer {token}"))
                .send(&[][..])
                .unwrap();
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = response.body_mut().read_json().unwrap();
            (response.status().as_u16(), retry_after, body)
        };
        in_flight_becomes(2);
        let (status, retry_after, body) = probe(&busy);
        assert_eq!(status, 429, "{body}");
        let refused = (retry_after, body);
        assert_eq!(refused.0.as_deref(), Some("5"));
        assert_eq!(refused.1["error"]["code"], "too_many_uploads");
        // Another token is not held up.
        let (status, answer) = upload(&server, &other, "branch=main&commit=other", junit("a", 1, 0).as_bytes(), &[]);
        assert_eq!(status, 202, "{answer}");

        // When the held uploads end, their slots come back.
        drop(held);
        in_flight_becomes(0);
        let (status, _, body) = probe(&busy);
        assert_eq!(status, 400, "a slot again: {body}");
        assert_eq!(http().get(server.url("/healthz")).call().unwrap().status(), 200);
    });

    storage_test!(fn a_full_store_queue_turns_uploads_away(db) {
        // No workers: uploads wait. Two may wait; the third is refused before its body is
        // read, with a Retry-After a client honours.
        let server = TestServer::start_with(&db, ServerOptions { workers: 0, max_queued_uploads: 2, ..Default::default() });
        let uploader = token(&db, "shop", Scope::Upload);
        let waiting_becomes = |n: i64| {
            // On SQLite an upload reaches the queue from the spool a moment after its 202.
            let deadline = Instant::now() + Duration::from_secs(20);
            while count(&db, "store_tasks WHERE kind = 'store' AND status = 'enqueued'") != n {
                assert!(Instant::now() < deadline, "the queue never held {n}");
            }
        };
        for i in 0..2 {
            let (status, answer) = upload(&server, &uploader, &format!("branch=main&commit=c{i}"), junit("a", 1, 0).as_bytes(), &[]);
            assert_eq!(status, 202, "{answer}");
            waiting_becomes(i + 1);
        }
        let mut response = http()
            .post(server.url("/api/v1/uploads?branch=main&commit=c2"))
            .header("Authorization", &format!("Bearer {uploader}"))
            .send(junit("a", 1, 0).as_bytes())
            .unwrap();
        assert_eq!(response.status().as_u16(), 503);
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(retry_after.as_deref(), Some("30"));
        let body: serde_json::Value = response.body_mut().read_json().unwrap();
        assert_eq!(body["error"]["code"], "queue_full", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("--max-queued-uploads"), "{body}");
        assert_eq!(count(&db, "uploads"), 2, "the refused upload was not kept");
        assert_eq!(http().get(server.url("/healthz")).call().unwrap().status(), 200);
    });
}

storage_test!(fn metrics_show_per_project_gauges(db) {
    use common::api::{await_task, token, upload_ok};
    use flakewatch::store::tokens::Scope;
    let server = TestServer::start(&db);
    let upload_token = token(&db, "shop", Scope::Upload);
    let now = chrono::Utc::now();
    // The same commit fails, then passes on a rerun: flaky, and one red run of two.
    for (attempt, case) in [(1, "<testcase classname=\"A\" name=\"t\"><failure message=\"x\"/></testcase>"), (2, "<testcase classname=\"A\" name=\"t\"/>")] {
        let at = now.format("%Y-%m-%dT%H:%M:%SZ");
        let report = format!("<testsuite name=\"s\">{case}</testsuite>");
        let task = upload_ok(&server, &upload_token, &format!("branch=main&commit=a&attempt={attempt}&started_at={at}&finished_at={at}"), report.as_bytes());
        assert_eq!(await_task(&server, &task)["status"], "completed");
    }
    let text = http().get(server.url("/metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    let samples = common::exposition::parse(&text);
    for (series, value) in [
        ("flakewatch_project_flaky_tests{project=\"shop\"}", 1.0),
        ("flakewatch_project_broken_tests{project=\"shop\"}", 0.0),
        ("flakewatch_project_red_run_share{project=\"shop\"}", 0.5),
        ("flakewatch_uploads_received_total", 2.0),
        ("flakewatch_tasks_finished_total{status=\"completed\"}", 2.0),
        ("flakewatch_task_store_seconds_count", 2.0),
        ("flakewatch_store_tasks{status=\"completed\"}", 2.0),
    ] {
        assert_eq!(samples.get(series), Some(&value), "{series} in:\n{text}");
    }
});

/// A PostgreSQL outage (played by cutting a forwarder in front of the shared server):
/// every request, `/readyz` included, answers 503 within a second, and the server comes
/// back by itself when the database does.
#[test]
fn postgres_outage_answers_503_within_a_second_and_recovers() {
    use common::api::token;
    use common::tcp_cut::TcpCut;
    use common::{ServerOptions, TestDb};
    use flakewatch::store::tokens::Scope;
    use std::time::{Duration, Instant};

    let Some(db) = TestDb::postgres() else { return };
    let host_port = db
        .url
        .split('@')
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let forwarder = TcpCut::start(&host_port);
    let server = TestServer::start_with(
        &db,
        ServerOptions {
            database_url: Some(db.url.replacen(&host_port, &forwarder.addr.to_string(), 1)),
            workers: 1,
            ..Default::default()
        },
    );
    let read = token(&db, "shop", Scope::Read);
    let call = |path: &str| {
        let started = Instant::now();
        let response = http()
            .get(server.url(path))
            .header("Authorization", &format!("Bearer {read}"))
            .call()
            .unwrap();
        (
            response.status().as_u16(),
            response.headers().get("retry-after").is_some(),
            started.elapsed(),
        )
    };
    let paths = [
        "/readyz",
        "/api/v1/projects/shop/tests",
        "/projects/shop",
        "/metrics",
    ];
    for path in paths {
        assert_eq!(call(path).0, 200, "{path} before the outage");
    }

    forwarder.cut();
    // Pages kept from before may be served until the server knows it can no longer hear
    // of changes (its notification connection went through the forwarder too).
    server.until_listening(false);
    for path in paths {
        let (status, retry_after, took) = call(path);
        assert_eq!(status, 503, "{path} during the outage");
        assert!(took < Duration::from_secs(1), "{path} took {took:?}");
        assert!(
            retry_after || path == "/readyz",
            "{path} without Retry-After"
        );
    }
    assert_eq!(
        http().get(server.url("/healthz")).call().unwrap().status(),
        200
    );

    forwarder.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    while call("/readyz").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the server did not reconnect within 30 s"
        );
    }
    for path in paths {
        assert_eq!(call(path).0, 200, "{path} after the outage");
    }
}

/// Two `serve` replicas on one PostgreSQL: a task stored by one replica's worker is awaited
/// through the other, which learns of its end by NOTIFY (its long poll returns the moment
/// the task ends, or the client's 60 s timeout fails the test).
#[test]
fn a_task_stored_by_one_replica_is_awaited_through_the_other() {
    use common::api::{await_task, task, token, upload_ok};
    use common::reports::junit;
    use common::{ServerOptions, TestDb};
    use flakewatch::store::tokens::Scope;
    use std::sync::{mpsc, Mutex};
    use std::time::Duration;

    let Some(db) = TestDb::postgres() else { return };
    // The storing replica's worker stops after its first batch until the test lets it go.
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let observer: flakewatch::tasks::BatchObserver = Box::new(move |_, _| {
        let _ = entered_tx.send(());
        let _ = release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(60));
    });
    let _storing = TestServer::start_with(
        &db,
        ServerOptions {
            workers: 1,
            batch_observer: Some(observer),
            ..Default::default()
        },
    );
    let waiting = TestServer::start_with(
        &db,
        ServerOptions {
            workers: 0,
            ..Default::default()
        },
    );
    let upload_token = token(&db, "shop", Scope::Upload);

    let task_token = upload_ok(
        &waiting,
        &upload_token,
        "branch=main&commit=a",
        junit("t", 3, 1).as_bytes(),
    );
    entered
        .recv_timeout(Duration::from_secs(30))
        .expect("the storing replica never took the task");
    std::thread::scope(|scope| {
        let awaited = scope.spawn(|| await_task(&waiting, &task_token));
        // A bounded wait through the waiting replica: still running, so the long poll above
        // (sent before it) is waiting too when the worker is let go.
        let mut still = common::http()
            .get(waiting.url(&format!("/api/v1/tasks/{task_token}?wait=1")))
            .call()
            .unwrap();
        let still: serde_json::Value = still.body_mut().read_json().unwrap();
        assert_eq!(still["status"], "running", "{still}");
        release.send(()).unwrap();
        let ended = awaited.join().unwrap();
        assert_eq!(ended["status"], "completed", "{ended}");
        assert_eq!(ended["progress"]["records_stored"], 4, "{ended}");
    });
    assert_eq!(task(&waiting, &task_token)["status"], "completed");
}

mod head_and_connection_limits {
    use super::*;
    use common::api::{count, token, upload};
    use common::ServerOptions;
    use flakewatch::store::tokens::Scope;
    use flakewatch::web::request_limits::RequestLimits;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    fn limited(db: &common::TestDb, limits: RequestLimits) -> TestServer {
        TestServer::start_with(
            db,
            ServerOptions {
                request_limits: limits,
                ..Default::default()
            },
        )
    }

    /// Status, the JSON error's code and message, and whether the security headers came.
    fn refusal(mut response: ureq::http::Response<ureq::Body>) -> (u16, String, String, bool) {
        let status = response.status().as_u16();
        let nosniff = response.headers().contains_key("x-content-type-options");
        let body: serde_json::Value = response.body_mut().read_json().unwrap();
        let error = &body["error"];
        (
            status,
            error["code"].as_str().unwrap().to_owned(),
            error["message"].as_str().unwrap().to_owned(),
            nosniff,
        )
    }

    storage_test!(fn long_uris_get_414_and_large_headers_431_with_json(db) {
        let server = limited(&db, RequestLimits {
            max_uri_bytes: 2048,
            max_header_bytes: 4096,
            ..Default::default()
        });
        let upload_token = token(&db, "shop", Scope::Upload);

        let long_query = format!("/healthz?pad={}", "a".repeat(2100));
        let (status, code, message, nosniff) = refusal(http().get(server.url(&long_query)).call().unwrap());
        assert_eq!((status, code.as_str()), (414, "uri_too_long"), "{message}");
        assert!(message.contains("over the limit of 2048"), "{message}");
        assert!(nosniff, "the refusal lacks the security headers");
        let (status, answer) = upload(&server, &upload_token, &format!("branch={}&commit=a", "b".repeat(2100)), b"<testsuite/>", &[]);
        assert_eq!((status, answer["error"]["code"].as_str()), (414, Some("uri_too_long")), "{answer}");
        assert_eq!(count(&db, "uploads"), 0);
        // Up to the limit, a URI is served.
        let at_limit = format!("/healthz?pad={}", "a".repeat(2048 - "/healthz?pad=".len()));
        assert_eq!(http().get(server.url(&at_limit)).call().unwrap().status(), 200);

        let big = "v".repeat(4096);
        let (status, code, message, _) = refusal(http().get(server.url("/healthz")).header("X-Big", &big).call().unwrap());
        assert_eq!((status, code.as_str()), (431, "headers_too_large"), "{message}");
        assert!(message.contains("over the limit of 4096"), "{message}");
        assert_eq!(http().get(server.url("/healthz")).header("X-Small", &big[..3000]).call().unwrap().status(), 200);

        // Past the HTTP library's own 128 KiB head buffer the answer is still 431 (with no
        // body: that layer writes it), and the server goes on.
        let addr = server.base_url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        // The server may answer and close before all of it is written.
        let _ = write!(stream, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Huge: {}\r\n\r\n", "v".repeat(200 << 10));
        let answer = read_answer(&mut stream, Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
        assert_eq!(http().get(server.url("/healthz")).call().unwrap().status(), 200);
        assert_eq!(http().get(server.url("/readyz")).call().unwrap().status(), 200);
    });

    /// A keep-alive connection that has had one answer and stays open.
    fn open_connection(server: &TestServer) -> TcpStream {
        let mut stream = send_healthz(server);
        assert!(read_answer(&mut stream, Duration::from_secs(10)).starts_with("HTTP/1.1 200"));
        stream
    }

    fn send_healthz(server: &TestServer) -> TcpStream {
        let addr = server.base_url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        write!(stream, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        stream
    }

    /// What arrives within `wait` (empty if nothing does).
    fn read_answer(stream: &mut TcpStream, wait: Duration) -> String {
        stream.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                String::new()
            }
            Err(err) => panic!("reading the answer: {err}"),
        }
    }

    storage_test!(fn connections_past_the_limit_wait_until_one_closes(db) {
        // Two HTTP workers (the test server's) of two connections each.
        let server = limited(&db, RequestLimits { max_connections: 2, ..Default::default() });
        let mut open: Vec<TcpStream> = (0..4).map(|_| open_connection(&server)).collect();
        let mut waiting = send_healthz(&server);
        // Nothing can show that an answer does not come but a bounded wait for it.
        assert_eq!(read_answer(&mut waiting, Duration::from_millis(500)), "", "a fifth connection was served");
        drop(open.pop());
        assert!(read_answer(&mut waiting, Duration::from_secs(10)).starts_with("HTTP/1.1 200"));
        drop(open);
        drop(waiting);
        assert_eq!(http().get(server.url("/readyz")).call().unwrap().status(), 200);
    });
}

mod uploads_while_a_report_is_stored {
    use super::*;
    use common::api::{await_task, count, get_json, task, token, upload, upload_ok};
    use common::reports::junit;
    use common::ServerOptions;
    use flakewatch::store::tokens::Scope;
    use flakewatch::tasks::Progress;
    use std::sync::{mpsc, Mutex};
    use std::time::Duration;

    /// Cases in the large report: several batches of the writer's 1000.
    const LARGE: usize = 3000;
    const OTHERS: usize = 50;

    // On SQLite the other uploads are answered from the spool, whatever holds the
    // database's write lock, and since the large store commits batch by batch (staged), they
    // are moved in and stored while it waits between two batches. PostgreSQL has no such
    // lock; the same holds there.
    storage_test!(fn uploads_are_answered_and_stored_while_a_large_report_is_stored(db) {
        // The large store stops after its first batch, inside its transaction, until the
        // test lets it go on. Smaller reports never reach 1000 stored cases.
        let (held_tx, held_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let hold = Mutex::new(Some((held_tx, release_rx)));
        let observer = Box::new(move |_task: i64, progress: Progress| {
            if progress.records_stored < 1000 {
                return;
            }
            let taken = hold.lock().unwrap().take();
            if let Some((held, release)) = taken {
                held.send(()).unwrap();
                // Bounded, so a failing test cannot hang the worker for good.
                let _ = release.recv_timeout(Duration::from_secs(120));
            }
        });
        let server = TestServer::start_with(&db, ServerOptions { batch_observer: Some(observer), ..Default::default() });
        let upload_token = token(&db, "shop", Scope::Upload);
        let read = token(&db, "shop", Scope::Read);
        let large = upload_ok(&server, &upload_token, "branch=main&commit=large", junit("large", LARGE, 0).as_bytes());
        held_rx.recv_timeout(Duration::from_secs(60)).expect("the large report's store never reached its first batch");

        let others: Vec<String> = (0..OTHERS)
            .map(|i| {
                let report = junit(&format!("small{i}"), 2, 0);
                let (status, answer) = upload(&server, &upload_token, &format!("branch=main&commit=c{i}"), report.as_bytes(), &[]);
                assert_eq!(status, 202, "upload {i} while the large report is stored: {answer}");
                answer["task"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(http().get(server.url("/readyz")).call().unwrap().status(), 200);
        let (status, answer) = get_json(&server, &read, "/api/v1/projects/shop/tests?status=all");
        assert_eq!(status, 200, "{answer}");
        // Each is stored (and scored) while the large store still waits between batches,
        // and `?wait=` wakes for each, spooled or not when it began.
        let mut runs: Vec<i64> = others
            .iter()
            .map(|token| {
                let done = await_task(&server, token);
                assert_eq!(done["status"], "completed", "{done}");
                done["run_id"].as_i64().unwrap()
            })
            .collect();
        runs.sort_unstable();
        runs.dedup();
        assert_eq!(runs.len(), OTHERS);
        let still = task(&server, &large);
        assert_eq!(still["status"], "running", "{still}");
        assert_eq!(still["progress"]["records_stored"], 1000, "{still}");
        // Its first batch is committed but belongs to no run: no reader sees a part of it.
        assert_eq!(count(&db, "runs"), OTHERS as i64);
        assert_eq!(count(&db, "results"), 2 * OTHERS as i64);
        let staged = match db.backend {
            flakewatch::db::Backend::Sqlite => 1000,
            flakewatch::db::Backend::Postgres => 0,
        };
        assert_eq!(count(&db, "staged_results"), staged);

        release_tx.send(()).unwrap();
        let done = await_task(&server, &large);
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["progress"]["records_stored"], LARGE, "{done}");
        // Each upload stored exactly once, and nothing left staged.
        assert_eq!(count(&db, "uploads"), OTHERS as i64 + 1);
        assert_eq!(count(&db, "runs"), OTHERS as i64 + 1);
        assert_eq!(count(&db, "results"), (LARGE + 2 * OTHERS) as i64);
        assert_eq!(count(&db, "staged_results"), 0);
    });
}

mod body_memory {
    use super::*;
    use common::api::{await_task, count, token, upload};
    use common::ServerOptions;
    use flakewatch::store::tokens::Scope;
    use std::io::Write;

    /// A gzip report of `cases` passing tests whose names compress badly (a simple
    /// pseudo-random sequence), so its stored form is about 20 bytes a case.
    fn incompressible_report(seed: u64, cases: usize) -> Vec<u8> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut xml = format!("<testsuite name=\"s{seed}\" tests=\"{cases}\">\n");
        for _ in 0..cases {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            xml.push_str(&format!(
                "<testcase classname=\"c\" name=\"t{state:016x}{:016x}\"/>\n",
                state.rotate_left(17)
            ));
        }
        xml.push_str("</testsuite>\n");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(xml.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    // Bodies that do not fit the memory for bodies wait for room instead of being refused:
    // with room for 64 KiB, one report of several times that, then eight at once that each
    // need more than half of it, are all accepted and each stored once.
    storage_test!(fn uploads_larger_than_the_body_memory_wait_for_room(db) {
        let server = TestServer::start_with(&db, ServerOptions { upload_memory_bytes: 64 << 10, ..Default::default() });
        let uploader = token(&db, "shop", Scope::Upload);
        let gzip = [("Content-Encoding", "gzip")];
        let big = incompressible_report(0, 12_000);
        assert!(big.len() > 3 * (64 << 10), "the report is only {} bytes", big.len());
        let (status, answer) = upload(&server, &uploader, "branch=main&commit=big", &big, &gzip);
        assert_eq!(status, 202, "{answer}");
        let mut tasks = vec![answer["task"].as_str().unwrap().to_owned()];

        let at_once: Vec<Vec<u8>> = (1..=8).map(|seed| incompressible_report(seed, 2_500)).collect();
        assert!(at_once.iter().all(|body| body.len() > 40 << 10));
        let answers: Vec<(u16, serde_json::Value)> = std::thread::scope(|scope| {
            let sending: Vec<_> = at_once
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    let (server, uploader) = (&server, &uploader);
                    scope.spawn(move || upload(server, uploader, &format!("branch=main&commit=c{i}"), body, &gzip))
                })
                .collect();
            sending.into_iter().map(|sender| sender.join().unwrap()).collect()
        });
        for (status, answer) in answers {
            assert_eq!(status, 202, "{answer}");
            tasks.push(answer["task"].as_str().unwrap().to_owned());
        }
        for task in &tasks {
            assert_eq!(await_task(&server, task)["status"], "completed");
        }
        assert_eq!(count(&db, "runs"), 9);
        assert_eq!(count(&db, "results"), 12_000 + 8 * 2_500);
        assert_eq!(http().get(server.url("/healthz")).call().unwrap().status(), 200);
    });
}
