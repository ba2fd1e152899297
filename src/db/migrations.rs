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
    (
        3,
        "0003_status_checks.sql",
        include_str!("../../sql/0003_status_checks.sql"),
    ),
    (
        4,
        "0004_lease_expiries.sql",
        include_str!("../../sql/0004_lease_expiries.sql"),
    ),
    (
        5,
        "0005_order_fields.sql",
        include_str!("../../sql/0005_order_fields.sql"),
    ),
    (
        6,
        "0006_api_tokens.sql",
        include_str!("../../sql/0006_api_tokens.sql"),
    ),
    (
        7,
        "0007_found_reported.sql",
        include_str!("../../sql/0007_found_reported.sql"),
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

/// Refuses, with nothing written, a database this build must not touch: one
/// from a newer reporter, or a file of another application (tables, but no
/// record of reporter's migrations). Reads only.
pub fn refuse_foreign(conn: &Connection, path: &Path) -> Result<()> {
    let read = || -> rusqlite::Result<(i64, bool, bool)> {
        let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let (tables, ours) = conn.query_row(
            "SELECT COUNT(*) > 0, COALESCE(SUM(name = 'schema_migrations'), 0) > 0
             FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((version, tables, ours))
    };
    let (version, tables, ours) = read().map_err(|err| super::unusable(path, &err))?;
    if tables && !ours {
        return Err(refuse(format!(
            "database `{}` holds tables but no reporter schema: it belongs to another program; pass --db with a reporter database or a new file",
            path.display()
        )));
    }
    refuse_newer(version, path)
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
    fn rebuilding_run_orders_and_jobs_keeps_their_rows_and_their_checks() {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        for (number, _, sql) in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", number).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO users (id, name, login, created_at) VALUES (1, 'ana', 'ana', 0);
             INSERT INTO runs (id, run_date, hour, scheduled_at, scheduled_for, created_at)
                 VALUES (1, '2026-01-01', 10, 0, '2026-01-01T10:00:00Z', 0);
             INSERT INTO run_users (id, run_id, user_id) VALUES (1, 1, 1);
             INSERT INTO ranges (id, run_user_id, range_start, range_end) VALUES (1, 1, 1, 2);
             INSERT INTO run_orders (run_user_id, seq, order_ref, status, reported_at)
                 VALUES (1, 1, 'a', 'reported', 5), (1, 2, 'b', 'pending', NULL);
             INSERT INTO jobs (id, kind, run_id, run_user_id, status, max_retries, run_after, created_at)
                 VALUES (7, 'download', 1, 1, 'done', 5, 0, 0);
             INSERT INTO jobs (id, kind, run_id, run_user_id, range_id, status, attempt, max_retries,
                               claim_order, run_after, lease_owner, lease_expires_at, created_at)
                 VALUES (8, 'report', 1, 1, 1, 'running', 2, 2, 1, 0, 'w', 99, 0);",
        )
        .unwrap();
        // The columns these tables had before the rebuild (later migrations add more).
        let columns_of = |table: &str| -> String {
            let stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
            stmt.column_names().collect::<Vec<_>>().join(", ")
        };
        let columns_before = [
            ("run_orders", columns_of("run_orders")),
            ("jobs", columns_of("jobs")),
        ];
        let rows = |conn: &Connection| -> Vec<String> {
            let mut out = Vec::new();
            for (table, columns) in &columns_before {
                let mut stmt = conn
                    .prepare(&format!("SELECT {columns} FROM {table} ORDER BY 1, 2"))
                    .unwrap();
                let columns = stmt.column_count();
                let mut query = stmt.query([]).unwrap();
                while let Some(row) = query.next().unwrap() {
                    let cells: Vec<String> = (0..columns)
                        .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                        .collect();
                    out.push(format!("{table}: {}", cells.join(", ")));
                }
            }
            out
        };
        let before = rows(&conn);
        apply(&conn, Path::new(":memory:")).unwrap();
        assert_eq!(current(&conn).unwrap(), latest());
        assert_eq!(rows(&conn), before);
        let indexes: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 5);
        assert!(
            conn.execute("UPDATE run_orders SET status = 'lost' WHERE seq = 1", [])
                .is_err()
        );
        assert!(
            conn.execute("UPDATE jobs SET status = 'paused' WHERE id = 7", [])
                .is_err()
        );
        assert!(conn.execute("DELETE FROM run_users", []).is_ok());
        let left: i64 = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM run_orders) + (SELECT COUNT(*) FROM jobs)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0, "the rebuilt tables still cascade from run_users");
    }

    #[test]
    fn every_migration_opens_with_a_comment_on_why_it_exists() {
        for (_, name, sql) in MIGRATIONS {
            assert!(sql.starts_with("-- "), "{name} must open with a comment");
        }
    }
}
