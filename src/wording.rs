//! English for counts and articles, so messages never say "1 runs" or "a upload token".

/// `1 run`, `2 runs`: for nouns whose plural adds an `s`. Any integer type will do.
pub fn count(n: impl std::fmt::Display, noun: &str) -> String {
    let n = n.to_string();
    if n == "1" {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The word that agrees with `n`: `agree(1, "was", "were")` is `was`.
pub fn agree<'a>(n: impl std::fmt::Display, one: &'a str, many: &'a str) -> &'a str {
    if n.to_string() == "1" {
        one
    } else {
        many
    }
}

/// `a read token`, `an upload token`, `an admin token`: the article by the first letter,
/// which is right for the words flakewatch puts after it.
pub fn with_article(phrase: &str) -> String {
    let vowel = phrase
        .chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c));
    if vowel {
        format!("an {phrase}")
    } else {
        format!("a {phrase}")
    }
}

/// Text safe in a Markdown table cell: pipes, backticks and markup characters escaped,
/// line breaks flattened.
pub fn markdown_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '|' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '\\' | '#' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_number() {
        assert_eq!(count(1u32, "run"), "1 run");
        assert_eq!(count(0u32, "run"), "0 runs");
        assert_eq!(count(12u64, "test result"), "12 test results");
        assert_eq!(agree(1, "was", "were"), "was");
        assert_eq!(agree(2usize, "was", "were"), "were");
    }

    #[test]
    fn articles_follow_the_sound() {
        assert_eq!(with_article("upload token"), "an upload token");
        assert_eq!(with_article("admin token"), "an admin token");
        assert_eq!(with_article("read token"), "a read token");
    }
}
