//! `flakewatch parse` on real reports.

use std::process::Command;

fn parse(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .arg("parse")
        .args(args)
        .output()
        .unwrap()
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const REPORT: &str = r#"<testsuite name="s">
  <testcase classname="a" name="ok"/>
  <testcase classname="a" name="bad"><failure message="no"/></testcase>
  <testcase classname="a" name="later"><skipped/></testcase>
  <testcase classname="a" name="retried"><flakyFailure message="once"/></testcase>
</testsuite>"#;

#[test]
fn summary_counts_each_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "r.xml", REPORT);
    let output = parse(&[&file]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let row = stdout.lines().find(|l| l.ends_with("r.xml")).unwrap();
    let numbers: Vec<&str> = row.split_whitespace().take(6).collect();
    assert_eq!(numbers, ["4", "2", "1", "0", "1", "1"], "{stdout}");
}

#[test]
fn json_lists_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "r.xml", REPORT);
    let output = parse(&["--format", "json", &file, &file]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let documents: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[0]["records"].as_array().unwrap().len(), 4);
    assert_eq!(
        documents[0]["records"][3]["attempts"][0]["kind"],
        "flaky_failure"
    );
    assert_eq!(documents[0]["summary"]["flaky_in_run"], 1);
}

#[test]
fn a_broken_file_names_line_and_column_and_the_rest_still_parse() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.xml", REPORT);
    let cut = write(
        dir.path(),
        "cut.xml",
        "<testsuite>\n  <testcase name=\"x\">\n    <failure",
    );
    let output = parse(&[&cut, &good]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains(&format!("{cut}:3:")), "{stderr}");
    assert!(String::from_utf8(output.stdout)
        .unwrap()
        .contains("good.xml"));
}
