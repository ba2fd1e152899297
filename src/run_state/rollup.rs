//! The roll-up of a run user's and a run's status: running from their first
//! claim, settled once nothing of theirs is left to run.

use anyhow::Result;
use rusqlite::{Transaction, named_params};

/// The user a claimed job works for.
pub(super) struct JobUser {
    pub name: String,
    pub login: String,
    pub monthly_orders_estimate: i64,
}

/// Reads the claimed job's user and marks its run user and run running; only
/// their first job writes, later claims skip the writes.
pub(super) fn start(tx: &Transaction, run_id: i64, run_user_id: i64, now: i64) -> Result<JobUser> {
    let (user, user_queued, run_queued): (JobUser, bool, bool) = tx
        .prepare_cached(
            "SELECT u.name, u.login, u.monthly_orders_estimate, ru.status = 'queued', r.status = 'queued'
             FROM run_users ru JOIN users u ON u.id = ru.user_id JOIN runs r ON r.id = ru.run_id
             WHERE ru.id = :ru",
        )?
        .query_row(named_params! {":ru": run_user_id}, |r| {
            Ok((
                JobUser {
                    name: r.get(0)?,
                    login: r.get(1)?,
                    monthly_orders_estimate: r.get(2)?,
                },
                r.get(3)?,
                r.get(4)?,
            ))
        })?;
    if user_queued {
        tx.prepare_cached(
            "UPDATE run_users SET status = 'running', started_at = COALESCE(started_at, :now)
             WHERE id = :ru AND status = 'queued'",
        )?
        .execute(named_params! {":ru": run_user_id, ":now": now})?;
    }
    if run_queued {
        tx.prepare_cached(
            "UPDATE runs SET status = 'running' WHERE id = :run AND status = 'queued'",
        )?
        .execute(named_params! {":run": run_id})?;
    }
    Ok(user)
}

/// A job that failed for good: its range's unreported orders are recorded
/// failed with the error (a download's error goes to its run user), and its
/// run user and run are settled.
pub(super) fn failed_for_good(
    tx: &Transaction,
    run_user_id: i64,
    range_id: Option<i64>,
    error: &str,
    now: i64,
) -> Result<()> {
    match range_id {
        Some(range) => {
            tx.prepare_cached("UPDATE ranges SET status = 'failed' WHERE id = :id")?
                .execute(named_params! {":id": range})?;
            tx.prepare_cached(
                "UPDATE run_orders SET status = 'failed', error = :error
                 WHERE run_user_id = :ru AND status = 'pending'
                   AND seq BETWEEN (SELECT range_start FROM ranges WHERE id = :range)
                               AND (SELECT range_end FROM ranges WHERE id = :range)",
            )?
            .execute(named_params! {":error": error, ":ru": run_user_id, ":range": range})?;
        }
        None => {
            tx.prepare_cached("UPDATE run_users SET error = :error WHERE id = :ru")?
                .execute(named_params! {":error": error, ":ru": run_user_id})?;
        }
    }
    settle(tx, run_user_id, now)
}

/// Ends a run user once none of its jobs is left to run (failed if any job
/// failed), and its run once none of its users is left.
pub(super) fn settle(tx: &Transaction, run_user_id: i64, now: i64) -> Result<()> {
    let settled = tx
        .prepare_cached(
            "UPDATE run_users
             SET status = CASE WHEN EXISTS (SELECT 1 FROM jobs WHERE run_user_id = :ru AND status = 'failed')
                                 OR EXISTS (SELECT 1 FROM run_orders WHERE run_user_id = :ru AND status = 'failed')
                               THEN 'failed' ELSE 'done' END,
                 finished_at = :now
             WHERE id = :ru AND status IN ('queued', 'running')
               AND NOT EXISTS (SELECT 1 FROM jobs WHERE run_user_id = :ru
                               AND status IN ('queued', 'running', 'retrying'))",
        )?
        .execute(named_params! {":ru": run_user_id, ":now": now})?;
    if settled == 0 {
        return Ok(());
    }
    tx.prepare_cached(
        "UPDATE runs
         SET status = CASE WHEN EXISTS (SELECT 1 FROM run_users WHERE run_id = runs.id AND status = 'failed')
                           THEN 'failed' ELSE 'done' END,
             finished_at = :now
         WHERE id = (SELECT run_id FROM run_users WHERE id = :ru)
           AND NOT EXISTS (SELECT 1 FROM run_users WHERE run_id = runs.id AND status IN ('queued', 'running'))",
    )?
    .execute(named_params! {":ru": run_user_id, ":now": now})?;
    Ok(())
}
