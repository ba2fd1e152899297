//! Numbered migrations from `sql/`, applied in order under one exclusive
//! transaction and recorded, so racing processes apply each exactly once.

use std::path::Path;

use anyhow::{Context as _, Result};
use rusqlite::{Connection, TransactionBehavior};

use crate::error::refuse;
use crate::time::now_ms;

/// Every migration: its version, its file name and its SQL.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_schema.sql",
        include_str!("../../sql/0001_schema.sql"),
    ),
    (
        2,
        "0002_slots.sql",
        include_str!("../../sql/0002_slots.sql"),
    ),
];

/// The schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// The schema version recorded in the database (`PRAGMA user_version`).
pub fn current(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the database to the latest version; refuses a newer database.
pub fn apply(conn: &Connection, path: &Path) -> Result<()> {
    let version = current(conn).context("cannot read the schema version")?;
    if version == latest() {
        return Ok(());
    }
    refuse_newer(version, path)?;
    // Exclusive: a second process waits here, then sees the new version.
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Exclusive)
        .context("cannot lock the database to migrate it")?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT    NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )?;
    let version = current(&tx)?;
    refuse_newer(version, path)?;
    for (number, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > version) {
        tx.execute_batch(sql)
            .with_context(|| format!("migration {name} failed"))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            (number, name, now_ms()),
        )?;
        tx.pragma_update(None, "user_version", number)?;
    }
    tx.commit().context("cannot commit the migrations")?;
    Ok(())
}

fn refuse_newer(version: i64, path: &Path) -> Result<()> {
    if version > latest() {
        return Err(refuse(format!(
            "database `{}` has schema version {version}, newer than this reporter knows ({}); upgrade reporter",
            path.display(),
            latest()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_match_their_file_names() {
        for (i, (number, name, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*number, i as i64 + 1);
            assert!(name.starts_with(&format!("{number:04}_")), "{name}");
        }
    }

    #[test]
    fn every_migration_opens_with_a_comment_on_why_it_exists() {
        for (_, name, sql) in MIGRATIONS {
            assert!(sql.starts_with("-- "), "{name} must open with a comment");
        }
    }
}
