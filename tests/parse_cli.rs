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
    let other = write(dir.path(), "s.xml", REPORT);
    let output = parse(&["--format", "json", &file, &other]);
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

/// Two tests that appear three times each, not next to each other, in a pytest report.
const REPEATS: &str = r#"<testsuites><testsuite name="pytest" tests="6">
  <testcase classname="t" name="a"/><testcase classname="t" name="b"/>
  <testcase classname="t" name="a"/><testcase classname="t" name="b"/>
  <testcase classname="t" name="a"/><testcase classname="t" name="b"/>
</testsuite></testsuites>"#;

#[test]
fn folders_and_globs_are_read_as_upload_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("reports/unit")).unwrap();
    write(dir.path(), "reports/unit/TEST-a.xml", REPORT);
    write(dir.path(), "reports/notes.txt", "not a report");
    write(dir.path(), "other.xml", REPORT);
    let folder = dir.path().join("reports").display().to_string();
    let pattern = dir.path().join("*.xml").display().to_string();
    let output = parse(&[&folder, &pattern]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(
        rows[0].ends_with("other.xml") && rows[1].ends_with("TEST-a.xml"),
        "{stdout}"
    );

    let nothing = dir.path().join("none-*.xml").display().to_string();
    let output = parse(&[&nothing]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no report found in"), "{stderr}");
}

#[test]
fn warnings_go_to_stderr_grouped_and_the_dialect_is_a_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "repeats.xml", REPEATS);
    let output = parse(&[&file]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stdout.lines().count(),
        2,
        "only the table on stdout: {stdout}"
    );
    assert!(
        stdout.lines().nth(1).unwrap().contains(" pytest "),
        "{stdout}"
    );
    let repeats: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("warning: duplicate_identity: "))
        .collect();
    assert_eq!(repeats.len(), 4, "{stderr}");
    assert!(repeats[0].contains("repeats.xml: line "), "{stderr}");
    assert!(repeats[3].ends_with("and 1 more of this kind"), "{stderr}");
    assert!(!stderr.contains("dialect"), "{stderr}");
}

#[test]
fn advice_speaks_of_local_files() {
    let dir = tempfile::tempdir().unwrap();
    let cut = write(
        dir.path(),
        "cut.xml",
        "<testsuite>\n  <testcase name=\"x\">",
    );
    let empty = write(dir.path(), "empty.xml", "");
    let output = parse(&[&cut, &empty]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("the report is truncated"), "{stderr}");
    assert!(stderr.contains("the report is empty"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("upload"), "{stderr}");
    assert!(
        stderr.ends_with("2 of 2 files could not be read\n"),
        "{stderr}"
    );
}
