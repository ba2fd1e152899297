//! Taking the next job: one `UPDATE ... RETURNING` that bumps its `attempt`
//! and sets its lease.

use std::time::Duration;

use anyhow::Result;
use rusqlite::{OptionalExtension, Transaction, named_params};

use super::{Fence, JobKind};

/// A claim: the worker, its lease, and the run user whose jobs it prefers.
#[derive(Debug, Clone)]
pub struct ClaimNext {
    pub worker: String,
    pub lease: Duration,
    pub prefer_run_user: Option<i64>,
    /// A running job whose lease expired this many times is failed, not claimed.
    pub max_lease_expiries: u32,
}

/// A job just taken, as the queue knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub fence: Fence,
    pub kind: JobKind,
    pub run_id: i64,
    pub run_user_id: i64,
    pub range_id: Option<i64>,
}

/// Takes the next job, or none, inside the caller's transaction: first a
/// running job whose lease has expired (its worker died; it is taken at
/// once), then a claimable job of `prefer_run_user` (whose browser session the
/// caller still holds), else the first claimable job by run and `claim_order`.
pub fn take(tx: &Transaction, next: &ClaimNext, now: i64) -> Result<Option<Taken>> {
    Ok(tx
        .prepare_cached(
            "UPDATE jobs
             SET status = 'running', attempt = attempt + 1, lease_owner = :worker,
                 lease_expiries = lease_expiries + (status = 'running'),
                 lease_expires_at = :expires, started_at = COALESCE(started_at, :now)
             WHERE id = COALESCE(
                 (SELECT id FROM jobs WHERE status = 'running' AND lease_expires_at < :now
                  ORDER BY lease_expires_at LIMIT 1),
                 (SELECT id FROM jobs WHERE run_user_id = :prefer AND status IN ('queued', 'retrying')
                  AND run_after <= :now ORDER BY claim_order, id LIMIT 1),
                 (SELECT id FROM jobs WHERE status IN ('queued', 'retrying') AND run_after <= :now
                  ORDER BY run_id, claim_order, id LIMIT 1))
             RETURNING id, attempt, kind, run_id, run_user_id, range_id",
        )?
        .query_row(
            named_params! {
                ":worker": next.worker, ":expires": now + next.lease.as_millis() as i64, ":now": now,
                ":prefer": next.prefer_run_user,
            },
            |r| {
                let kind: String = r.get(2)?;
                Ok(Taken {
                    fence: Fence {
                        job_id: r.get(0)?,
                        attempt: r.get(1)?,
                    },
                    kind: if kind == "download" {
                        JobKind::Download
                    } else {
                        JobKind::Report
                    },
                    run_id: r.get(3)?,
                    run_user_id: r.get(4)?,
                    range_id: r.get(5)?,
                })
            },
        )
        .optional()?)
}

/// A running job failed for good because its lease expired too often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WornOut {
    pub run_user_id: i64,
    pub range_id: Option<i64>,
    pub error: String,
}

/// Ends failed every running job whose lease has expired for the
/// `max_lease_expiries`-th time (its worker keeps dying under it), instead of
/// letting the claim take it again; returns them for their run to settle.
pub fn expire_worn_out(
    tx: &Transaction,
    max_lease_expiries: u32,
    now: i64,
) -> Result<Vec<WornOut>> {
    Ok(tx
        .prepare_cached(
            "UPDATE jobs SET status = 'failed', lease_expiries = lease_expiries + 1,
                 last_error = 'its worker stopped renewing its lease ' || (lease_expiries + 1) || ' times',
                 finished_at = :now, lease_owner = NULL, lease_expires_at = NULL
             WHERE status = 'running' AND lease_expires_at < :now AND lease_expiries + 1 >= :max
             RETURNING run_user_id, range_id, last_error",
        )?
        .query_map(
            named_params! {":now": now, ":max": max_lease_expiries},
            |r| {
                Ok(WornOut {
                    run_user_id: r.get(0)?,
                    range_id: r.get(1)?,
                    error: r.get(2)?,
                })
            },
        )?
        .collect::<rusqlite::Result<_>>()?)
}
