//! SQLite: one `open()` that sets up every connection the same way, and the
//! queries grouped by table.

pub mod migrations;
pub mod orders;
pub mod reservations;
pub mod runs;
pub mod slots;
pub mod users;
pub mod workers;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::refuse;

/// How long a statement waits for another process's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// Prepared statements kept per connection. A worker's job path alone uses
/// about twenty; with rusqlite's default of 16 they evicted each other and
/// were prepared again on almost every use.
const STATEMENT_CACHE: usize = 64;

/// Opens the database file, creating and migrating it if needed: WAL,
/// `synchronous=NORMAL`, foreign keys on and a busy timeout, each read back.
pub fn open(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|err| unusable(path, &err))?;
    configure(&conn).map_err(|err| unusable(path, &err))?;
    migrations::apply(&conn, path)?;
    Ok(conn)
}

fn unusable(path: &Path, err: &dyn std::fmt::Display) -> anyhow::Error {
    refuse(format!(
        "cannot use database `{}`: {err}; check that the file is a reporter database in a writable directory, or pass --db FILE",
        path.display()
    ))
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let busy: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
    if busy != BUSY_TIMEOUT.as_millis() as i64 {
        bail!("busy_timeout reads back {busy}");
    }
    let mode = wal_mode(conn)?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!("journal_mode reads back {mode}, not wal");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    if sync != 1 {
        bail!("synchronous reads back {sync}, not 1 (NORMAL)");
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    if fk != 1 {
        bail!("foreign_keys reads back {fk}, not 1");
    }
    Ok(())
}

/// Switches to WAL and returns the mode read back. On a new file another
/// process may hold the lock while it migrates, and the switch does not wait on
/// the busy timeout, so it is retried here for as long as that timeout.
fn wal_mode(conn: &Connection) -> Result<String> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return Ok(result?),
        }
    }
}

/// Runs `f` in one `BEGIN IMMEDIATE` transaction: the write lock is taken at
/// the start, so racing processes queue on the busy timeout instead of failing
/// on a lock upgrade. Rolls back on error.
pub fn immediate<T>(
    conn: &mut Connection,
    f: impl FnOnce(&rusqlite::Transaction) -> Result<T>,
) -> Result<T> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .context("cannot start a database transaction")?;
    let value = f(&tx)?;
    tx.commit().context("cannot commit to the database")?;
    Ok(value)
}
