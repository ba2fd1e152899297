//! The database check: the file opens, its schema version is one this build
//! knows, it is in WAL mode and `PRAGMA quick_check` finds nothing. The file
//! is opened read-only: the doctor neither creates nor migrates it.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::Check;
use crate::db::{BUSY_TIMEOUT, migrations};

const NAME: &str = "database";

/// The check, and a read-only connection when the file could be opened.
pub fn check(path: &Path) -> (Check, Option<Connection>) {
    if !path.exists() {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir.filter(|d| !d.is_dir()) {
            let fail = Check::fail(
                NAME,
                format!(
                    "the directory `{}` of `{}` does not exist; create it (the units' StateDirectory= does) or pass --db FILE",
                    dir.display(),
                    path.display()
                ),
            );
            return (fail, None);
        }
        let pass = Check::pass(
            NAME,
            format!(
                "`{}` does not exist yet; it is created and migrated on first use",
                path.display()
            ),
        );
        return (pass, None);
    }
    match open(path) {
        Ok(conn) => (inspect(path, &conn), Some(conn)),
        Err(err) => (
            Check::fail(
                NAME,
                format!(
                    "cannot open `{}`: {err}; check the file and its permissions (run as the reporter user) or pass --db FILE",
                    path.display()
                ),
            ),
            None,
        ),
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

fn inspect(path: &Path, conn: &Connection) -> Check {
    let shown = path.display();
    let facts = || -> rusqlite::Result<(i64, String, String)> {
        let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let mode = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let integrity = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        Ok((version, mode, integrity))
    };
    let (version, mode, integrity) = match facts() {
        Ok(facts) => facts,
        Err(err) => {
            return Check::fail(
                NAME,
                format!("cannot read `{shown}`: {err}; check that it is a reporter database"),
            );
        }
    };
    let latest = migrations::latest();
    if version > latest {
        return Check::fail(
            NAME,
            format!(
                "`{shown}` has schema version {version}, newer than this reporter knows ({latest}); upgrade reporter"
            ),
        );
    }
    if integrity != "ok" {
        return Check::fail(
            NAME,
            format!(
                "`{shown}` fails quick_check: {integrity}; stop the workers and restore it from a backup"
            ),
        );
    }
    if !mode.eq_ignore_ascii_case("wal") {
        return Check::fail(
            NAME,
            format!(
                "`{shown}` is in journal_mode {mode}, not wal; run any command that opens it, such as `reporter slots`, to switch it"
            ),
        );
    }
    let schema = if version == latest {
        format!("schema {version}")
    } else {
        format!("schema {version}, migrated to {latest} on next use")
    };
    Check::pass(NAME, format!("{shown} ({schema}, wal, quick_check ok)"))
}
