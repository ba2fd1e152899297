//! The database check: the file opens, its schema version is one this build
//! knows, it is in WAL mode, `PRAGMA quick_check` finds nothing and its disk
//! has room. The file is opened read-only: the doctor neither creates nor
//! migrates it. And the SQLite check: the library linked in has no known
//! corruption bug.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::Check;
use crate::db::health;
use crate::db::{BUSY_TIMEOUT, migrations};

const NAME: &str = "database";

/// Free space below which the database check warns: the WAL of a busy run
/// grows by megabytes between checkpoints.
const LOW_SPACE: u64 = 64 * 1024 * 1024;

/// The SQLite this binary links: one with the WAL-reset bug can corrupt the
/// database or lose committed writes under concurrent checkpoints.
pub fn sqlite() -> Check {
    let version = health::linked_version();
    if health::linked_is_safe() {
        Check::pass(
            "sqlite",
            format!(
                "SQLite {version} (the WAL-reset bug is fixed from {})",
                health::WAL_RESET_FIXED
            ),
        )
    } else {
        Check::fail(
            "sqlite",
            format!(
                "SQLite {version} is linked in and has the WAL-reset bug, which can corrupt the database or lose committed writes; install a reporter built with SQLite {} or later",
                health::WAL_RESET_FIXED
            ),
        )
    }
}

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
    let facts = || -> rusqlite::Result<(i64, String, Vec<String>)> {
        let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let mode = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let problems = health::quick_check(conn, 5)?;
        Ok((version, mode, problems))
    };
    let (version, mode, problems) = match facts() {
        Ok(facts) => facts,
        Err(err)
            if matches!(
                err.sqlite_error_code(),
                Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
            ) =>
        {
            return Check::fail(NAME, malformed(path, &err.to_string()));
        }
        Err(err) => {
            return Check::fail(
                NAME,
                format!("cannot read `{shown}`: {err}; check that it is a reporter database"),
            );
        }
    };
    if !problems.is_empty() {
        let found = format!("quick_check finds: {}", problems.join("; "));
        return Check::fail(NAME, malformed(path, &found));
    }
    let latest = migrations::latest();
    if version > latest {
        return Check::fail(
            NAME,
            format!(
                "`{shown}` has schema version {version}, newer than this reporter knows ({latest}); upgrade reporter"
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
    match health::free_bytes(path) {
        Some(free) if free < LOW_SPACE => Check::warn(
            NAME,
            format!(
                "{shown} ({schema}, wal, quick_check ok), but only {} MiB free on its disk: a full disk stops every write (workers keep their outcomes and retry); free space there",
                free / (1024 * 1024)
            ),
        ),
        _ => Check::pass(NAME, format!("{shown} ({schema}, wal, quick_check ok)")),
    }
}

/// A failed check for a malformed file, with what to do.
fn malformed(path: &Path, found: &str) -> String {
    let shown = path.display();
    format!(
        "`{shown}` is malformed ({found}); stop every worker, then restore the last backup, or rebuild it with `sqlite3 {shown} .recover | sqlite3 {shown}.recovered` and move that in its place"
    )
}
