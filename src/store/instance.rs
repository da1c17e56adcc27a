//! Secrets of this installation, shared by every replica through the database.

use diesel::prelude::*;

use crate::db::schema::instance_secrets;
use crate::db::DbConnection;
use crate::secrets;

/// The secret called `name`, created at random the first time any replica asks.
pub fn secret(conn: &mut DbConnection, name: &str) -> QueryResult<String> {
    let fresh = format!("{}{}", secrets::random_hex128(), secrets::random_hex128());
    crate::per_backend!(conn, |c| diesel::insert_into(instance_secrets::table)
        .values((
            instance_secrets::name.eq(name),
            instance_secrets::value.eq(&fresh)
        ))
        .on_conflict(instance_secrets::name)
        .do_nothing()
        .execute(c))?;
    instance_secrets::table
        .filter(instance_secrets::name.eq(name))
        .select(instance_secrets::value)
        .first(conn)
}
