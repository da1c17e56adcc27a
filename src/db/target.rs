//! Which database a `DATABASE_URL` names.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::DatabaseSettings;
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

    /// The database `settings` name. A SQLite file that does not exist is refused unless
    /// `settings.create` is set: a command run from the wrong folder must not quietly
    /// start a new, empty database there.
    pub fn from_settings(settings: &DatabaseSettings) -> Result<Self, StartupError> {
        let target = DatabaseTarget::parse(&settings.database_url)?;
        if let DatabaseTarget::Sqlite(path) = &target {
            if !settings.create && !is_in_memory(path) && !path.exists() {
                return Err(StartupError::SqliteMissing {
                    path: absolute(path).display().to_string(),
                });
            }
        }
        Ok(target)
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
            DatabaseTarget::Sqlite(path) => write!(f, "sqlite file {}", absolute(path).display()),
        }
    }
}

/// The path from the root, so messages say which file whatever the working folder was.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn is_in_memory(path: &Path) -> bool {
    path.as_os_str() == ":memory:"
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

    fn settings(url: &str, create: bool) -> DatabaseSettings {
        DatabaseSettings {
            database_url: url.to_owned(),
            db_pool_size: 1,
            create,
        }
    }

    #[test]
    fn a_missing_sqlite_file_is_refused_unless_asked_to_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flakewatch.db");
        let url = file.display().to_string();
        let err = DatabaseTarget::from_settings(&settings(&url, false)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&url), "{text}");
        assert!(text.contains("--create"), "{text}");
        assert!(DatabaseTarget::from_settings(&settings(&url, true)).is_ok());
        std::fs::write(&file, b"").unwrap();
        assert!(DatabaseTarget::from_settings(&settings(&url, false)).is_ok());
        assert!(DatabaseTarget::from_settings(&settings(":memory:", false)).is_ok());
        assert!(DatabaseTarget::from_settings(&settings("postgres://u@h/db", false)).is_ok());
    }

    #[test]
    fn a_sqlite_target_is_shown_with_its_whole_path() {
        let shown = DatabaseTarget::parse("flakewatch.db").unwrap().to_string();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            shown,
            format!("sqlite file {}", cwd.join("flakewatch.db").display())
        );
    }

    #[test]
    fn display_hides_the_password() {
        let target = DatabaseTarget::parse("postgres://fw:s3cret@db:5432/fw").unwrap();
        assert_eq!(target.to_string(), "postgres://fw:***@db:5432/fw");
    }
}
