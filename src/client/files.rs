//! Which report files an upload sends: files as named, folders searched for JUnit XML, glob
//! patterns expanded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the inputs named no report to send.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(
        "`{0}` does not exist; name a report file, a folder holding reports, or a glob pattern"
    )]
    Missing(String),

    #[error("`{pattern}` is not a valid glob pattern: {reason}")]
    BadPattern { pattern: String, reason: String },

    #[error("cannot read `{path}`: {reason}")]
    Unreadable { path: String, reason: String },

    #[error(
        "no report found in {}: folders are searched for *.xml and *.xml.gz files, \
         patterns must match at least one file",
        .0.join(", ")
    )]
    NothingFound(Vec<String>),
}

/// The files found, in path order, each once, and the inputs that matched nothing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    pub files: Vec<PathBuf>,
    /// Folders and patterns that held no report; worth a warning when others did.
    pub empty_inputs: Vec<String>,
}

/// Resolves each input. A named file is taken whatever its extension; a missing one is an
/// error rather than a silent skip, since a CI step that loses its report must say so.
pub fn collect(inputs: &[String]) -> Result<Collected, CollectError> {
    // Keyed by canonical path, so a file reached twice (a folder and a pattern) is sent once.
    let mut found: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    let mut empty_inputs = Vec::new();
    for input in inputs {
        let before = found.len();
        if is_glob(input) {
            expand_glob(input, &mut found)?;
        } else {
            let path = Path::new(input);
            if path.is_dir() {
                search_dir(path, &mut found)?;
            } else if path.is_file() {
                add(path, &mut found)?;
            } else {
                return Err(CollectError::Missing(input.clone()));
            }
        }
        if found.len() == before {
            empty_inputs.push(input.clone());
        }
    }
    if found.is_empty() {
        return Err(CollectError::NothingFound(
            inputs.iter().map(|i| format!("`{i}`")).collect(),
        ));
    }
    let mut files: Vec<PathBuf> = found.into_values().collect();
    files.sort();
    Ok(Collected {
        files,
        empty_inputs,
    })
}

fn is_glob(input: &str) -> bool {
    input.contains(['*', '?', '['])
}

fn expand_glob(pattern: &str, found: &mut BTreeMap<PathBuf, PathBuf>) -> Result<(), CollectError> {
    let matches = glob::glob(pattern).map_err(|err| CollectError::BadPattern {
        pattern: pattern.to_owned(),
        reason: err.msg.to_owned(),
    })?;
    for entry in matches {
        let path = entry.map_err(|err| CollectError::Unreadable {
            path: err.path().display().to_string(),
            reason: err.error().to_string(),
        })?;
        if path.is_dir() {
            search_dir(&path, found)?;
        } else if path.is_file() {
            add(&path, found)?;
        }
    }
    Ok(())
}

/// Every `*.xml` and `*.xml.gz` below `dir`. Symbolic links to folders are not followed, so
/// a link cycle cannot make the search endless.
fn search_dir(dir: &Path, found: &mut BTreeMap<PathBuf, PathBuf>) -> Result<(), CollectError> {
    let unreadable = |err: std::io::Error| CollectError::Unreadable {
        path: dir.display().to_string(),
        reason: err.to_string(),
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(unreadable)?;
        if kind.is_dir() {
            search_dir(&path, found)?;
        } else if is_report_name(&path) && path.is_file() {
            add(&path, found)?;
        }
    }
    Ok(())
}

fn is_report_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase());
    name.is_some_and(|n| n.ends_with(".xml") || n.ends_with(".xml.gz"))
}

fn add(path: &Path, found: &mut BTreeMap<PathBuf, PathBuf>) -> Result<(), CollectError> {
    let canonical = path
        .canonicalize()
        .map_err(|err| CollectError::Unreadable {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
    found.entry(canonical).or_insert_with(|| path.to_path_buf());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "reports/unit/TEST-a.xml",
            "reports/unit/TEST-b.XML",
            "reports/integration/junit.xml.gz",
            "reports/integration/notes.txt",
            "reports/coverage.json",
            "other/results.xml",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "<testsuite/>").unwrap();
        }
        dir
    }

    fn names(root: &Path, collected: &Collected) -> Vec<String> {
        collected
            .files
            .iter()
            .map(|f| {
                f.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect()
    }

    fn arg(root: &Path, rel: &str) -> String {
        root.join(rel).display().to_string()
    }

    #[test]
    fn folders_are_searched_recursively_for_xml_reports() {
        let dir = tree();
        let found = collect(&[arg(dir.path(), "reports")]).unwrap();
        assert_eq!(
            names(dir.path(), &found),
            [
                "reports/integration/junit.xml.gz",
                "reports/unit/TEST-a.xml",
                "reports/unit/TEST-b.XML"
            ]
        );
        assert!(found.empty_inputs.is_empty());
    }

    #[test]
    fn a_named_file_is_taken_whatever_its_name() {
        let dir = tree();
        let found = collect(&[arg(dir.path(), "reports/integration/notes.txt")]).unwrap();
        assert_eq!(names(dir.path(), &found), ["reports/integration/notes.txt"]);
    }

    #[test]
    fn globs_expand_and_duplicates_are_sent_once() {
        let dir = tree();
        let found = collect(&[
            arg(dir.path(), "*/unit/*.xml"),
            arg(dir.path(), "reports/unit"),
            arg(dir.path(), "nowhere-*/x.xml"),
        ])
        .unwrap();
        assert_eq!(
            names(dir.path(), &found),
            ["reports/unit/TEST-a.xml", "reports/unit/TEST-b.XML"]
        );
        assert_eq!(found.empty_inputs, [arg(dir.path(), "nowhere-*/x.xml")]);
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tree();
        let missing = arg(dir.path(), "reports/unit/TEST-c.xml");
        let err = collect(&[arg(dir.path(), "reports"), missing.clone()]).unwrap_err();
        assert!(
            matches!(&err, CollectError::Missing(p) if *p == missing),
            "{err}"
        );
        assert!(err.to_string().contains("TEST-c.xml"));
    }

    #[test]
    fn nothing_found_names_every_input() {
        let dir = tree();
        let err = collect(&[
            arg(dir.path(), "other/*.json"),
            arg(dir.path(), "reports/integration/none-*"),
        ])
        .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, CollectError::NothingFound(_)));
        assert!(message.contains("other/*.json"), "{message}");
        assert!(message.contains("none-*"), "{message}");
    }

    #[test]
    fn a_folder_without_reports_is_nothing_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("log.txt"), "x").unwrap();
        let err = collect(&[dir.path().display().to_string()]).unwrap_err();
        assert!(matches!(err, CollectError::NothingFound(_)));
    }

    #[test]
    fn a_bad_pattern_says_so() {
        let err = collect(&["reports/[".to_owned()]).unwrap_err();
        assert!(matches!(err, CollectError::BadPattern { .. }), "{err}");
    }
}
