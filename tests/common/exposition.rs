//! A strict reader of the Prometheus text format (0.0.4), so tests check that `/metrics`
//! parses, not only that it contains a line.

use std::collections::HashMap;

/// The samples of an exposition by series (`name{label="value",...}` as written), after
/// checking that every line is a comment, `# HELP`/`# TYPE`, or a sample of a family
/// whose type was declared before it, with a number for a value.
pub fn parse(text: &str) -> HashMap<String, f64> {
    let mut families: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let at = |what: &str| format!("line {}: {what}: {line:?}", number + 1);
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .unwrap_or_else(|| panic!("{}", at("bad TYPE")));
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{}",
                at("unknown type")
            );
            assert!(
                families.insert(name.to_owned(), kind.to_owned()).is_none(),
                "{}",
                at("family declared twice")
            );
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("{}", at("no value")));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            number => number
                .parse()
                .unwrap_or_else(|_| panic!("{}", at("value is not a number"))),
        };
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                check_labels(
                    labels
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("{}", at("unclosed labels"))),
                )
                .unwrap_or_else(|why| panic!("{}", at(&why)));
                name
            }
            None => series,
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{}",
            at("bad metric name")
        );
        let family_declared = families.contains_key(name)
            || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|base| families.get(base).is_some_and(|k| k == "histogram"))
            });
        assert!(family_declared, "{}", at("sample before its # TYPE"));
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "{}",
            at("series repeated")
        );
    }
    samples
}

/// `k="v",k2="v2"` with `\\`, `\"` and `\n` the only escapes.
fn check_labels(mut labels: &str) -> Result<(), String> {
    while !labels.is_empty() {
        let (key, rest) = labels.split_once("=\"").ok_or("a label without =\"")?;
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad label name {key:?}"));
        }
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\' | '"' | 'n')) => {}
                    _ => return Err("bad escape in a label value".into()),
                },
                Some((i, '"')) => break i,
                Some((_, '\n')) => return Err("raw line feed in a label value".into()),
                Some(_) => {}
                None => return Err("unclosed label value".into()),
            }
        };
        labels = &rest[end + 1..];
        labels = labels.strip_prefix(',').unwrap_or(labels);
    }
    Ok(())
}
