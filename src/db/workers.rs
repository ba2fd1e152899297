//! `reporter work` processes as they record themselves: registered at start,
//! `last_seen` refreshed every third of a lease, `stopped_at` set on exit.

use anyhow::Result;
use rusqlite::{Connection, named_params};

/// One running worker and its last heartbeat.
#[derive(Debug, Clone)]
pub struct WorkerSeen {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub concurrency: i64,
    /// Unix milliseconds of the last heartbeat.
    pub last_seen: i64,
}

/// Registers a worker as started now (again, after a restart under the
/// same id).
pub fn register(
    conn: &Connection,
    id: &str,
    host: &str,
    concurrency: usize,
    now_ms: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO workers (id, host, pid, concurrency, started_at, last_seen) VALUES (:id, :host, :pid, :n, :now, :now)
         ON CONFLICT (id) DO UPDATE SET host = :host, pid = :pid, concurrency = :n, started_at = :now,
             last_seen = :now, stopped_at = NULL",
    )?
    .execute(named_params! {
        ":id": id, ":host": host, ":pid": std::process::id(), ":n": concurrency as i64, ":now": now_ms,
    })?;
    Ok(())
}

/// A worker's heartbeat.
pub fn seen(conn: &Connection, id: &str, now_ms: i64) -> Result<()> {
    conn.prepare_cached("UPDATE workers SET last_seen = :now WHERE id = :id")?
        .execute(named_params! {":id": id, ":now": now_ms})?;
    Ok(())
}

/// Records that a worker stopped on its own.
pub fn stopped(conn: &Connection, id: &str, now_ms: i64) -> Result<()> {
    conn.prepare_cached("UPDATE workers SET stopped_at = :now, last_seen = :now WHERE id = :id")?
        .execute(named_params! {":id": id, ":now": now_ms})?;
    Ok(())
}

/// Workers not stopped whose last heartbeat is at or after `after_ms`, by id.
pub fn seen_since(conn: &Connection, after_ms: i64) -> Result<Vec<WorkerSeen>> {
    let rows = conn
        .prepare_cached(
            "SELECT id, host, pid, concurrency, last_seen FROM workers
             WHERE stopped_at IS NULL AND last_seen >= :after ORDER BY id",
        )?
        .query_map(named_params! {":after": after_ms}, |r| {
            Ok(WorkerSeen {
                id: r.get(0)?,
                host: r.get(1)?,
                pid: r.get(2)?,
                concurrency: r.get(3)?,
                last_seen: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// How long a worker that stopped heartbeating without recording that it
/// stopped (killed, or paused) stays listed where such workers are shown.
pub const WORKER_MEMORY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The oldest heartbeat of a live worker: a worker heartbeats every third of
/// a lease, so one silent for two leases is gone.
pub fn live_after(now_ms: i64, lease: std::time::Duration) -> i64 {
    now_ms - 2 * lease.as_millis() as i64
}
