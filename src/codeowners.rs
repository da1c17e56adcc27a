//! CODEOWNERS files (GitHub, GitLab, Bitbucket): who owns a path. A line is a pattern and
//! its owners; the last matching line wins; `#` starts a comment; GitLab's `[Section]`
//! headers are skipped. Patterns follow gitignore: a pattern with no `/` but at its end
//! matches at any depth, one with a `/` is anchored at the repository root, a trailing `/`
//! means a directory, `*` stays within one path segment and `**` crosses them.

use glob::{MatchOptions, Pattern};

/// A parsed CODEOWNERS file.
#[derive(Debug, Clone, Default)]
pub struct CodeOwners {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    /// The path itself, and everything below it when it is a directory.
    patterns: Vec<Pattern>,
    owners: Vec<String>,
}

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl CodeOwners {
    /// Reads a CODEOWNERS file; lines that cannot be read are skipped.
    pub fn parse(text: &str) -> CodeOwners {
        let rules = text
            .lines()
            .map(|line| line.split('#').next().unwrap_or("").trim())
            .filter(|line| !line.is_empty() && !line.starts_with('[') && !line.starts_with("^["))
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let pattern = words.next()?;
                let owners: Vec<String> = words.map(str::to_owned).collect();
                Some(Rule {
                    patterns: globs(pattern),
                    owners,
                })
            })
            .collect();
        CodeOwners { rules }
    }

    /// The owners of `path` (relative to the repository root), from the last matching
    /// line; empty when no line matches or the matching line names nobody.
    pub fn owners_of(&self, path: &str) -> &[String] {
        let path = path.trim_start_matches("./").trim_start_matches('/');
        self.rules
            .iter()
            .rev()
            .find(|rule| rule.patterns.iter().any(|p| p.matches_with(path, OPTIONS)))
            .map_or(&[], |rule| rule.owners.as_slice())
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Number of rules read.
    pub fn len(&self) -> usize {
        self.rules.len()
    }
}

/// The glob patterns a CODEOWNERS pattern stands for.
fn globs(pattern: &str) -> Vec<Pattern> {
    let directory = pattern.ends_with('/');
    let trimmed = pattern.trim_end_matches('/');
    let anchored = trimmed.starts_with('/') || trimmed.contains('/');
    let trimmed = trimmed.trim_start_matches('/');
    let base = if trimmed.is_empty() {
        "**".to_owned()
    } else if anchored || trimmed.starts_with("**") {
        trimmed.to_owned()
    } else {
        format!("**/{trimmed}")
    };
    // A literal last segment may name a directory: it owns what is below it. `docs/*`
    // owns the files in docs, not those in its subfolders (as GitHub documents).
    let last = base.rsplit('/').next().unwrap_or("");
    let may_be_directory = directory || !last.contains(['*', '?', '[']) || last == "**";
    let mut texts = Vec::new();
    if may_be_directory {
        texts.push(format!("{base}/**"));
    }
    if !directory {
        texts.push(base);
    }
    texts
        .iter()
        .filter_map(|text| Pattern::new(text).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# Default owners
*                       @acme/platform
*.py                    @acme/python   # every Python file
/tests/payments/        @acme/payments
docs/*                  @acme/docs
[Frontend]
web/**/*.ts @alice @bob
tests/legacy.py
";

    #[test]
    fn the_last_matching_line_wins() {
        let owners = CodeOwners::parse(FILE);
        assert_eq!(owners.owners_of("Makefile"), ["@acme/platform"]);
        assert_eq!(owners.owners_of("src/shop/cart.py"), ["@acme/python"]);
        assert_eq!(
            owners.owners_of("tests/payments/test_refund.py"),
            ["@acme/payments"]
        );
        assert_eq!(
            owners.owners_of("./tests/payments/deep/test_x.py"),
            ["@acme/payments"]
        );
        assert_eq!(owners.owners_of("docs/intro.md"), ["@acme/docs"]);
        // `docs/*` does not reach into subfolders: the catch-all owns those.
        assert_eq!(owners.owners_of("docs/api/intro.md"), ["@acme/platform"]);
        assert_eq!(owners.owners_of("web/app/cart/view.ts"), ["@alice", "@bob"]);
        // A line without owners takes ownership away.
        assert!(owners.owners_of("tests/legacy.py").is_empty());
    }

    #[test]
    fn nothing_matches_in_an_empty_file() {
        let owners = CodeOwners::parse("# nobody yet\n\n");
        assert!(owners.is_empty());
        assert!(owners.owners_of("a.py").is_empty());
    }
}
