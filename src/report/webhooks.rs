//! The webhooks reports and events are POSTed to: how one is configured, the id it is
//! recorded under, and one delivery attempt over HTTP.

use std::time::Duration;

/// What a webhook expects in its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// flakewatch's own JSON (see the README's "Webhook payloads").
    Json,
    /// A Slack-compatible incoming webhook: `{"text": ..., "blocks": [...]}`.
    Slack,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub format: WebhookFormat,
    pub url: String,
}

impl Webhook {
    /// Reads `json:URL` or `slack:URL`.
    pub fn parse(text: &str) -> Result<Webhook, String> {
        let text = text.trim();
        let (format, url) = text.split_once(':').unwrap_or(("", text));
        let format = match format {
            "json" => WebhookFormat::Json,
            "slack" => WebhookFormat::Slack,
            _ => {
                return Err(format!(
                    "`{text}` is not a webhook: write json:URL or slack:URL, e.g. slack:https://hooks.slack.com/services/..."
                ))
            }
        };
        if !crate::web::urls::is_http_url(url) {
            return Err(format!(
                "the webhook URL `{url}` is not an http:// or https:// URL"
            ));
        }
        Ok(Webhook {
            format,
            url: url.to_owned(),
        })
    }

    /// The name deliveries are recorded under and shown to admins: the format, the host
    /// and a hash of the whole URL, never the URL itself, whose path is often a secret.
    pub fn id(&self) -> String {
        let rest = self.url.split_once("://").map_or("", |(_, rest)| rest);
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let hash = crate::secrets::sha256_hex(&[self.url.as_bytes()]);
        format!("{}:{host}#{}", self.format.as_str(), &hash[..8])
    }
}

/// POSTs `body` (JSON) to `url`; an error says why the attempt failed.
pub fn post(url: &str, body: &str, timeout: Duration) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(concat!("flakewatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let answer = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .map_err(|err| format!("no answer: {err}"))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered HTTP {}", status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_name_their_format_and_an_http_url() {
        let hook = Webhook::parse("slack:https://hooks.example.com/services/T0/B0/secret").unwrap();
        assert_eq!(hook.format, WebhookFormat::Slack);
        assert_eq!(hook.url, "https://hooks.example.com/services/T0/B0/secret");
        assert!(hook.id().starts_with("slack:hooks.example.com#"));
        assert!(!hook.id().contains("secret"));
        assert_eq!(
            Webhook::parse("json:http://127.0.0.1:9/x").unwrap().format,
            WebhookFormat::Json
        );
        for bad in [
            "https://x.example.com",
            "teams:https://x",
            "json:ftp://x",
            "slack:",
        ] {
            assert!(Webhook::parse(bad).is_err(), "{bad}");
        }
    }
}
