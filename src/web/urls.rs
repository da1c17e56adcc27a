//! Which URLs flakewatch stores, links to and hands out.
//!
//! A link's target comes from an upload token holder, who is not trusted with the
//! dashboard's readers: only `http` and `https` URLs are links (a `javascript:` or `data:`
//! URL would run in the dashboard's origin when clicked).

/// Whether `url` is an absolute `http://` or `https://` URL with a host and no whitespace
/// or control characters.
pub fn is_http_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !host.is_empty() && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// `url` when it may be a link, else an empty string (which pages show as plain text).
pub fn link_or_empty(url: String) -> String {
    if is_http_url(&url) {
        url
    } else {
        String::new()
    }
}

/// Reads `--public-url`: an http(s) base URL, kept without its trailing slash.
pub fn parse_public_url(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    if is_http_url(trimmed) && !trimmed.contains(['?', '#']) {
        Ok(trimmed.to_owned())
    } else {
        Err(format!(
            "`{raw}` is not an http:// or https:// base URL, e.g. https://ci.example.com/flakewatch"
        ))
    }
}

/// The address the server hands out for `path` (which starts with `/`): under the
/// configured public URL, or relative to the server when there is none. Never built from
/// request headers, which the client chooses.
pub fn public(base: Option<&str>, path: &str) -> String {
    match base {
        Some(base) => format!("{base}{path}"),
        None => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_are_links() {
        for good in [
            "http://ci.example.com/job/1",
            "HTTPS://ci.example.com",
            "https://ci.example.com:8443/a?b=c#d",
        ] {
            assert!(is_http_url(good), "{good}");
        }
        for bad in [
            "javascript:alert(8)//",
            "javascript://evil/%0aalert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "//evil.example.com",
            "/relative",
            "https://",
            "https:///path",
            "http://exa mple.com",
            "http://example.com/\nx",
            "ftp://example.com",
            "",
        ] {
            assert!(!is_http_url(bad), "{bad}");
        }
        assert_eq!(link_or_empty("javascript:alert(8)".into()), "");
    }

    #[test]
    fn the_public_url_is_a_clean_base() {
        assert_eq!(
            parse_public_url("https://ci.example.com/fw/").unwrap(),
            "https://ci.example.com/fw"
        );
        assert!(parse_public_url("javascript://evil").is_err());
        assert!(parse_public_url("https://ci.example.com/?x=1").is_err());
        assert_eq!(public(None, "/api/v1/tasks/t"), "/api/v1/tasks/t");
        assert_eq!(
            public(Some("https://ci.example.com/fw"), "/api/v1/tasks/t"),
            "https://ci.example.com/fw/api/v1/tasks/t"
        );
    }
}
