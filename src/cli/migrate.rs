//! `flakewatch migrate`: bring the schema up to date.

use crate::cli::database;
use crate::config::DatabaseSettings;
use crate::db::{self, migrations};
use crate::wording::count;

pub fn run(settings: DatabaseSettings) -> anyhow::Result<()> {
    let target = database::target(&settings)?;
    let mut conn = db::connect(&target)?;
    let applied = migrations::run_pending(&mut conn, &target)?;
    if applied.is_empty() {
        println!("{target}: schema is up to date, nothing to apply");
    } else {
        println!(
            "{target}: applied {}: {}",
            count(applied.len(), "migration"),
            applied.join(", ")
        );
    }
    Ok(())
}
