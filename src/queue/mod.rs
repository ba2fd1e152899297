//! The job queue over SQLite: claim, renew, fail, hand back, complete. A
//! claim is one `UPDATE ... RETURNING` that bumps the job's `attempt` and sets
//! its lease; every later write is fenced on `(id, attempt, status =
//! 'running')`, and zero rows changed means the fence no longer holds
//! ([`FenceLost`]): another worker owns the job now.
//!
//! What a job is for (its run user's orders, ranges and status) is the run's
//! life, in `run_state`, which calls these inside its own transactions.

mod claim;
mod counts;
mod fail;

pub use claim::{ClaimNext, expire_worn_out, take};
pub use counts::{QueueCounts, counts, is_idle};
pub use fail::{Failed, Failure, fail};

use std::time::Duration;

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, Transaction, named_params};

use crate::db::immediate;
use crate::time::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Download,
    Report,
}

/// The fence of a claimed job: every write names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    pub job_id: i64,
    pub attempt: i64,
}

/// The fence no longer holds: the job's lease expired and another worker
/// claimed it (or it was settled without this worker). Nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the job was claimed by another worker")]
pub struct FenceLost;

/// What a write fenced on a claim did: its value, or nothing at all.
pub type Fenced<T> = std::result::Result<T, FenceLost>;

/// Extends a claimed job's lease.
pub fn renew(conn: &Connection, fence: Fence, lease: Duration) -> Result<Fenced<()>> {
    let changed = conn
        .prepare_cached(
            "UPDATE jobs SET lease_expires_at = :expires
             WHERE id = :id AND attempt = :attempt AND status = 'running'",
        )?
        .execute(named_params! {
            ":expires": now_ms() + lease.as_millis() as i64, ":id": fence.job_id, ":attempt": fence.attempt,
        })?;
    Ok(fenced(changed))
}

/// Gives a job back untried (shutdown, lost permit, lock held elsewhere): it is
/// claimable again after `delay`, and no failure is counted.
pub fn hand_back(conn: &mut Connection, fence: Fence, delay: Duration) -> Result<Fenced<()>> {
    immediate(conn, |tx| {
        let changed = tx
            .prepare_cached(
                "UPDATE jobs SET status = 'queued', run_after = :after, lease_owner = NULL, lease_expires_at = NULL
                 WHERE id = :id AND attempt = :attempt AND status = 'running'",
            )?
            .execute(named_params! {
                ":after": now_ms() + delay.as_millis() as i64, ":id": fence.job_id, ":attempt": fence.attempt,
            })?;
        if changed == 1 {
            tx.prepare_cached(
                "UPDATE ranges SET status = 'queued' WHERE id = (SELECT range_id FROM jobs WHERE id = :id)",
            )?
            .execute(named_params! {":id": fence.job_id})?;
        }
        Ok(fenced(changed))
    })
}

/// What a job is for: its run user, and its range for a report job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobFor {
    pub run_user_id: i64,
    pub range_id: Option<i64>,
}

/// Marks a fenced job done (and its range, for a report job), inside the
/// caller's transaction.
pub fn complete(tx: &Transaction, fence: Fence, now: i64) -> Result<Fenced<JobFor>> {
    let done = tx
        .prepare_cached(
            "UPDATE jobs SET status = 'done', finished_at = :now, lease_owner = NULL, lease_expires_at = NULL
             WHERE id = :id AND attempt = :attempt AND status = 'running'
             RETURNING run_user_id, range_id",
        )?
        .query_row(
            named_params! {":now": now, ":id": fence.job_id, ":attempt": fence.attempt},
            |r| {
                Ok(JobFor {
                    run_user_id: r.get(0)?,
                    range_id: r.get(1)?,
                })
            },
        )
        .optional()?;
    let Some(done) = done else {
        return Ok(Err(FenceLost));
    };
    if let Some(range) = done.range_id {
        tx.prepare_cached("UPDATE ranges SET status = 'done' WHERE id = :id")?
            .execute(named_params! {":id": range})?;
    }
    Ok(Ok(done))
}

/// Whether the claim still holds, inside the caller's transaction.
pub fn holds(tx: &Transaction, fence: Fence) -> Result<Fenced<()>> {
    let held: bool = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE id = :id AND attempt = :attempt AND status = 'running')",
        )?
        .query_row(named_params! {":id": fence.job_id, ":attempt": fence.attempt}, |r| r.get(0))?;
    Ok(if held { Ok(()) } else { Err(FenceLost) })
}

/// Queues a report job for a planned range, inside the caller's transaction.
pub fn enqueue_report(
    tx: &Transaction,
    run_id: i64,
    run_user_id: i64,
    range_id: i64,
    max_retries: u32,
    claim_order: i64,
    now: i64,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO jobs (kind, run_id, run_user_id, range_id, status, max_retries, claim_order, run_after, created_at)
         VALUES ('report', :run, :ru, :range, 'queued', :retries, :order, :now, :now)",
    )?
    .execute(named_params! {
        ":run": run_id, ":ru": run_user_id, ":range": range_id, ":retries": max_retries,
        ":order": claim_order, ":now": now,
    })?;
    Ok(())
}

/// One row changed: the fence held; none: it did not.
fn fenced(changed: usize) -> Fenced<()> {
    if changed == 1 { Ok(()) } else { Err(FenceLost) }
}
