//! How the commands that work on the database directly (token, rescore, migrate) open it:
//! a missing SQLite file is created only with --create, and the database used is named on
//! stderr, so stdout stays the command's answer and a wrong folder is noticed at once.

use crate::config::DatabaseSettings;
use crate::db::{self, Database, DatabaseTarget};

/// The database of `settings`, connected and migrated, after saying which one it is.
pub fn open(settings: &DatabaseSettings) -> anyhow::Result<Database> {
    let target = DatabaseTarget::from_settings(settings)?;
    let existed = exists(&target);
    let database = db::open_for_command(settings)?;
    announce(&database.target, existed);
    Ok(database)
}

/// The database of `settings` with nothing opened yet, for commands that connect by hand.
pub fn target(settings: &DatabaseSettings) -> anyhow::Result<DatabaseTarget> {
    let target = DatabaseTarget::from_settings(settings)?;
    announce(&target, exists(&target));
    Ok(target)
}

fn exists(target: &DatabaseTarget) -> bool {
    match target {
        DatabaseTarget::Sqlite(path) => path.exists(),
        DatabaseTarget::Postgres(_) => true,
    }
}

fn announce(target: &DatabaseTarget, existed: bool) {
    if existed {
        eprintln!("flakewatch: database: {target}");
    } else {
        eprintln!("flakewatch: database: {target} (new)");
    }
}
