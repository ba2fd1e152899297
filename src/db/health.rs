//! The database's health: which SQLite is linked in, and SQLite's errors told
//! apart by what they ask of a worker. A malformed file stops it (retrying
//! cannot help and may spread the damage); a full disk or a failing write is
//! retried until it lands.

use std::path::Path;

use rusqlite::{Connection, ErrorCode};

/// The first SQLite release without the WAL-reset bug: a checkpoint that
/// starts while another connection's commit resets the WAL could skip pages
/// and lose committed writes or corrupt indexes (3.7.0 through 3.51.2).
pub const WAL_RESET_FIXED: &str = "3.51.3";

/// The SQLite this binary runs, as `3.54.1`.
pub fn linked_version() -> &'static str {
    rusqlite::version()
}

/// Whether SQLite `major.minor.patch`, as `sqlite3_libversion_number`
/// (3054001), has the WAL-reset fix: 3.51.3 and later, or the 3.50.7 and
/// 3.44.6 backports.
pub fn has_wal_reset_fix(version_number: i32) -> bool {
    let (major, minor, patch) = (
        version_number / 1_000_000,
        version_number / 1000 % 1000,
        version_number % 1000,
    );
    match (major, minor) {
        (3, 51) => patch >= 3,
        (3, 50) => patch >= 7,
        (3, 44) => patch >= 6,
        (3, minor) => minor > 51,
        (major, _) => major > 3,
    }
}

/// Whether the SQLite linked in has the WAL-reset fix.
pub fn linked_is_safe() -> bool {
    has_wal_reset_fix(rusqlite::version_number())
}

/// What an SQLite error means for the work in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The file is damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`): stop.
    Malformed,
    /// The disk is full (`SQLITE_FULL`): retry once there is room.
    DiskFull,
    /// The write failed in the file system (`SQLITE_IOERR`, read-only, out
    /// of space for the journal): retry.
    WriteFailed,
}

impl Fault {
    /// What `status` and the metrics call it.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Malformed => "malformed",
            Fault::DiskFull => "disk full",
            Fault::WriteFailed => "write failed",
        }
    }
}

/// The fault an error, or any error in its chain, comes from; `None` for
/// anything that is not the database's file (a constraint, a busy timeout).
pub fn fault(err: &anyhow::Error) -> Option<Fault> {
    err.chain().find_map(|cause| {
        let code = cause
            .downcast_ref::<rusqlite::Error>()?
            .sqlite_error_code()?;
        match code {
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Some(Fault::Malformed),
            ErrorCode::DiskFull => Some(Fault::DiskFull),
            ErrorCode::SystemIoFailure | ErrorCode::ReadOnly | ErrorCode::CannotOpen => {
                Some(Fault::WriteFailed)
            }
            _ => None,
        }
    })
}

/// The one line a worker stops with on a malformed database.
pub fn malformed_line(path: &Path, err: &anyhow::Error) -> String {
    let shown = path.display();
    format!(
        "the database `{shown}` is malformed ({}); this worker stops claiming. Stop every worker, \
         run `reporter doctor` to see the damage, then restore the last backup, or rebuild it with \
         `sqlite3 {shown} .recover | sqlite3 {shown}.recovered` and move that in its place",
        root_cause(err)
    )
}

fn root_cause(err: &anyhow::Error) -> String {
    err.root_cause().to_string().replace('\n', " ")
}

/// `PRAGMA quick_check`: the problems it finds (at most `limit`), none when
/// the file is sound; each on one line, with the table or index a damaged
/// tree belongs to ("Tree 27 (index jobs_claimable) page 27: ...").
pub fn quick_check(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA quick_check({})", limit.max(1)))?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let found = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    if found.iter().all(|row| row == "ok") {
        return Ok(Vec::new());
    }
    let trees = tree_names(conn).unwrap_or_default();
    Ok(found
        .iter()
        .flat_map(|row| row.lines())
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("***"))
        .map(|line| name_tree(line, &trees))
        .collect())
}

/// Root page -> "table NAME" or "index NAME", from the schema.
fn tree_names(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt =
        conn.prepare("SELECT rootpage, type || ' ' || name FROM sqlite_master WHERE rootpage > 0")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn name_tree(line: &str, trees: &[(i64, String)]) -> String {
    let Some(rest) = line.strip_prefix("Tree ") else {
        return line.to_string();
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let named = digits
        .parse::<i64>()
        .ok()
        .and_then(|root| trees.iter().find(|(page, _)| *page == root));
    match named {
        Some((_, name)) => format!("Tree {digits} ({name}){}", &rest[digits.len()..]),
        None => line.to_string(),
    }
}

/// Bytes an unprivileged writer can still use on the file system that holds
/// `path` (its directory when the file does not exist yet).
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let target = if path.exists() { path } else { dir };
    let name = std::ffi::CString::new(target.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `name` is a valid C string and `stat` is written by the call.
    let done = unsafe { libc::statvfs(name.as_ptr(), stat.as_mut_ptr()) };
    if done != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::unnecessary_cast)] // c_ulong and fsblkcnt_t differ by target
    let free = stat.f_bavail as u64 * stat.f_frsize as u64;
    Some(free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_linked_in_has_the_wal_reset_fix() {
        assert!(
            linked_is_safe(),
            "SQLite {} is linked in; it has the WAL-reset bug (fixed in {WAL_RESET_FIXED}): keep rusqlite's bundled SQLite at {WAL_RESET_FIXED} or later in Cargo.lock",
            linked_version()
        );
    }

    #[test]
    fn only_releases_with_the_wal_reset_fix_or_its_backports_count_as_safe() {
        for safe in [
            3_051_003, 3_052_000, 3_054_001, 3_050_007, 3_044_006, 4_000_000,
        ] {
            assert!(has_wal_reset_fix(safe), "{safe} has the fix");
        }
        for unsafe_ in [
            3_050_002, 3_051_002, 3_044_005, 3_045_000, 3_007_000, 2_008_017,
        ] {
            assert!(!has_wal_reset_fix(unsafe_), "{unsafe_} has the bug");
        }
    }

    #[test]
    fn a_corrupt_or_full_database_error_is_told_apart_through_its_context() {
        let failure = |code: i32| -> anyhow::Error {
            let err = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
            anyhow::Error::new(err).context("cannot record orders")
        };
        assert_eq!(fault(&failure(11)), Some(Fault::Malformed));
        assert_eq!(fault(&failure(26)), Some(Fault::Malformed));
        assert_eq!(fault(&failure(13)), Some(Fault::DiskFull));
        assert_eq!(fault(&failure(10)), Some(Fault::WriteFailed));
        assert_eq!(fault(&failure(5)), None);
        assert_eq!(fault(&anyhow::anyhow!("no database at all")), None);
    }

    #[test]
    fn a_sound_file_passes_quick_check() {
        let dir = tempfile::tempdir().unwrap();
        let conn = super::super::open(&dir.path().join("t.db")).unwrap();
        assert_eq!(quick_check(&conn, 10).unwrap(), Vec::<String>::new());
        assert!(free_bytes(&dir.path().join("t.db")).unwrap() > 0);
    }
}
