//! SQLite: one `open()` that sets up every connection the same way, and the
//! queries grouped by table.

pub mod busy;
pub mod health;
pub mod migrations;
pub mod orders;
pub mod reservations;
pub mod runs;
pub mod slots;
pub mod thread;
pub mod tokens;
pub mod users;
pub mod workers;

pub use thread::DbThread;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::refuse;

/// How long a statement waits for another process's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// Prepared statements kept per connection. A worker's job path alone uses
/// about twenty; with rusqlite's default of 16 they evicted each other and
/// were prepared again on almost every use.
const STATEMENT_CACHE: usize = 64;

/// Keeps glibc from handing SQLite's page-cache memory back to the kernel
/// after every transaction. SQLite 3.54 frees and reallocates its page caches
/// (the main one after another connection's commit, those of statement
/// journals) in chunks that glibc served with mmap and returned with munmap:
/// page faults and TLB shootdowns cost the scheduler about a quarter of its
/// throughput (BENCHMARKS.md). Such chunks now come from the heap, and the
/// heap is trimmed only past 64 MiB free. Called once, at process start.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocation thresholds; it is
    // called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// Opens the database file, creating and migrating it if needed: WAL,
/// `synchronous=NORMAL`, foreign keys on and a busy timeout, each read back.
pub fn open(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|err| unusable(path, &err))?;
    // Before anything that writes (switching to WAL rewrites the header);
    // waiting, like every statement, for another process's lock.
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|err| unusable(path, &err))?;
    migrations::refuse_foreign(&conn, path)?;
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
    // The query planner stability guarantee: a cached statement keeps its
    // plan whatever is bound to it. Without it SQLite 3.54 marks integer
    // parameters compared with indexed columns (`seq BETWEEN :start AND
    // :end`, the claim's) as "re-prepare on bind", and prepared the claim,
    // a range's pending orders and its completion again on every use: half
    // the scheduler's throughput (BENCHMARKS.md). No table is ANALYZEd, so
    // no plan depends on the values anyway.
    if !conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)? {
        bail!("the query planner stability guarantee (QPSG) reads back off");
    }
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
/// on a lock upgrade. On any error, from `f` or from `COMMIT` (a full disk
/// fails there), the transaction is rolled back before this returns; SQLite
/// may have rolled it back already, or may not have, and a connection left
/// inside a failed transaction must never carry on with it. A rollback that
/// itself fails is part of the error.
pub fn immediate<T>(
    conn: &mut Connection,
    f: impl FnOnce(&rusqlite::Transaction) -> Result<T>,
) -> Result<T> {
    let result = (|| {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .context("cannot start a database transaction")?;
        let value = f(&tx)?;
        tx.commit().context("cannot commit to the database")?;
        Ok(value)
    })();
    if result.is_err()
        && let Err(rollback) = roll_back_if_open(conn)
    {
        return result.context(format!("and the rollback failed too: {rollback}"));
    }
    result
}

/// Rolls back a transaction that a failed statement or `COMMIT` left open,
/// so that the connection's next transaction starts clean.
pub fn roll_back_if_open(conn: &Connection) -> rusqlite::Result<()> {
    if conn.is_autocommit() {
        return Ok(());
    }
    conn.execute_batch("ROLLBACK")
}

/// SQLite's default `wal_autocheckpoint`, in pages.
pub const WAL_AUTOCHECKPOINT: i64 = 1000;

/// How often a checkpointer copies the WAL back into the database file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// How often a failure that goes on is logged again.
const REPEAT_FAILURE: Duration = Duration::from_secs(30);

/// `PRAGMA wal_checkpoint(PASSIVE)`: copies what it can into the database
/// without waiting for anyone. `true` when the whole WAL is now copied, so the
/// next write starts it over from the beginning.
pub fn checkpoint(conn: &Connection) -> Result<bool> {
    let (busy, log, copied): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(busy == 0 && log == copied)
}

/// Checkpoints a busy writer's WAL from a thread and connection of its own, so
/// that the copying and the two fsyncs of a checkpoint stop holding up the
/// writer's transactions (its connection runs with `wal_autocheckpoint = 0`).
/// Every `CHECKPOINT_EVERY` it copies what it can without blocking the writer,
/// then lets `finish` copy what the writer added meanwhile, under the writer's
/// own lock: a WAL that is never copied to its end while writes go on would
/// never start over, and would grow for as long as they do.
pub struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(
        path: &Path,
        finish: impl Fn() -> Result<bool> + Send + 'static,
    ) -> Result<Checkpointer> {
        let conn = open(path)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("checkpointer".into())
            .spawn(move || {
                use std::sync::mpsc::RecvTimeoutError;
                // A failing checkpoint (a full disk) is said once, then
                // every `REPEAT_FAILURE` while it goes on, and its end too.
                let mut failing: Option<std::time::Instant> = None;
                let mut said = std::time::Instant::now();
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                    // The first pass cannot tell whether the writer added
                    // frames while it ran; the second, under the writer's
                    // lock, copies them, and costs nothing if there are none.
                    let done = checkpoint(&conn).and_then(|_| finish());
                    match (done, failing) {
                        (Ok(_), Some(since)) => {
                            tracing::info!("checkpoints of the database's WAL work again after {:.0} s", since.elapsed().as_secs_f64());
                            failing = None;
                        }
                        (Ok(_), None) => {}
                        (Err(err), since) => {
                            if since.is_none() || said.elapsed() >= REPEAT_FAILURE {
                                tracing::warn!(error = %format!("{err:#}"), "cannot checkpoint the database's WAL; trying again every {} ms", CHECKPOINT_EVERY.as_millis());
                                said = std::time::Instant::now();
                            }
                            failing.get_or_insert_with(std::time::Instant::now);
                        }
                    }
                }
            })
            .context("cannot start the checkpointer thread")?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_commit_that_fails_leaves_no_transaction_open_and_nothing_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("t.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        // A deferred foreign key fails at COMMIT, which leaves SQLite's
        // transaction open: the same place a full disk fails.
        let failed = immediate(&mut conn, |tx| {
            tx.execute("INSERT INTO child VALUES (7)", [])?;
            Ok(())
        });
        let err = failed.unwrap_err();
        assert!(format!("{err:#}").contains("cannot commit"), "{err:#}");
        assert!(conn.is_autocommit(), "no transaction is left open");
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM child", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
        immediate(&mut conn, |tx| {
            tx.execute("INSERT INTO parent VALUES (7)", [])?;
            tx.execute("INSERT INTO child VALUES (7)", [])?;
            Ok(())
        })
        .unwrap();
    }

    /// The WAL header's checkpoint sequence number and salts: they change
    /// each time the WAL starts over from its beginning.
    fn wal_generation(wal: &Path) -> Option<[u8; 12]> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(wal).ok()?;
        let mut generation = [0; 12];
        file.seek(SeekFrom::Start(12)).ok()?;
        file.read_exact(&mut generation).ok()?;
        Some(generation)
    }

    #[test]
    fn a_checkpointer_lets_the_wal_start_over_while_writes_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.db");
        let wal = dir.path().join("ckpt.db-wal");
        let writer = open(&path).unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
            .unwrap();
        let writer = Arc::new(Mutex::new(writer));
        let finishing = writer.clone();
        let checkpointer =
            Checkpointer::start(&path, move || checkpoint(&finishing.lock().unwrap())).unwrap();
        // Commits of four 4 KiB pages each (four rows of 3,000 bytes), about
        // as often as a busy worker makes them, until the WAL has started
        // over many times and is smaller than a quarter of what went through
        // it: as large as all of it if it never started over. Counted in
        // restarts and bytes, not in time: a loaded machine only takes longer.
        const RESTARTS: usize = 20;
        const COMMIT: u64 = 4 * 4096;
        let limit = Duration::from_secs(120);
        let deadline = std::time::Instant::now() + limit;
        let (mut commits, mut restarts, mut size) = (0u64, 0, 0);
        let mut generation = None;
        while commits < 2000 || restarts < RESTARTS || size >= commits * COMMIT / 4 {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out after {limit:?} waiting for the WAL to start over {RESTARTS} times while writes go on: \
                 {restarts} times in {commits} commits, the WAL at {size} bytes"
            );
            let mut conn = writer.lock().unwrap();
            immediate(&mut conn, |tx| {
                tx.execute(
                    "INSERT OR REPLACE INTO t (id, v) SELECT (?1 + value * 10) % 50, zeroblob(3000)
                     FROM json_each('[0, 1, 2, 3]')",
                    [commits as i64],
                )?;
                Ok(())
            })
            .unwrap();
            // Only this writer starts the WAL over, at its next write: the
            // header cannot change while it is read here.
            let now = wal_generation(&wal);
            drop(conn);
            if generation.is_some() && now != generation {
                restarts += 1;
            }
            generation = now;
            size = std::fs::metadata(&wal).unwrap().len();
            commits += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
        drop(checkpointer);
        assert!(checkpoint(&writer.lock().unwrap()).unwrap());
    }
}
