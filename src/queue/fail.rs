//! A failed attempt: retried after its kind's delay while retries remain,
//! else failed for good.

use std::time::Duration;

use anyhow::Result;
use rusqlite::{OptionalExtension, Transaction, named_params};

use super::{Fence, FenceLost, Fenced, JobFor};
use crate::config::RetryPolicy;

/// How a failed attempt counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Uses up one of the job's retries.
    Counted,
    /// The attempt recorded orders before it failed: it is retried without
    /// using up a retry (each such attempt moves the range forward).
    Progressed,
    /// Retrying cannot fix it (a refused login, a flow that does not fit the
    /// portal): failed at once.
    Fatal,
}

/// What became of a failed job.
#[derive(Debug, Clone, PartialEq)]
pub enum Failed {
    /// It will be tried again after this delay.
    Retrying(Duration),
    /// Its retries are spent; the error is kept. What it was for is left for
    /// its run to settle.
    Terminal(JobFor),
}

/// Records a failed attempt inside the caller's transaction: `retrying` after
/// the kind's delay (with jitter) while retries remain, else `failed` with the
/// error kept.
pub fn fail(
    tx: &Transaction,
    fence: Fence,
    error: &str,
    failure: Failure,
    policy: &RetryPolicy,
    now: i64,
) -> Result<Fenced<Failed>> {
    let Some((kind, failures, max_retries, run_user_id, range_id)) = tx
        .prepare_cached(
            "SELECT kind, failures, max_retries, run_user_id, range_id FROM jobs
             WHERE id = :id AND attempt = :attempt AND status = 'running'",
        )?
        .query_row(
            named_params! {":id": fence.job_id, ":attempt": fence.attempt},
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            },
        )
        .optional()?
    else {
        return Ok(Err(FenceLost));
    };
    let counted = i64::from(failure != Failure::Progressed);
    if failure != Failure::Fatal && (failures < max_retries || counted == 0) {
        let base = if kind == "download" {
            policy.download_delay
        } else {
            policy.report_delay
        };
        let delay =
            base.mul_f64((1.0 + policy.jitter * (rand::random::<f64>() * 2.0 - 1.0)).max(0.0));
        tx.prepare_cached(
            "UPDATE jobs SET status = 'retrying', failures = failures + :counted, last_error = :error,
                 run_after = :after, lease_owner = NULL, lease_expires_at = NULL WHERE id = :id",
        )?
        .execute(named_params! {
            ":counted": counted, ":error": error, ":after": now + delay.as_millis() as i64,
            ":id": fence.job_id,
        })?;
        if let Some(range) = range_id {
            tx.prepare_cached("UPDATE ranges SET status = 'queued' WHERE id = :id")?
                .execute(named_params! {":id": range})?;
        }
        return Ok(Ok(Failed::Retrying(delay)));
    }
    tx.prepare_cached(
        "UPDATE jobs SET status = 'failed', failures = failures + 1, last_error = :error, finished_at = :now,
             lease_owner = NULL, lease_expires_at = NULL WHERE id = :id",
    )?
    .execute(named_params! {":error": error, ":now": now, ":id": fence.job_id})?;
    Ok(Ok(Failed::Terminal(JobFor {
        run_user_id,
        range_id,
    })))
}
