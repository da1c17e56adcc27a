//! `flakewatch migrate`: bring the schema up to date.

use crate::config::DatabaseSettings;
use crate::db::{self, migrations, DatabaseTarget};

pub fn run(settings: DatabaseSettings) -> anyhow::Result<()> {
    let target = DatabaseTarget::parse(&settings.database_url)?;
    let mut conn = db::connect(&target)?;
    let applied = migrations::run_pending(&mut conn, &target)?;
    if applied.is_empty() {
        println!("{target}: schema is up to date, nothing to apply");
    } else {
        println!(
            "{target}: applied {} migration(s): {}",
            applied.len(),
            applied.join(", ")
        );
    }
    Ok(())
}
