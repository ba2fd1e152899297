//! Runs: one per slot and day, with a run user and a download+compare job per
//! reservation, created in one transaction.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, named_params};
use serde::Serialize;

use crate::schedule::SlotTime;
use crate::time::now_ms;

/// What `run-slot` reports.
#[derive(Debug, Clone, Serialize)]
pub struct RunCreated {
    pub run_id: i64,
    pub hour: i64,
    pub scheduled_for: String,
    pub created: bool,
    pub users: i64,
}

/// A run's headline, for `progress` without a run id.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: i64,
    pub hour: i64,
    pub scheduled_for: String,
    pub status: String,
    pub users: i64,
}

/// Creates the run of a slot unless it exists. Must run in a `BEGIN IMMEDIATE`
/// transaction: the run, its users and their jobs appear together or not at all.
pub fn create(conn: &Connection, slot: &SlotTime, download_retries: u32) -> Result<RunCreated> {
    let now = now_ms();
    let inserted = conn
        .prepare_cached(
            "INSERT INTO runs (run_date, hour, scheduled_at, scheduled_for, status, created_at)
             VALUES (:date, :hour, :at, :for, 'queued', :now)
             ON CONFLICT (run_date, hour) DO NOTHING",
        )?
        .execute(named_params! {
            ":date": slot.date_text(), ":hour": slot.hour,
            ":at": slot.starts_at.timestamp_millis(), ":for": slot.rfc3339(), ":now": now,
        })?;
    if inserted == 0 {
        let existing = conn
            .prepare_cached(
                "SELECT id, scheduled_for, (SELECT COUNT(*) FROM run_users WHERE run_id = runs.id)
                 FROM runs WHERE run_date = :date AND hour = :hour",
            )?
            .query_row(
                named_params! {":date": slot.date_text(), ":hour": slot.hour},
                |r| {
                    Ok(RunCreated {
                        run_id: r.get(0)?,
                        hour: slot.hour,
                        scheduled_for: r.get(1)?,
                        created: false,
                        users: r.get(2)?,
                    })
                },
            )?;
        return Ok(existing);
    }
    let run_id = conn.last_insert_rowid();
    let users = conn
        .prepare_cached(
            "INSERT INTO run_users (run_id, user_id, status)
             SELECT :run, user_id, 'queued' FROM reservations WHERE hour = :hour ORDER BY user_id",
        )?
        .execute(named_params! {":run": run_id, ":hour": slot.hour})?;
    conn.prepare_cached(
        "INSERT INTO jobs (kind, run_id, run_user_id, status, max_retries, run_after, created_at)
         SELECT 'download', :run, id, 'queued', :retries, :now, :now FROM run_users WHERE run_id = :run ORDER BY id",
    )?
    .execute(named_params! {":run": run_id, ":retries": download_retries, ":now": now})?;
    if users == 0 {
        conn.prepare_cached("UPDATE runs SET status = 'done', finished_at = :now WHERE id = :run")?
            .execute(named_params! {":run": run_id, ":now": now})?;
    }
    Ok(RunCreated {
        run_id,
        hour: slot.hour,
        scheduled_for: slot.rfc3339(),
        created: true,
        users: users as i64,
    })
}

/// The most recent runs, newest first.
pub fn recent(conn: &Connection, limit: i64) -> Result<Vec<RunSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, hour, scheduled_for, status, (SELECT COUNT(*) FROM run_users WHERE run_id = runs.id)
         FROM runs ORDER BY scheduled_at DESC, id DESC LIMIT :limit",
    )?;
    let rows = stmt
        .query_map(named_params! {":limit": limit}, summary_from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// One run's headline, if it exists.
pub fn find(conn: &Connection, run_id: i64) -> Result<Option<RunSummary>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, hour, scheduled_for, status, (SELECT COUNT(*) FROM run_users WHERE run_id = runs.id)
             FROM runs WHERE id = :id",
        )?
        .query_row(named_params! {":id": run_id}, summary_from_row)
        .optional()?)
}

/// A row of `id, hour, scheduled_for, status, users` as a summary.
fn summary_from_row(r: &rusqlite::Row) -> rusqlite::Result<RunSummary> {
    Ok(RunSummary {
        run_id: r.get(0)?,
        hour: r.get(1)?,
        scheduled_for: r.get(2)?,
        status: r.get(3)?,
        users: r.get(4)?,
    })
}

/// One run with the progress of its users: `progress RUN_ID --json` and the
/// API's `runs/<run_id>/progress/`.
#[derive(Debug, Clone, Serialize)]
pub struct RunProgress {
    pub run_id: i64,
    pub hour: i64,
    pub scheduled_for: String,
    pub status: String,
    pub users: Vec<UserProgress>,
}

/// A run and its users' progress (only `user`'s, when given), if the run exists.
pub fn run_progress(
    conn: &Connection,
    run_id: i64,
    user: Option<&str>,
) -> Result<Option<RunProgress>> {
    let Some(run) = find(conn, run_id)? else {
        return Ok(None);
    };
    let mut users = progress(conn, run_id)?;
    if let Some(name) = user {
        users.retain(|u| u.user == name);
    }
    Ok(Some(RunProgress {
        run_id,
        hour: run.hour,
        scheduled_for: run.scheduled_for,
        status: run.status,
        users,
    }))
}

/// The most recent runs a user took part in, newest first.
pub fn recent_for_user(conn: &Connection, user_id: i64, limit: i64) -> Result<Vec<RunSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, hour, scheduled_for, status, (SELECT COUNT(*) FROM run_users WHERE run_id = runs.id)
         FROM runs WHERE id IN (SELECT run_id FROM run_users WHERE user_id = :user)
         ORDER BY scheduled_at DESC, id DESC LIMIT :limit",
    )?;
    let rows = stmt
        .query_map(
            named_params! {":user": user_id, ":limit": limit},
            summary_from_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// One user's progress in a run.
#[derive(Debug, Clone, Serialize)]
pub struct UserProgress {
    pub user: String,
    pub status: String,
    pub pending_orders: Option<i64>,
    pub ranges_total: i64,
    pub ranges_completed: i64,
    pub orders_reported: i64,
    pub orders_failed: i64,
    /// Of `orders_reported`: sent by this run...
    pub orders_submitted: i64,
    /// ...or found already reported on the portal, and so not sent.
    pub orders_found_reported: i64,
    pub error: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Seconds until the user's last order is reported, at the rate so far.
    pub eta_seconds: Option<i64>,
}

/// Every user of a run with their counts, by name.
pub fn progress(conn: &Connection, run_id: i64) -> Result<Vec<UserProgress>> {
    let now = now_ms();
    let mut stmt = conn.prepare_cached(
        "SELECT u.name, ru.status, ru.pending_orders,
                (SELECT COUNT(*) FROM ranges g WHERE g.run_user_id = ru.id),
                (SELECT COUNT(*) FROM ranges g WHERE g.run_user_id = ru.id AND g.status IN ('done', 'failed')),
                (SELECT COUNT(*) FROM run_orders o WHERE o.run_user_id = ru.id AND o.status = 'reported'),
                (SELECT COUNT(*) FROM run_orders o WHERE o.run_user_id = ru.id AND o.status = 'failed'),
                (SELECT COUNT(*) FROM run_orders o WHERE o.run_user_id = ru.id AND o.status = 'reported'
                    AND o.found_reported = 1),
                COALESCE(ru.error, (SELECT j.last_error FROM jobs j WHERE j.run_user_id = ru.id
                    AND j.last_error IS NOT NULL AND j.status <> 'done' ORDER BY j.id DESC LIMIT 1)),
                ru.started_at, ru.finished_at
         FROM run_users ru JOIN users u ON u.id = ru.user_id
         WHERE ru.run_id = :run ORDER BY u.name",
    )?;
    let rows = stmt
        .query_map(named_params! {":run": run_id}, |r| {
            let mut p = UserProgress {
                user: r.get(0)?,
                status: r.get(1)?,
                pending_orders: r.get(2)?,
                ranges_total: r.get(3)?,
                ranges_completed: r.get(4)?,
                orders_reported: r.get(5)?,
                orders_failed: r.get(6)?,
                orders_submitted: r.get::<_, i64>(5)? - r.get::<_, i64>(7)?,
                orders_found_reported: r.get(7)?,
                error: r.get(8)?,
                started_at: r.get(9)?,
                finished_at: r.get(10)?,
                eta_seconds: None,
            };
            p.eta_seconds = eta_seconds(&p, now);
            Ok(p)
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

fn eta_seconds(p: &UserProgress, now: i64) -> Option<i64> {
    let pending = p.pending_orders?;
    let started = p.started_at?;
    let finished = p.orders_reported + p.orders_failed;
    if p.finished_at.is_some() || finished == 0 {
        return (p.finished_at.is_some()).then_some(0);
    }
    let per_order = (now - started) as f64 / finished as f64;
    Some(((pending - finished) as f64 * per_order / 1000.0).ceil() as i64)
}

/// The duration and end (Unix ms) of the run that finished last.
pub fn last_finished(conn: &Connection) -> Result<Option<(i64, i64)>> {
    Ok(conn
        .prepare_cached(
            "SELECT finished_at - created_at, finished_at FROM runs
             WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// The hour (Unix ms) of the oldest run not finished yet, if any.
pub fn oldest_unfinished_scheduled_at(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT MIN(scheduled_at) FROM runs WHERE finished_at IS NULL")?
        .query_row([], |r| r.get(0))?)
}
