//! SQLite's busy timeout, explained: a statement that waited `BUSY_TIMEOUT`
//! for another process's write lock fails with "database is locked", which
//! says neither who holds the lock nor what to do. The error gets one line
//! more: the workers registered in the database (a read, which WAL allows
//! while another process writes) and how a lock stays held.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::workers;
use crate::time::now_ms;

/// Whether the error, or any error in its chain, is SQLite's busy timeout.
pub fn is_busy(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
        )
    })
}

/// The line `explain` adds, kept as its own type so that an error is
/// explained once however many layers it crosses.
#[derive(Debug)]
struct Explained(String);

impl std::fmt::Display for Explained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the error is a busy timeout not explained yet.
fn unexplained_busy(err: &anyhow::Error) -> bool {
    is_busy(err) && err.downcast_ref::<Explained>().is_none()
}

/// A busy timeout, with who likely holds the lock and what to do; any other
/// error (or one already explained) as it is. `conn` reads the workers (any
/// connection to the database).
pub fn explain(conn: &Connection, err: anyhow::Error) -> anyhow::Error {
    if !unexplained_busy(&err) {
        return err;
    }
    let waited = match conn.query_row("PRAGMA busy_timeout", [], |r| r.get::<_, i64>(0)) {
        Ok(ms) if ms % 1000 == 0 => format!("{} s", ms / 1000),
        Ok(ms) => format!("{ms} ms"),
        Err(_) => "busy".to_string(),
    };
    let now = now_ms();
    let listed_after = now - workers::WORKER_MEMORY.as_millis() as i64;
    let holders = match workers::seen_since(conn, listed_after) {
        Ok(seen) if seen.is_empty() => {
            "no worker is running, so another command or a tool such as sqlite3 holds it"
                .to_string()
        }
        Ok(seen) => {
            let listed: Vec<String> = seen
                .iter()
                .map(|w| {
                    format!(
                        "`{}` on {} (pid {}, seen {} s ago)",
                        w.id,
                        w.host,
                        w.pid,
                        (now - w.last_seen).max(0) / 1000
                    )
                })
                .collect();
            format!("workers running: {}", listed.join(", "))
        }
        Err(_) => "the workers could not be read".to_string(),
    };
    err.context(Explained(format!(
        "another process held the database's write lock for longer than the {waited} busy timeout; \
         {holders}; a worker stopped mid-write (SIGSTOP, a debugger) holds it until it resumes or \
         is killed: `reporter status` lists the workers still heartbeating, so one listed here \
         but not there is the likely holder; resume it (`kill -CONT PID`) or stop it"
    )))
}

/// As `explain`, reading the workers through a connection of its own to the
/// database at `path` (for an error that left its connection behind).
pub fn explain_at(path: &Path, err: anyhow::Error) -> anyhow::Error {
    if !unexplained_busy(&err) {
        return err;
    }
    match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY) {
        Ok(conn) => {
            let _ = conn.busy_timeout(super::BUSY_TIMEOUT);
            explain(&conn, err)
        }
        Err(_) => err,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use anyhow::Context as _;

    use super::*;
    use crate::db::{immediate, open};

    #[test]
    fn a_busy_timeout_names_the_registered_workers_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        let holder = open(&path).unwrap();
        holder
            .execute(
                "INSERT INTO workers (id, host, pid, concurrency, started_at, last_seen)
                 VALUES ('w1', 'host-a', 4242, 2, 0, ?1)",
                [now_ms() - 40_500],
            )
            .unwrap();
        holder
            .execute_batch("BEGIN IMMEDIATE; UPDATE workers SET concurrency = 3;")
            .unwrap();
        let mut waiter = open(&path).unwrap();
        waiter.busy_timeout(Duration::from_millis(50)).unwrap();
        let err = immediate(&mut waiter, |tx| {
            tx.execute("UPDATE workers SET concurrency = 4", [])?;
            Ok(())
        })
        .context("cannot record the job")
        .unwrap_err();
        assert!(is_busy(&err), "{err:#}");
        let message = format!("{:#}", explain(&waiter, err));
        assert!(
            message.starts_with(
                "another process held the database's write lock for longer than the 50 ms busy timeout; \
                 workers running: `w1` on host-a (pid 4242, seen 40 s ago); "
            ),
            "{message}"
        );
        assert!(
            message.contains(
                "a worker stopped mid-write (SIGSTOP, a debugger) holds it until it resumes or is killed: \
                 `reporter status` lists the workers still heartbeating"
            ),
            "{message}"
        );
        assert!(
            message.contains("or stop it: cannot record the job: cannot start a database transaction: database is locked"),
            "{message}"
        );
        assert!(!message.contains('\n'), "one line: {message}");
        let err = err_again(&mut waiter);
        let again = format!("{:#}", explain_at(&path, explain(&waiter, err)));
        assert_eq!(
            again.matches("busy timeout").count(),
            1,
            "explained once: {again}"
        );
        holder.execute_batch("COMMIT").unwrap();
    }

    /// Another busy timeout on `waiter`.
    fn err_again(waiter: &mut Connection) -> anyhow::Error {
        immediate(waiter, |_| Ok(())).unwrap_err()
    }

    #[test]
    fn an_error_that_is_not_a_busy_timeout_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("other.db")).unwrap();
        let err = conn
            .execute("UPDATE no_such_table SET x = 1", [])
            .context("cannot update")
            .unwrap_err();
        assert!(!is_busy(&err));
        assert_eq!(format!("{:#}", explain(&conn, err)).lines().count(), 1);
    }
}
