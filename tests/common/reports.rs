//! JUnit reports for tests, written out by hand so each test shows what it sends.

/// A report of `passed` passing and `failed` failing tests in one suite, with names that
/// start with `prefix` (so two reports can share or not share tests).
pub fn junit(prefix: &str, passed: usize, failed: usize) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    xml.push_str(&format!(
        "<testsuite name=\"{prefix}\" tests=\"{}\" failures=\"{failed}\">\n",
        passed + failed
    ));
    for i in 0..passed {
        xml.push_str(&format!(
            "  <testcase classname=\"{prefix}.Suite\" name=\"passes_{i}\" time=\"0.01\"/>\n"
        ));
    }
    for i in 0..failed {
        xml.push_str(&format!(
            "  <testcase classname=\"{prefix}.Suite\" name=\"fails_{i}\" time=\"0.02\">\
             <failure message=\"expected {i} got 0\" type=\"AssertionError\">at line {i}</failure></testcase>\n"
        ));
    }
    xml.push_str("</testsuite>\n</testsuites>\n");
    xml
}

/// A Surefire-style case that failed, then passed on rerun.
pub const FLAKY_IN_RUN: &str = r#"<testsuite name="flaky" tests="1">
  <testcase classname="app.Retry" name="eventually" time="0.5">
    <flakyFailure message="timeout after 30ms" type="TimeoutError">stack</flakyFailure>
  </testcase>
</testsuite>
"#;

/// Stops mid-element: the parser must name line and column.
pub const TRUNCATED: &str =
    "<testsuite name=\"cut\">\n  <testcase classname=\"a\" name=\"b\">\n    <failure mess";
