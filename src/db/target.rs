//! Which database a `DATABASE_URL` names.

use std::fmt;
use std::path::PathBuf;

use crate::error::StartupError;

/// The two storage backends flakewatch runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        })
    }
}

/// A parsed `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A `postgres://` or `postgresql://` connection URL, kept as given.
    Postgres(String),
    /// A SQLite database file.
    Sqlite(PathBuf),
}

impl DatabaseTarget {
    /// Reads `postgres://...`, `postgresql://...`, `sqlite://PATH`, `sqlite:PATH` or a
    /// plain file path. Any other `scheme://` is refused rather than taken as a file name.
    pub fn parse(url: &str) -> Result<Self, StartupError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StartupError::BadDatabaseUrl {
                url: String::new(),
                reason: "it is empty".into(),
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseTarget::Postgres(url.to_owned()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StartupError::BadDatabaseUrl {
                    url: url.into(),
                    reason: "it names no file after `sqlite:`".into(),
                });
            }
            return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            return Err(StartupError::BadDatabaseUrl {
                url: redact(url),
                reason: format!(
                    "the scheme `{scheme}` is not supported; use postgres://USER@HOST:PORT/DB or a SQLite file path"
                ),
            });
        }
        Ok(DatabaseTarget::Sqlite(PathBuf::from(url)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseTarget::Postgres(_) => Backend::Postgres,
            DatabaseTarget::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Shown in logs and errors: never prints a password.
impl fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseTarget::Postgres(url) => f.write_str(&redact(url)),
            DatabaseTarget::Sqlite(path) => write!(f, "sqlite file {}", path.display()),
        }
    }
}

impl fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Replaces the password of `scheme://user:password@host` with `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_form() {
        assert_eq!(
            DatabaseTarget::parse("postgres://u@h/db")
                .unwrap()
                .backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseTarget::parse("postgresql://u@h/db")
                .unwrap()
                .backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite:///tmp/x.db").unwrap(),
            DatabaseTarget::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            DatabaseTarget::parse("sqlite:x.db").unwrap(),
            DatabaseTarget::Sqlite("x.db".into())
        );
        assert_eq!(
            DatabaseTarget::parse("flakewatch.db").unwrap(),
            DatabaseTarget::Sqlite("flakewatch.db".into())
        );
    }

    #[test]
    fn refuses_unknown_schemes_and_empty_urls() {
        let err = DatabaseTarget::parse("mysql://root:hunter2@db/x").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`mysql` is not supported"), "{text}");
        assert!(!text.contains("hunter2"), "password leaked: {text}");
        assert!(DatabaseTarget::parse("  ").is_err());
        assert!(DatabaseTarget::parse("sqlite:").is_err());
    }

    #[test]
    fn display_hides_the_password() {
        let target = DatabaseTarget::parse("postgres://fw:s3cret@db:5432/fw").unwrap();
        assert_eq!(target.to_string(), "postgres://fw:***@db:5432/fw");
    }
}
