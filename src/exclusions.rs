//! Lists of tests in the form each test runner takes to leave them out: so a CI step can
//! skip the known flaky or quarantined tests of its own runner. Every form quotes what it
//! holds, so a test name never becomes shell syntax or a wider pattern.

use clap::ValueEnum;

/// A test as the tests API names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestName {
    pub classname: String,
    pub name: String,
    /// The source file the report gave, if any.
    pub file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `classname::name`, one per line.
    #[value(alias = "text")]
    Names,
    /// The server's answer, with scores, impact and evidence.
    Json,
    /// `--deselect=NODE_ID`, one per line: an argument file (`pytest @deselect.txt`).
    Pytest,
    /// One `-Dtest='!Class#method,...'` argument for Maven Surefire.
    Maven,
    /// `excludeTestsMatching("Class.method")` lines for a Gradle `test { filter { } }` block.
    Gradle,
    /// One `--testNamePattern='^(?!(...)$)'` argument for Jest.
    Jest,
    /// One `-skip='^(TestA|TestB)$'` argument for `go test`.
    Go,
    /// One `-E 'not (test(=a) | test(=b))'` filter argument for cargo-nextest.
    Nextest,
}

/// The exclusion text for `tests` in `format` (not `Json`); empty when there is nothing to
/// leave out.
pub fn render(format: Format, tests: &[TestName]) -> String {
    if tests.is_empty() {
        return String::new();
    }
    match format {
        Format::Names | Format::Json => tests
            .iter()
            .map(|t| format!("{}\n", names_line(t)))
            .collect(),
        Format::Pytest => tests
            .iter()
            .map(|t| format!("--deselect={}\n", pytest_node_id(t)))
            .collect(),
        Format::Maven => {
            let patterns: Vec<String> = tests
                .iter()
                .map(|t| format!("!{}#{}", t.classname, t.name))
                .collect();
            format!(
                "{}\n",
                shell_quote(&format!("-Dtest={}", patterns.join(",")))
            )
        }
        Format::Gradle => tests
            .iter()
            .map(|t| {
                let pattern = format!("{}.{}", t.classname, t.name);
                format!("excludeTestsMatching(\"{}\")\n", groovy_string(&pattern))
            })
            .collect(),
        Format::Jest => {
            let names: Vec<String> = tests.iter().map(|t| regex_escape(&t.name)).collect();
            let pattern = format!("^(?!(?:{})$)", names.join("|"));
            format!("{}\n", shell_quote(&format!("--testNamePattern={pattern}")))
        }
        Format::Go => {
            // Skipping a test skips its subtests; `-skip` reads `/` as a level separator,
            // so subtests are left out through their top-level test.
            let mut top: Vec<String> = tests
                .iter()
                .map(|t| t.name.split('/').next().unwrap_or("").to_owned())
                .filter(|n| !n.is_empty())
                .collect();
            top.sort();
            top.dedup();
            let names: Vec<String> = top.iter().map(|n| regex_escape(n)).collect();
            format!(
                "{}\n",
                shell_quote(&format!("-skip=^({})$", names.join("|")))
            )
        }
        Format::Nextest => {
            let terms: Vec<String> = tests
                .iter()
                .map(|t| format!("test(={})", nextest_escape(&nextest_name(t))))
                .collect();
            format!(
                "-E {}\n",
                shell_quote(&format!("not ({})", terms.join(" | ")))
            )
        }
    }
}

/// `classname::name`; the name alone without a classname.
pub fn names_line(t: &TestName) -> String {
    if t.classname.is_empty() {
        t.name.clone()
    } else {
        format!("{}::{}", t.classname, t.name)
    }
}

/// pytest's node id, `path/to/test_mod.py::Class::test_name[param]`: the file from the
/// report, or else the module path of the classname (`tests.test_cart.TestCart`) with the
/// capitalised parts taken as classes.
fn pytest_node_id(t: &TestName) -> String {
    let parts: Vec<&str> = t.classname.split('.').filter(|p| !p.is_empty()).collect();
    let first_class = parts
        .iter()
        .position(|p| p.starts_with(|c: char| c.is_ascii_uppercase()))
        .unwrap_or(parts.len());
    let (module, classes) = parts.split_at(first_class);
    let file = match &t.file {
        Some(file) if !file.is_empty() => file.clone(),
        _ => format!("{}.py", module.join("/")),
    };
    let mut id = file;
    for class in classes {
        id.push_str("::");
        id.push_str(class);
    }
    id.push_str("::");
    id.push_str(&t.name);
    id
}

/// A Rust test's path as nextest names it: the report's name, which for nextest's JUnit is
/// the path within the test binary (`module::test`).
fn nextest_name(t: &TestName) -> String {
    t.name.clone()
}

/// nextest filterset strings end at `)` and `,`; a backslash escapes them.
fn nextest_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '(' | ')' | ',' | '\\' | '|' | '&') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Every regular-expression metacharacter escaped (JavaScript and Go RE2 alike).
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if "\\^$.|?*+()[]{}/-".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// A Groovy/Kotlin string literal body: quotes, backslashes and `$` escaped.
fn groovy_string(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('$', "\\$")
}

/// One shell word: single-quoted, with `'` written as `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(classname: &str, name: &str, file: Option<&str>) -> TestName {
        TestName {
            classname: classname.into(),
            name: name.into(),
            file: file.map(str::to_owned),
        }
    }

    #[test]
    fn pytest_node_ids_from_file_or_classname() {
        let tests = [
            t(
                "tests.test_cart.TestCart",
                "test_add[1-a b]",
                Some("tests/test_cart.py"),
            ),
            t("tests.test_pay", "test_timeout", None),
        ];
        assert_eq!(
            render(Format::Pytest, &tests),
            "--deselect=tests/test_cart.py::TestCart::test_add[1-a b]\n\
             --deselect=tests/test_pay.py::test_timeout\n"
        );
    }

    #[test]
    fn maven_and_gradle_quote_their_patterns() {
        let tests = [
            t("com.acme.CartTest", "testTotal", None),
            t("com.acme.It's", "odd$name", None),
        ];
        assert_eq!(
            render(Format::Maven, &tests),
            "'-Dtest=!com.acme.CartTest#testTotal,!com.acme.It'\\''s#odd$name'\n"
        );
        assert_eq!(
            render(Format::Gradle, &tests),
            "excludeTestsMatching(\"com.acme.CartTest.testTotal\")\n\
             excludeTestsMatching(\"com.acme.It's.odd\\$name\")\n"
        );
    }

    #[test]
    fn jest_and_go_escape_regex_characters() {
        let tests = [
            t("cart", "cart adds (2) items", None),
            t("pay", "TestRefund/partial.case", None),
            t("pay", "TestRefund/other", None),
        ];
        assert_eq!(
            render(Format::Jest, &tests[..1]),
            "'--testNamePattern=^(?!(?:cart adds \\(2\\) items)$)'\n"
        );
        assert_eq!(render(Format::Go, &tests[1..]), "'-skip=^(TestRefund)$'\n");
    }

    #[test]
    fn nextest_filters_escape_their_delimiters() {
        let tests = [t("flakewatch::lifecycle", "suite::case(a,b)", None)];
        assert_eq!(
            render(Format::Nextest, &tests),
            "-E 'not (test(=suite::case\\(a\\,b\\)))'\n"
        );
    }

    #[test]
    fn nothing_to_leave_out_prints_nothing() {
        assert_eq!(render(Format::Maven, &[]), "");
    }
}
