//! The dashboard's pages over a real server on both backends: runs, one run's verdict,
//! commits, the tests list, the project's window and charts, errors as HTML pages.

mod common;

use common::api::{await_task, get_json, get_text, token, upload_ok};
use common::{http, ServerOptions, TestDb, TestServer};
use flakewatch::store::run_views::{self, RunRow};
use flakewatch::store::tokens::Scope;
use flakewatch::store::{data_versions, projects, run_verdicts, test_views};
use serde_json::Value;

const XSS: &str = "<script>alert(1)</script>";

/// How one test did in one run.
#[derive(Clone, Copy)]
enum Did {
    Pass,
    Fail(&'static str),
    /// Failed, then passed on an in-run retry: flaky evidence.
    RetryPass,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn report(tests: &[(&str, Did)]) -> String {
    let mut xml = String::from("<testsuite name=\"app\">");
    for (name, did) in tests {
        let case = format!(
            "<testcase classname=\"app.Cart\" name=\"{}\" time=\"0.1\"",
            escape(name)
        );
        xml.push_str(&match did {
            Did::Pass => format!("{case}/>"),
            Did::Fail(message) => format!(
                "{case}><failure message=\"{}\"/><rerunFailure message=\"{}\"/></testcase>",
                escape(message),
                escape(message)
            ),
            Did::RetryPass => {
                format!("{case}><flakyFailure message=\"timed out\"/></testcase>")
            }
        });
    }
    xml.push_str("</testsuite>");
    xml
}

/// Uploads one run of job `unit` on `main`, started on November `day` at `hour`:00.
fn store(
    server: &TestServer,
    upload: &str,
    day: u32,
    commit: &str,
    attempt: u32,
    tests: &[(&str, Did)],
) {
    let query = format!(
        "branch=main&default_branch=main&commit={commit}&job=unit&attempt={attempt}&pipeline=p-{commit}\
         &started_at=2026-11-{day:02}T{hour:02}:00:00Z&finished_at=2026-11-{day:02}T{hour:02}:07:00Z\
         &build_url=https://ci.example/build/{day}-{attempt}",
        hour = 8 + attempt
    );
    let task = upload_ok(server, upload, &query, report(tests).as_bytes());
    assert_eq!(await_task(server, &task)["status"], "completed");
}

/// Ten days on main. `wobbly` passes on retry now and then (flaky); `regressed` breaks on
/// day 7 for good (broken); the XSS-named test fails for the first time on the last day
/// (new). The last commit is rerun, and its rerun is red only because of `regressed` (the
/// rerun leaves the XSS-named test out, so nothing says it passed there: it stays new).
fn seeded(db: &TestDb) -> (TestServer, String) {
    let server = TestServer::start(db);
    let upload = token(db, "shop", Scope::Upload);
    for day in 1..=10u32 {
        let last = day == 10;
        let tests = [
            ("steady", Did::Pass),
            (
                "wobbly",
                match day {
                    2 | 5 => Did::RetryPass,
                    10 => Did::Fail("timed out after 30 ms"),
                    _ => Did::Pass,
                },
            ),
            (
                "regressed",
                if day >= 7 {
                    Did::Fail("expected total 30 but was 0")
                } else {
                    Did::Pass
                },
            ),
            (
                XSS,
                if last {
                    Did::Fail("<img src=x onerror=alert(2)>")
                } else {
                    Did::Pass
                },
            ),
        ];
        store(&server, &upload, day, &format!("c{day:02}"), 1, &tests);
    }
    let rerun = [
        ("steady", Did::Pass),
        ("wobbly", Did::Pass),
        ("regressed", Did::Fail("expected total 30 but was 0")),
    ];
    store(&server, &upload, 10, "c10", 2, &rerun);
    (server, upload)
}

fn page(server: &TestServer, path: &str) -> (u16, String, String) {
    let mut response = http().get(server.url(path)).call().unwrap();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (
        response.status().as_u16(),
        kind,
        response.body_mut().read_to_string().unwrap(),
    )
}

/// The 200 page at `path`.
fn ok(server: &TestServer, path: &str) -> String {
    let (status, kind, body) = page(server, path);
    assert_eq!(status, 200, "{path}: {body}");
    assert!(kind.starts_with("text/html"), "{path}: {kind}");
    body
}

/// An error page: HTML, with its status, a way back, and the message.
fn error_page(server: &TestServer, path: &str, status: u16) -> String {
    let (got, kind, body) = page(server, path);
    assert_eq!(got, status, "{path}: {body}");
    assert!(
        kind.starts_with("text/html"),
        "{path} answers HTML, not {kind}: {body}"
    );
    assert!(
        body.contains("<a href=\"/\">All projects</a>"),
        "a way back: {body}"
    );
    body
}

fn runs(db: &TestDb) -> Vec<RunRow> {
    let mut conn = db.connect();
    let project = projects::find(&mut conn, "shop").unwrap().unwrap();
    run_views::recent(&mut conn, project.id, 100).unwrap()
}

fn run_project(db: &TestDb) -> i64 {
    let mut conn = db.connect();
    projects::find(&mut conn, "shop").unwrap().unwrap().id
}

fn test_id(db: &TestDb, name: &str) -> i64 {
    let mut conn = db.connect();
    let project = projects::find(&mut conn, "shop").unwrap().unwrap();
    let filter = test_views::TestFilter {
        project_id: project.id,
        status: None,
        job: None,
        branch: None,
        search: Some(name.to_owned()),
        sort: test_views::TestSort::Name,
        limit: 10,
        owner: None,
        offset: 0,
    };
    test_views::list(&mut conn, &filter).unwrap()[0].id
}

/// `href="…"` values of the page that start with `prefix`.
fn links(html: &str, prefix: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&#38;", "&"))
        .filter(|href| href.starts_with(prefix))
        .collect()
}

storage_test!(fn a_red_run_says_whose_fault_each_failure_is(db) {
    let (server, _) = seeded(&db);
    let all = runs(&db);
    let last = all.iter().find(|r| r.commit_sha == "c10" && r.attempt == 1).unwrap();
    let rerun = all.iter().find(|r| r.commit_sha == "c10" && r.attempt == 2).unwrap();
    let html = ok(&server, &format!("/projects/shop/runs/{}", last.id));
    assert!(
        html.contains("3 tests failed: 1 new (most likely this change), 1 already broken on main, 1 known flaky"),
        "counts first: {html}"
    );
    let new = html.find("New failures: most likely this change (1)").expect("new failures first");
    let broken = html.find("Already broken on the default branch (1)").expect(&html);
    let flaky = html.find("Known flaky (1)").expect(&html);
    assert!(new < broken && broken < flaky, "the class that needs attention first");
    assert!(html.contains("timed out after 30 ms"), "messages are shown: {html}");
    assert!(html.contains("already failing on main since commit c07"), "{html}");
    for name in ["wobbly", "regressed"] {
        let href = format!("/projects/shop/tests/{}", test_id(&db, name));
        assert!(links(&html, "/projects/shop/tests/").contains(&href), "{name} links to its page: {html}");
    }
    assert!(!html.contains(XSS) && !html.contains("<img src=x"), "names and messages are inert: {html}");
    assert!(html.contains("app.Cart::<wbr>&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
    assert!(
        links(&html, "/projects/shop/runs/").contains(&format!("/projects/shop/runs/{}", rerun.id)),
        "the other attempt is linked: {html}"
    );
    assert!(html.contains("href=\"https://ci.example/build/10-1\""), "build link: {html}");

    let green = all.iter().find(|r| r.commit_sha == "c01").unwrap();
    let html = ok(&server, &format!("/projects/shop/runs/{}", green.id));
    assert!(html.contains("Every test passed or was skipped"), "{html}");
    assert!(html.contains("This is the only run of job unit at this commit."), "{html}");

    let missing = error_page(&server, "/projects/shop/runs/999999", 404);
    assert!(missing.contains("project `shop` has no run 999999"), "{missing}");
    assert!(missing.contains("href=\"/projects/shop/runs\""), "back to the runs: {missing}");
    let word = error_page(&server, "/projects/shop/runs/latest", 404);
    assert!(word.contains("there is no run `latest`"), "{word}");
    let project = error_page(&server, "/projects/nope/runs/1", 404);
    assert!(project.contains("there is no project `nope`"), "{project}");
});

storage_test!(fn a_commit_gathers_its_runs_with_their_verdicts(db) {
    let (server, _) = seeded(&db);
    let html = ok(&server, "/projects/shop/commits/c10");
    assert!(html.contains("2 runs of this commit, 2 red."), "{html}");
    assert_eq!(links(&html, "/projects/shop/runs/").len(), 2, "{html}");
    assert!(html.contains("1 test failed, none of them new: 1 already broken on main"), "the rerun's verdict: {html}");
    // Read together, each run's summary is the one its own verdict gives.
    let mut conn = db.connect();
    let now = chrono::Utc::now().naive_utc();
    let commit_runs: Vec<RunRow> = runs(&db).into_iter().filter(|run| run.commit_sha == "c10").collect();
    assert_eq!(commit_runs.len(), 2);
    for run in commit_runs {
        let verdict = run_verdicts::verdict(&mut conn, run_project(&db), run.id, now).unwrap().unwrap();
        assert!(html.contains(&verdict.summary), "run {}: {}: {html}", run.id, verdict.summary);
    }
    let missing = error_page(&server, "/projects/shop/commits/f00d", 404);
    assert!(missing.contains("project `shop` has no run of commit `f00d`"), "{missing}");
});

storage_test!(fn the_runs_list_filters_and_pages_by_seek(db) {
    let (server, _) = seeded(&db);
    let html = ok(&server, "/projects/shop/runs");
    assert_eq!(links(&html, "/projects/shop/runs/").len(), 11, "{html}");
    assert_eq!(html.matches("<tr class=\"red\">").count(), 5, "days 7 to 10 and the rerun: {html}");

    let red = ok(&server, "/projects/shop/runs?outcome=red");
    assert_eq!(links(&red, "/projects/shop/runs/").len(), 5, "{red}");
    assert!(red.contains("<option value=\"red\" selected>"), "the filter shows: {red}");

    // Pages of 4, newest first, each older than the last: 4 + 4 + 3, then nothing.
    let mut seen = Vec::new();
    let mut path = "/projects/shop/runs?limit=4".to_owned();
    for expected in [4, 4, 3] {
        let html = ok(&server, &path);
        let ids = links(&html, "/projects/shop/runs/");
        assert_eq!(ids.len(), expected, "{path}: {html}");
        seen.extend(ids);
        let next = links(&html, "/projects/shop/runs?limit=4&cursor=");
        if expected == 3 {
            assert!(next.is_empty(), "the last page has no next: {html}");
        } else {
            assert_eq!(next.len(), 1, "a next page that keeps the size: {html}");
            path = next[0].clone();
        }
    }
    let newest_first: Vec<String> = runs(&db).iter().map(|r| format!("/projects/shop/runs/{}", r.id)).collect();
    assert_eq!(seen, newest_first, "pages follow each other with no gap or repeat");

    let none = ok(&server, "/projects/shop/runs?job=e2e");
    assert!(none.contains("No run matches these filters."), "{none}");
    let bad = error_page(&server, "/projects/shop/runs?outcome=purple", 400);
    assert!(bad.contains("`outcome` is one of all, red, green, not `purple`"), "{bad}");
    assert!(bad.contains("<code>outcome</code>"), "names the parameter: {bad}");
    assert!(bad.contains("<a href=\"/projects/shop/runs\">Back to every run of the project</a>"), "a way back: {bad}");
    let cursor = error_page(&server, "/projects/shop/runs?cursor=yesterday", 400);
    assert!(cursor.contains("`cursor`"), "{cursor}");
    error_page(&server, "/projects/nope/runs", 404);
});

storage_test!(fn the_tests_list_searches_sorts_filters_and_pages(db) {
    let (server, _) = seeded(&db);
    let html = ok(&server, "/projects/shop/tests");
    assert_eq!(links(&html, "/projects/shop/tests/").len(), 4, "every status: {html}");
    let wobbly = html.find("app.Cart::wobbly").unwrap();
    let steady = html.find("app.Cart::steady").unwrap();
    assert!(wobbly < steady, "impact first: {html}");
    assert!(html.contains("app.Cart::&#60;script&#62;alert(1)&#60;/script&#62;") && !html.contains(XSS), "{html}");

    let flaky = ok(&server, "/projects/shop/tests?status=flaky");
    assert_eq!(links(&flaky, "/projects/shop/tests/"), [format!("/projects/shop/tests/{}", test_id(&db, "wobbly"))]);
    let healthy = ok(&server, "/projects/shop/tests?status=healthy&sort=name");
    assert!(healthy.contains("app.Cart::steady"), "{healthy}");
    let found = ok(&server, "/projects/shop/tests?search=REGRESS");
    assert_eq!(links(&found, "/projects/shop/tests/").len(), 1, "{found}");
    assert!(found.contains("value=\"REGRESS\""), "the search stays in the form: {found}");

    // By name, two a page: (script), regressed | steady, wobbly.
    let first = ok(&server, "/projects/shop/tests?sort=name&limit=2");
    assert!(first.contains("Tests 1 to 2."), "{first}");
    let next = links(&first, "/projects/shop/tests?sort=name&limit=2&page=2");
    assert_eq!(next.len(), 1, "a next link that keeps sort and size: {first}");
    let second = ok(&server, &next[0]);
    assert!(second.contains("Tests 3 to 4.") && second.contains("app.Cart::wobbly"), "{second}");
    assert!(second.contains("← Previous"), "{second}");

    // Impact order paged one at a time: the costly tests, then the rest, each once.
    let mut one_by_one: Vec<String> = (1..=5)
        .flat_map(|page| links(&ok(&server, &format!("/projects/shop/tests?limit=1&page={page}")), "/projects/shop/tests/"))
        .collect();
    assert_eq!(one_by_one.len(), 4, "{one_by_one:?}");
    one_by_one.sort();
    one_by_one.dedup();
    assert_eq!(one_by_one.len(), 4, "no test twice: {one_by_one:?}");

    // Column headings sort, keeping the filters and going back to the first page.
    let filtered = ok(&server, "/projects/shop/tests?job=unit&page=2&limit=1");
    for (word, heading) in [("name", "Test"), ("score", "Score"), ("failure_rate", "Failure rate"), ("last_flaky", "Last flaky (UTC)")] {
        let href = format!("/projects/shop/tests?job=unit&#38;sort={word}&#38;limit=1");
        assert!(filtered.contains(&format!("<a href=\"{href}\">{heading}</a>")), "{heading}: {filtered}");
    }
    assert!(filtered.contains("aria-sort=\"descending\">Red runs caused"), "the current sort is marked: {filtered}");
    assert!(filtered.contains("of those in the 20 newest runs of unit."), "the job filter says what it keeps: {filtered}");
    let by_score = ok(&server, "/projects/shop/tests?sort=score");
    assert!(by_score.contains("<a href=\"/projects/shop/tests\">Red runs caused</a>"), "{by_score}");

    let none = ok(&server, "/projects/shop/tests?search=nothing-like-it");
    assert!(none.contains("No test matches these filters."), "{none}");
    let unowned = ok(&server, "/projects/shop/tests?owner=%40nobody");
    assert!(unowned.contains("No test matches these filters.") && unowned.contains("value=\"@nobody\""), "{unowned}");
    let bad = error_page(&server, "/projects/shop/tests?sort=fame", 400);
    assert!(bad.contains("`sort` is one of impact, score, failure_rate, last_flaky, name, not `fame`"), "{bad}");
    error_page(&server, "/projects/shop/tests?status=wobbly", 400);
    error_page(&server, "/projects/shop/tests?page=0", 400);
    error_page(&server, "/projects/nope/tests", 404);
    let missing = error_page(&server, "/projects/shop/tests/999999", 404);
    assert!(missing.contains("project `shop` has no scored test 999999"), "{missing}");
    error_page(&server, "/projects/shop/tests/abc", 404);
});

storage_test!(fn the_project_page_shows_its_window_with_charts_and_links(db) {
    let (server, _) = seeded(&db);
    let html = ok(&server, "/projects/shop");
    // The window counts back from the newest run (Nov 10), not from today.
    assert!(html.contains("CI over 30 days: 2026-10-12 to 2026-11-10"), "{html}");
    assert!(html.contains("red runs of 11"), "{html}");
    assert!(html.contains("<title id=\"red-runs-title\">Red runs per day, by cause</title>"), "{html}");
    assert!(html.contains("<title id=\"feedback-title\">"), "{html}");
    assert!(html.contains("\nOct 12\n</text>"), "dated axis: {html}");
    assert!(!html.contains("Nov 11"), "no label past the window: {html}");
    assert!(html.contains("href=\"/projects/shop/tests?status=healthy\""), "counts open the list: {html}");
    assert!(html.contains("href=\"/projects/shop/tests?status=new\""), "{html}");
    let run_links = links(&html, "/projects/shop/runs/");
    assert_eq!(run_links.len(), 11, "recent runs open their pages: {html}");
    assert!(links(&html, "/projects/shop/commits/").contains(&"/projects/shop/commits/c10".to_owned()), "{html}");

    // Nothing before Nov 1: the 30-day cards have nothing to compare with.
    assert_eq!(html.matches("title=\"nothing to compare with in the 30 days before\">").count(), 4, "{html}");
    for chart in ["flaky-per-run", "store-times", "cost"] {
        assert!(html.contains(&format!("<title id=\"{chart}-title\">")), "{chart}: {html}");
    }
    assert!(html.contains("<desc id=\"feedback-desc\">From 2026-10-12 to 2026-11-10. median, on 10 days with data"), "{html}");

    let week = ok(&server, "/projects/shop?days=7");
    assert!(week.contains("CI over 7 days: 2026-11-04 to 2026-11-10"), "{week}");
    assert!(week.contains("red runs of 8"), "{week}");
    let cards = week.split("aria-label=\"Accuracy, promptness and cost").nth(1).unwrap().split("</section>").next().unwrap();
    // Against Oct 28 to Nov 3: no red run then, the same median feedback, 21 runner minutes.
    assert!(cards.contains("red runs of 8</a>\n    <span class=\"change change-worse\" title=\"against the 7 days before\">up from none</span>"), "{cards}");
    assert!(cards.contains("<span class=\"change change-same\" title=\"against the 7 days before\">±0.0 min</span>"), "{cards}");
    assert!(cards.contains("<span class=\"big\">56</span> runner minutes\n    <span class=\"change change-worse\" title=\"against the 7 days before\">+167%</span>"), "{cards}");
    let pinned = ok(&server, "/projects/shop?since=2026-11-09&until=2026-11-10&job=unit");
    assert!(pinned.contains("CI over 2 days: 2026-11-09 to 2026-11-10"), "{pinned}");
    assert!(pinned.contains("3</span> red runs of 3"), "{pinned}");
    let other_job = ok(&server, "/projects/shop?job=e2e");
    assert!(other_job.contains("No run in this window with these filters."), "{other_job}");

    for (query, field) in [("days=14", "days"), ("since=2026-11-10&until=2026-11-01", "since"), ("until=soon", "until")] {
        let bad = error_page(&server, &format!("/projects/shop?{query}"), 400);
        assert!(bad.contains(&format!("<code>{field}</code>")), "{query}: {bad}");
    }
    let missing = error_page(&server, "/projects/nope", 404);
    assert!(missing.contains("there is no project `nope`"), "{missing}");

    // The test page's history links each result to its run.
    let test = ok(&server, &format!("/projects/shop/tests/{}", test_id(&db, "regressed")));
    let rows: Vec<&str> = test.split("<tr id=\"run-").skip(1).collect();
    assert_eq!(rows.len(), 11, "{test}");
    for row in rows {
        let id = row.split('"').next().unwrap();
        assert!(row.contains(&format!("href=\"/projects/shop/runs/{id}\"")), "{row}");
    }
});

storage_test!(fn the_home_page_shows_each_projects_health_with_sparklines(db) {
    let (server, _) = seeded(&db);
    token(&db, "quiet", Scope::Upload);
    let html = ok(&server, "/");
    let row = html.split("<td class=\"name\"><a href=\"/projects/shop\">").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("href=\"/projects/shop/tests?status=flaky\" class=\"status-flaky\">1</a>"), "{row}");
    assert!(row.contains("href=\"/projects/shop/tests?status=broken\" class=\"status-broken\">1</a>"), "{row}");
    assert!(row.contains("window 2026-10-12 to 2026-11-10"), "the project's last 30 days of data: {row}");
    assert_eq!(row.matches("<svg class=\"spark\"").count(), 5, "{row}");
    assert!(row.contains("<title>median time to feedback in minutes, per day</title>"), "{row}");
    assert!(row.contains("7.0 min"), "{row}");
    // A project without runs has its row, with nothing to draw.
    let quiet = html.split("<td class=\"name\"><a href=\"/projects/quiet\">").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(quiet.contains("no red run") && !quiet.contains("<svg"), "{quiet}");
});

storage_test!(fn the_test_page_shows_its_history_strip_modes_and_exclusion_lines(db) {
    let (server, _) = seeded(&db);
    let html = ok(&server, &format!("/projects/shop/tests/{}", test_id(&db, "wobbly")));
    let strip = html.split("<nav class=\"strip\"").nth(1).unwrap().split("</nav>").next().unwrap();
    let marks: Vec<&str> = strip.split("<a class=\"mark mark-").skip(1).collect();
    assert_eq!(marks.len(), 11, "one mark per run: {strip}");
    let kinds: Vec<&str> = marks.iter().map(|m| m.split('"').next().unwrap()).collect();
    assert_eq!(kinds, ["passed", "retried", "passed", "passed", "retried", "passed", "passed", "passed", "passed", "failed", "passed"], "oldest first");
    let ids: Vec<i64> = runs(&db).iter().map(|r| r.id).collect();
    for mark in &marks {
        let href = mark.split("href=\"").nth(1).unwrap().split('"').next().unwrap();
        let id: i64 = href.strip_prefix("/projects/shop/runs/").unwrap().parse().unwrap();
        assert!(ids.contains(&id), "{href}");
    }
    assert!(html.contains("<title id=\"test-failure-rate-title\">"), "{html}");
    assert!(html.contains("<title id=\"test-duration-title\">"), "{html}");
    assert!(html.contains("<pre data-copy>--deselect=app.py::Cart::wobbly</pre>"), "{html}");
    assert!(html.contains("<pre data-copy>&#39;-Dtest=!app.Cart#wobbly&#39;</pre>"), "{html}");
    assert!(html.contains("<script src=\"/static/copy.js\" defer></script>"), "{html}");
    let modes = html.split("<h2>Failure modes</h2>").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(modes.contains("<code>timed out</code></td><td class=\"num\">2</td><td class=\"num\">100%</td><td>2026-11-02 09:00</td><td>2026-11-05 09:00</td>"), "{modes}");
    assert!(modes.contains("<td class=\"num\">1</td><td class=\"num\">0%</td><td>2026-11-10 09:00</td><td>2026-11-10 09:00</td>"), "{modes}");

    let xss = ok(&server, &format!("/projects/shop/tests/{}", test_id(&db, XSS)));
    assert!(!xss.contains(XSS) && !xss.contains("<img src=x"), "names, messages and exclusion lines are inert: {xss}");
    assert!(xss.contains("test(=&#60;script&#62;alert\\(1\\)&#60;/script&#62;)"), "{xss}");

    let mut script = http().get(server.url("/static/copy.js")).call().unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/javascript"));
    assert!(script.body_mut().read_to_string().unwrap().contains("navigator.clipboard"));
});

storage_test!(fn the_tasks_page_shows_depth_times_tokens_and_warnings_with_filters(db) {
    let (server, upload) = seeded(&db);
    // One more upload, with a NUL in a name: stored with a warning.
    let odd = "<testsuite name=\"s\"><testcase classname=\"pkg.A\" name=\"a\0b\"/></testsuite>";
    let task = upload_ok(&server, &upload, "branch=main&commit=odd&job=lint", odd.as_bytes());
    assert_eq!(await_task(&server, &task)["status"], "completed");
    let html = ok(&server, "/tasks");
    assert!(html.contains("<span class=\"big status-completed\">12</span> completed"), "depth by status: {html}");
    assert!(html.contains("<span class=\"big status-failed\">0</span> failed"), "{html}");
    assert!(html.contains("href=\"/tasks?status=failed\""), "each count filters the list: {html}");
    assert!(html.contains("<title id=\"queue-times-title\">"), "{html}");
    assert!(html.contains("Scoring backlog: <strong>0</strong> runs stored and waiting to be scored."), "every run scored: {html}");
    assert!(html.contains("scoring lag"), "the chart's third line: {html}");
    assert!(html.contains(&format!("<code>{task}</code>")), "each task's token: {html}");
    let warning = html.split(&format!("<code>{task}</code>")).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(warning.contains("<details><summary>2 warnings</summary>") && warning.contains("<li><code>nul_replaced</code> report.xml:1: NUL characters"), "{warning}");
    assert!(!html.contains("action=\"/tasks/"), "no cancel form without an admin session: {html}");

    let shop = ok(&server, "/tasks?project=shop&status=completed");
    assert!(shop.contains("<option selected>shop</option>") && shop.contains("<option selected>completed</option>"), "{shop}");
    let failed = ok(&server, "/tasks?status=failed");
    assert!(failed.contains("No task matches these filters."), "{failed}");
    let bad = error_page(&server, "/tasks?status=lost", 400);
    assert!(bad.contains("<code>status</code>"), "{bad}");
    let missing = error_page(&server, "/tasks?project=nope", 404);
    assert!(missing.contains("there is no project `nope`"), "{missing}");
});

/// SQLite: uploads accepted while a store holds the database's write lock wait in the
/// spool; the tasks page counts them until they enter the queue.
#[test]
fn the_tasks_page_counts_uploads_waiting_in_the_sqlite_spool() {
    use diesel::connection::SimpleConnection;
    let db = TestDb::sqlite();
    let server = TestServer::start(&db);
    let upload = token(&db, "shop", Scope::Upload);
    let mut lock = db.connect();
    lock.batch_execute("BEGIN IMMEDIATE").unwrap();
    let tasks: Vec<String> = (0..2)
        .map(|i| {
            upload_ok(
                &server,
                &upload,
                &format!("branch=main&commit=c{i}"),
                report(&[("a", Did::Pass)]).as_bytes(),
            )
        })
        .collect();
    let html = ok(&server, "/tasks");
    assert!(
        html.contains(
            "Upload spool: <strong>2</strong> uploads accepted and waiting to enter the queue"
        ),
        "{html}"
    );
    lock.batch_execute("COMMIT").unwrap();
    for task in &tasks {
        assert_eq!(await_task(&server, task)["status"], "completed");
    }
    let html = ok(&server, "/tasks");
    assert!(
        html.contains("Upload spool: <strong>0</strong> uploads"),
        "{html}"
    );
}

/// The row of task `id` on the tasks page.
fn task_row(html: &str, id: i64) -> String {
    let start = format!("<tr id=\"task-{id}\">");
    html.split(&start)
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row of task {id}: {html}"))
        .to_owned()
}

/// A count card of the tasks page: `n` tasks in `status`.
fn depth(status: &str, n: i64) -> String {
    format!("<span class=\"big status-{status}\">{n}</span> {status}")
}

// With no worker, uploads wait in the queue; cancelling one shows on the tasks page at
// once (its counts and its row), whatever the page keeps, and a project's filter shows
// only its own tasks.
storage_test!(fn a_cancelled_task_shows_at_once_on_the_tasks_page(db) {
    let server = TestServer::start_with(&db, ServerOptions { workers: 0, ..ServerOptions::default() });
    let body = report(&[("a", Did::Pass)]);
    let shop_task = upload_ok(&server, &token(&db, "shop", Scope::Upload), "branch=main&commit=s1", body.as_bytes());
    let cart_task = upload_ok(&server, &token(&db, "cart", Scope::Upload), "branch=main&commit=k1", body.as_bytes());
    let (shop_id, cart_id) = (server.in_queue(&shop_task), server.in_queue(&cart_task));
    for _ in 0..2 {
        let html = ok(&server, "/tasks");
        assert!(html.contains(&depth("enqueued", 2)) && html.contains(&depth("cancelled", 0)), "{html}");
        assert!(task_row(&html, shop_id).contains(&format!("<code>{shop_task}</code>")), "{html}");
        assert!(task_row(&html, cart_id).contains("status-enqueued"), "{html}");
        assert!(html.contains(" UTC (redrawn every 5 s)"), "the chart says how fresh it is: {html}");
    }

    let admin = token(&db, "shop", Scope::Admin);
    let mut answer = http()
        .post(server.url(&format!("/api/v1/tasks/{shop_task}/cancel")))
        .header("Authorization", &format!("Bearer {admin}"))
        .send_empty()
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.body_mut().read_json::<Value>().unwrap()["status"], "cancelled");

    let html = ok(&server, "/tasks");
    assert!(html.contains(&depth("enqueued", 1)) && html.contains(&depth("cancelled", 1)), "counted at once: {html}");
    assert!(task_row(&html, shop_id).contains("<span class=\"status status-cancelled\">cancelled</span>"), "{html}");
    assert!(task_row(&html, cart_id).contains("status-enqueued"), "{html}");

    let shop = ok(&server, "/tasks?project=shop");
    assert!(shop.contains(&depth("cancelled", 1)) && shop.contains(&depth("enqueued", 0)), "{shop}");
    assert!(!shop.contains(&cart_task) && !shop.contains(&format!("id=\"task-{cart_id}\"")), "only shop's tasks: {shop}");
    let cart = ok(&server, "/tasks?project=cart");
    assert!(cart.contains(&depth("enqueued", 1)) && cart.contains(&depth("cancelled", 0)), "{cart}");
    assert!(cart.contains(&cart_task) && !cart.contains(&shop_task), "only cart's tasks: {cart}");
});

// The list shows the 50 newest tasks; older ones are a seek page away, under the same
// filters, with a way back to the newest.
storage_test!(fn the_tasks_page_pages_back_to_older_tasks(db) {
    let server = TestServer::start_with(&db, ServerOptions { workers: 0, ..ServerOptions::default() });
    let upload = token(&db, "shop", Scope::Upload);
    let body = report(&[("a", Did::Pass)]);
    let ids: Vec<i64> = (0..51)
        .map(|i| server.in_queue(&upload_ok(&server, &upload, &format!("branch=main&commit=c{i}"), body.as_bytes())))
        .collect();
    let rows = |html: &str| html.matches("<tr id=\"task-").count();
    for filter in ["", "status=enqueued&"] {
        let first = ok(&server, &format!("/tasks?{filter}"));
        assert_eq!(rows(&first), 50, "{first}");
        assert!(first.contains(&format!("id=\"task-{}\"", ids[50])) && !first.contains(&format!("id=\"task-{}\"", ids[0])), "{first}");
        assert!(first.contains(&depth("enqueued", 51)), "the counts cover every page: {first}");
        let older = links(&first, &format!("/tasks?{filter}cursor="));
        assert_eq!(older.len(), 1, "one link to the older tasks: {first}");
        let second = ok(&server, &older[0]);
        assert_eq!(rows(&second), 1, "{second}");
        assert!(second.contains(&format!("id=\"task-{}\"", ids[0])), "{second}");
        assert!(second.contains("← Newest</a>") && !second.contains("Older tasks"), "{second}");
    }
    let bad = error_page(&server, "/tasks?cursor=yesterday", 400);
    assert!(bad.contains("<code>cursor</code>"), "{bad}");
});

storage_test!(fn a_test_named_like_a_script_is_inert_on_every_page(db) {
    let (server, _) = seeded(&db);
    let xss_test = test_id(&db, XSS);
    let last_run = runs(&db).iter().map(|r| r.id).max().unwrap();
    let shown_escaped = "&#60;script&#62;alert(1)&#60;/script&#62;";
    for (path, shows_the_name) in [
        ("/".to_owned(), false),
        ("/projects/shop".to_owned(), false),
        ("/projects/shop/tests".to_owned(), true),
        (format!("/projects/shop/tests/{xss_test}"), true),
        ("/projects/shop/runs".to_owned(), false),
        (format!("/projects/shop/runs/{}", last_run - 1), true),
        ("/projects/shop/commits/c10".to_owned(), false),
        ("/projects/shop/reports".to_owned(), false),
        ("/tasks".to_owned(), false),
    ] {
        let html = ok(&server, &path);
        assert!(!html.contains(XSS) && !html.contains("<img src=x"), "{path}: {html}");
        if shows_the_name {
            assert!(html.contains(shown_escaped), "{path} shows the name, escaped: {html}");
        }
    }
});

storage_test!(fn a_project_without_runs_says_what_to_do(db) {
    let server = TestServer::start(&db);
    let home = ok(&server, "/");
    assert!(home.contains("flakewatch token create --project NAME --scope upload"), "{home}");
    assert!(home.contains("flakewatch serve --demo"), "{home}");
    let tasks = ok(&server, "/tasks");
    assert!(tasks.contains("No upload has arrived yet."), "{tasks}");
    token(&db, "empty", Scope::Upload);
    let html = ok(&server, "/projects/empty");
    assert!(html.contains("No run has been uploaded yet."), "{html}");
    assert!(!html.contains("<svg"), "no empty charts: {html}");
    let runs = ok(&server, "/projects/empty/runs");
    assert!(runs.contains("No run has been uploaded yet"), "{runs}");
    let tests = ok(&server, "/projects/empty/tests");
    assert!(tests.contains("No test has been scored yet"), "{tests}");
});

storage_test!(fn the_api_still_answers_json(db) {
    let (server, _) = seeded(&db);
    let read = token(&db, "shop", Scope::Read);
    let mut response = http()
        .get(server.url("/api/v1/projects/shop/tests/999999"))
        .header("Authorization", &format!("Bearer {read}"))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: serde_json::Value = response.body_mut().read_json().unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
});

/// A filter choice: `branch` or `job`, and its name.
type Name = (String, String);

/// The rows the filter choices come from, and the same computed from every run of the
/// project.
fn run_names_and_runs(db: &TestDb) -> (Vec<Name>, Vec<Name>) {
    use diesel::prelude::*;
    use flakewatch::db::schema::{run_names, runs};
    let mut conn = db.connect();
    let project = projects::find(&mut conn, "shop").unwrap().unwrap();
    let kept = run_names::table
        .filter(run_names::project_id.eq(project.id))
        .order((run_names::kind, run_names::name))
        .select((run_names::kind, run_names::name))
        .load(&mut conn)
        .unwrap();
    let all: Vec<Name> = runs::table
        .filter(runs::project_id.eq(project.id))
        .select((runs::branch, runs::job))
        .load(&mut conn)
        .unwrap();
    let branches: std::collections::BTreeSet<String> = all.iter().map(|(b, _)| b.clone()).collect();
    let jobs: std::collections::BTreeSet<String> = all.into_iter().map(|(_, j)| j).collect();
    let computed = branches
        .into_iter()
        .map(|name| ("branch".to_owned(), name))
        .chain(jobs.into_iter().map(|name| ("job".to_owned(), name)))
        .collect();
    (kept, computed)
}

storage_test!(fn the_filter_choices_are_every_branch_and_job(db) {
    let (server, upload) = seeded(&db);
    // Another branch and job, older than the newest run, then on the same job again.
    for (day, branch) in [(3, "feature/cart"), (11, "feature/cart"), (4, "fix")] {
        let query = format!(
            "branch={branch}&default_branch=main&commit=f{day}&job=e2e&attempt=1&pipeline=f{day}\
             &started_at=2026-11-{day:02}T20:00:00Z&finished_at=2026-11-{day:02}T20:05:00Z"
        );
        let task = upload_ok(&server, &upload, &query, report(&[("steady", Did::Pass)]).as_bytes());
        assert_eq!(await_task(&server, &task)["status"], "completed");
    }
    let (kept, computed) = run_names_and_runs(&db);
    assert_eq!(kept, computed, "one row per branch and job");
    assert_eq!(kept.len(), 5, "{kept:?}");
    for path in ["/projects/shop", "/projects/shop/runs", "/projects/shop/tests"] {
        let html = ok(&server, path);
        let choices = |name: &str| -> Vec<String> {
            html.split(&format!("<select name=\"{name}\">")).nth(1).unwrap()
                .split("</select>").next().unwrap()
                .split("<option>").skip(1)
                .map(|option| option.split('<').next().unwrap().to_owned())
                .collect()
        };
        assert_eq!(choices("branch"), ["feature/cart", "fix", "main"], "{path}");
        assert_eq!(choices("job"), ["e2e", "unit"], "{path}");
    }
});

/// Sends `body` as JSON with an admin token of `shop`; the answer's status.
fn admin_call(server: &TestServer, db: &TestDb, method: &str, path: &str, body: &str) -> u16 {
    let admin = format!("Bearer {}", token(db, "shop", Scope::Admin));
    let url = server.url(path);
    let agent = http();
    let answer = match method {
        "POST" => agent
            .post(&url)
            .header("Authorization", &admin)
            .header("Content-Type", "application/json")
            .send(body),
        "PATCH" => agent
            .patch(&url)
            .header("Authorization", &admin)
            .header("Content-Type", "application/json")
            .send(body),
        _ => agent.delete(&url).header("Authorization", &admin).call(),
    };
    answer.unwrap().status().as_u16()
}

fn quarantined(html: &str) -> bool {
    html.contains("<strong>Quarantined</strong>")
}

storage_test!(fn a_page_shows_a_new_run_as_soon_as_it_is_scored(db) {
    let (server, upload) = seeded(&db);
    // Read twice, so the second answer may come from the cache.
    for _ in 0..2 {
        assert!(ok(&server, "/projects/shop").contains("red runs of 11"));
        assert_eq!(links(&ok(&server, "/projects/shop/runs"), "/projects/shop/runs/").len(), 11);
    }
    store(&server, &upload, 10, "c11", 1, &[("regressed", Did::Fail("expected total 30 but was 0"))]);
    let html = ok(&server, "/projects/shop");
    assert!(html.contains("red runs of 12"), "the scored run counts at once: {html}");
    assert_eq!(links(&ok(&server, "/projects/shop/runs"), "/projects/shop/runs/").len(), 12);
    assert!(ok(&server, "/").contains("window 2026-10-12 to 2026-11-10"));
});

storage_test!(fn a_quarantine_or_a_setting_shows_at_once(db) {
    let (server, _) = seeded(&db);
    let test_path = format!("/projects/shop/tests/{}", test_id(&db, "wobbly"));
    assert!(!quarantined(&ok(&server, &test_path)));
    assert!(!quarantined(&ok(&server, &test_path)), "read again");
    let body = format!(r#"{{"test_id": {}, "reason": "times out on CI"}}"#, test_id(&db, "wobbly"));
    assert_eq!(admin_call(&server, &db, "POST", "/api/v1/projects/shop/quarantine", &body), 201);
    assert!(quarantined(&ok(&server, &test_path)), "quarantined at once");
    let path = format!("/api/v1/projects/shop/quarantine/{}", test_id(&db, "wobbly"));
    assert_eq!(admin_call(&server, &db, "DELETE", &path, ""), 200);
    assert!(!quarantined(&ok(&server, &test_path)), "the quarantine's end too");

    assert!(!ok(&server, "/projects/shop").contains("<h1>Shop front</h1>"));
    assert_eq!(admin_call(&server, &db, "PATCH", "/api/v1/projects/shop", r#"{"display_name": "Shop front"}"#), 200);
    assert!(ok(&server, "/projects/shop").contains("<h1>Shop front</h1>"), "the new name at once");
});

/// The names of the tests in an answer of the tests API.
fn names(answer: &Value) -> Vec<String> {
    answer["tests"]
        .as_array()
        .unwrap_or_else(|| panic!("a tests list: {answer}"))
        .iter()
        .map(|test| test["name"].as_str().unwrap().to_owned())
        .collect()
}

// The tests API's list and the metrics API, read through the page cache (read twice
// before each change, so the second answer may be a kept one), change with each change.
storage_test!(fn the_cached_api_reads_show_a_scored_upload_a_quarantine_and_a_setting_at_once(db) {
    let (server, upload) = seeded(&db);
    let read = token(&db, "shop", Scope::Read);
    let list = "/api/v1/projects/shop/tests?limit=100&sort=name";
    let metrics = "/api/v1/projects/shop/metrics";
    let get = |path: &str| {
        let (status, answer) = get_json(&server, &read, path);
        assert_eq!(status, 200, "{path}: {answer}");
        answer
    };
    for _ in 0..2 {
        let tests = names(&get(list));
        assert_eq!(tests.len(), 4, "{tests:?}");
        assert!(!tests.contains(&"arrived".to_owned()));
        assert_eq!(get(metrics)["runs"], 11);
    }

    store(&server, &upload, 10, "c11", 1, &[("regressed", Did::Fail("expected total 30 but was 0")), ("arrived", Did::Pass)]);
    let tests = names(&get(list));
    assert!(tests.contains(&"arrived".to_owned()), "the scored upload's new test at once: {tests:?}");
    assert_eq!(get(metrics)["runs"], 12, "and its run");

    let wobbly = |answer: &Value| {
        answer["tests"].as_array().unwrap().iter().find(|t| t["name"] == "wobbly").cloned().unwrap()
    };
    assert!(wobbly(&get(list))["quarantine"].is_null());
    let body = format!(r#"{{"test_id": {}, "reason": "times out on CI"}}"#, test_id(&db, "wobbly"));
    assert_eq!(admin_call(&server, &db, "POST", "/api/v1/projects/shop/quarantine", &body), 201);
    assert_eq!(wobbly(&get(list))["quarantine"]["reason"], "times out on CI", "quarantined at once");

    let before = get(metrics);
    assert_eq!(before["cost"]["total"]["money"], 0.0, "{before}");
    let prices = r#"{"runner_rates": {"_default": 0.5}, "currency": "EUR"}"#;
    assert_eq!(admin_call(&server, &db, "PATCH", "/api/v1/projects/shop", prices), 200);
    let after = get(metrics);
    assert_eq!(after["cost"]["currency"], "EUR", "the new prices at once: {after}");
    assert!(after["cost"]["total"]["money"].as_f64().unwrap() > 0.0, "{after}");
    assert_eq!(after["promptness"]["scoring_backlog"]["runs_waiting"], 0, "{after}");
    // The store timings are kept for a few seconds, not by data version: 11 or all 12.
    let timed = after["promptness"]["queue_ms"]["count"].as_i64().unwrap();
    assert!((11..=12).contains(&timed), "{after}");

    // A page larger than what is kept is read each time, with the same answer.
    let all = names(&get("/api/v1/projects/shop/tests?limit=1000&sort=name"));
    assert_eq!(all, names(&get(list)));
});

// Two projects at the same data version, read with the same query: each token gets its
// own project's answer, and none gets the other's.
storage_test!(fn cached_api_reads_never_answer_for_another_project(db) {
    let (server, _) = seeded(&db);
    let cart_upload = token(&db, "cart", Scope::Upload);
    let query = "branch=main&default_branch=main&commit=k1&job=unit&attempt=1&pipeline=k1\
                 &started_at=2026-11-10T09:00:00Z&finished_at=2026-11-10T09:07:00Z";
    let task = upload_ok(&server, &cart_upload, query, report(&[("cart_only", Did::Fail("no stock"))]).as_bytes());
    assert_eq!(await_task(&server, &task)["status"], "completed");
    let (shop_id, cart_id) = (run_project(&db), {
        let mut conn = db.connect();
        projects::find(&mut conn, "cart").unwrap().unwrap().id
    });
    loop {
        let mut conn = db.connect();
        let versions = data_versions::all(&mut conn).unwrap();
        let (shop, cart) = (versions[&shop_id], versions[&cart_id]);
        if shop == cart {
            break;
        }
        data_versions::bump(&mut conn, if shop < cart { shop_id } else { cart_id }).unwrap();
    }
    let (shop_read, cart_read) = (token(&db, "shop", Scope::Read), token(&db, "cart", Scope::Read));
    for _ in 0..2 {
        for (project, read, own, other) in [("shop", &shop_read, "wobbly", "cart_only"), ("cart", &cart_read, "cart_only", "wobbly")] {
            let (status, answer) = get_json(&server, read, &format!("/api/v1/projects/{project}/tests?limit=100"));
            assert_eq!(status, 200, "{answer}");
            let tests = names(&answer);
            assert!(tests.contains(&own.to_owned()) && !tests.contains(&other.to_owned()), "{project}: {tests:?}");
            assert_eq!(answer["project"], project);
        }
        let (_, shop) = get_json(&server, &shop_read, "/api/v1/projects/shop/metrics");
        let (_, cart) = get_json(&server, &cart_read, "/api/v1/projects/cart/metrics");
        assert_eq!((shop["runs"].as_i64(), cart["runs"].as_i64()), (Some(11), Some(1)));
        assert_eq!((shop["promptness"]["queue_ms"]["count"].as_i64(), cart["promptness"]["queue_ms"]["count"].as_i64()), (Some(11), Some(1)));
    }
    // A token still reads only its own project, kept answers or not.
    for path in ["/api/v1/projects/cart/tests?limit=100", "/api/v1/projects/cart/metrics"] {
        let (status, body) = get_text(&server, &shop_read, path);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(!body.contains("cart_only"), "{body}");
    }
});

storage_test!(fn two_servers_on_one_database_both_see_a_change_made_through_one(db) {
    let (first, upload) = seeded(&db);
    let second = TestServer::start(&db);
    let test_path = format!("/projects/shop/tests/{}", test_id(&db, "wobbly"));
    for server in [&first, &second] {
        assert!(!quarantined(&ok(server, &test_path)));
        assert!(ok(server, "/projects/shop").contains("red runs of 11"));
    }
    let body = format!(r#"{{"test_id": {}, "reason": "times out on CI"}}"#, test_id(&db, "wobbly"));
    assert_eq!(admin_call(&first, &db, "POST", "/api/v1/projects/shop/quarantine", &body), 201);
    store(&first, &upload, 10, "c11", 1, &[("regressed", Did::Fail("expected total 30 but was 0"))]);
    // Each server keeps the data versions while it hears every change: the other one hears
    // these by notification, a moment after they commit.
    second.hear_every_change();
    assert!(quarantined(&ok(&second, &test_path)), "the other server sees the quarantine");
    assert!(ok(&second, "/projects/shop").contains("red runs of 12"), "and the new run");
});

storage_test!(fn one_projects_page_data_is_never_shown_for_another(db) {
    let (server, _) = seeded(&db);
    let cart = token(&db, "cart", Scope::Upload);
    let query = "branch=main&default_branch=main&commit=k1&job=unit&attempt=1&pipeline=k1\
                 &started_at=2026-11-10T09:00:00Z&finished_at=2026-11-10T09:07:00Z";
    let task = upload_ok(&server, &cart, query, report(&[("cart_only", Did::Fail("no stock"))]).as_bytes());
    assert_eq!(await_task(&server, &task)["status"], "completed");
    // Both projects at the same data version: keys differ by project alone.
    let versions = || {
        let mut conn = db.connect();
        let all = data_versions::all(&mut conn).unwrap();
        let mut id = |name: &str| projects::find(&mut conn, name).unwrap().unwrap().id;
        let (shop, cart) = (id("shop"), id("cart"));
        (shop, cart, all[&shop], all[&cart])
    };
    let (shop_id, cart_id, shop_version, cart_version) = versions();
    let behind = if shop_version < cart_version { shop_id } else { cart_id };
    for _ in 0..shop_version.abs_diff(cart_version) {
        data_versions::bump(&mut db.connect(), behind).unwrap();
    }
    server.hear_every_change();
    let (_, _, shop_version, cart_version) = versions();
    assert_eq!(shop_version, cart_version);

    let shop_run = runs(&db)[0].id;
    for (path, own, other) in [
        ("/projects/{}", "<h1>{}</h1>", "<h1>{}</h1>"),
        ("/projects/{}/tests", "wobbly", "cart_only"),
        ("/projects/{}/runs", "c10", "k1"),
    ] {
        let shop = ok(&server, &path.replace("{}", "shop"));
        let cart = ok(&server, &path.replace("{}", "cart"));
        assert!(shop.contains(&own.replace("{}", "shop")) && !shop.contains(&other.replace("{}", "cart")), "{path}: {shop}");
        assert!(!cart.contains(&own.replace("{}", "shop")) && cart.contains(&other.replace("{}", "cart")), "{path}: {cart}");
    }
    ok(&server, &format!("/projects/shop/runs/{shop_run}"));
    error_page(&server, &format!("/projects/cart/runs/{shop_run}"), 404);
    ok(&server, "/projects/shop/commits/c10");
    error_page(&server, "/projects/cart/commits/c10", 404);
});

storage_test!(fn page_data_is_kept_per_data_version_unless_the_cache_is_off(db) {
    let (server, _) = seeded(&db);
    let rename = |name: &str| {
        use diesel::prelude::*;
        use flakewatch::db::schema::projects as p;
        diesel::update(p::table.filter(p::name.eq("shop")))
            .set(p::display_name.eq(name))
            .execute(&mut db.connect())
            .unwrap();
    };
    assert!(ok(&server, "/projects/shop").contains("<h1>shop</h1>"));
    // Changed behind the data version's back: the kept data is still shown...
    rename("Renamed quietly");
    assert!(ok(&server, "/projects/shop").contains("<h1>shop</h1>"), "kept for this data version");
    // ...until the version moves.
    let shop = run_project(&db);
    data_versions::bump(&mut db.connect(), shop).unwrap();
    server.hear_every_change();
    assert!(ok(&server, "/projects/shop").contains("<h1>Renamed quietly</h1>"));

    let uncached = TestServer::start_with(&db, ServerOptions { page_cache_entries: 0, ..ServerOptions::default() });
    assert!(ok(&uncached, "/projects/shop").contains("<h1>Renamed quietly</h1>"));
    rename("Renamed again");
    assert!(ok(&uncached, "/projects/shop").contains("<h1>Renamed again</h1>"), "nothing kept");
});
