//! The queue at a glance, for `status`, metrics and `--until-idle`.

use anyhow::Result;
use rusqlite::Connection;
use serde::Serialize;

/// Jobs by state, for `status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueCounts {
    pub queued: i64,
    pub running: i64,
    pub retrying: i64,
    pub failed: i64,
    pub done: i64,
}

/// Whether no job is queued, retrying or running anywhere.
pub fn is_idle(conn: &Connection) -> Result<bool> {
    let busy: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE status IN ('queued', 'running', 'retrying'))",
        )?
        .query_row([], |r| r.get(0))?;
    Ok(!busy)
}

/// Jobs by state.
pub fn counts(conn: &Connection) -> Result<QueueCounts> {
    let mut counts = QueueCounts::default();
    let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (status, n): (String, i64) = (row.get(0)?, row.get(1)?);
        match status.as_str() {
            "queued" => counts.queued = n,
            "running" => counts.running = n,
            "retrying" => counts.retrying = n,
            "failed" => counts.failed = n,
            "done" => counts.done = n,
            _ => {}
        }
    }
    Ok(counts)
}
