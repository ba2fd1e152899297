//! The job queue over SQLite. A claim is one `UPDATE ... RETURNING` that bumps
//! the job's `attempt` and sets its lease; every later write is fenced on
//! `(id, attempt, status = 'running')`, and zero rows changed means the lease
//! was lost to another worker.

use std::time::Duration;

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, Transaction, named_params};
use serde::Serialize;

use crate::config::RetryPolicy;
use crate::db::{immediate, orders};
use crate::orders::{OrderToReport, Pending};
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

/// A range of a run user's pending orders, by their numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub id: i64,
    pub start: i64,
    pub end: i64,
}

/// A claimed job with what running it needs.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub fence: Fence,
    pub kind: JobKind,
    pub run_id: i64,
    pub run_user_id: i64,
    pub user: String,
    pub login: String,
    pub monthly_orders_estimate: i64,
    pub range: Option<Range>,
    /// A report job's unreported orders, in order, read with the claim: a
    /// retry resumes after the last order reported.
    pub pending: Vec<(i64, OrderToReport)>,
}

impl ClaimedJob {
    /// A short name for logs and `status`: `run 7 alice range 101-200`.
    pub fn label(&self) -> String {
        match self.range {
            Some(r) => format!(
                "run {} {} range {}-{}",
                self.run_id, self.user, r.start, r.end
            ),
            None => format!("run {} {} download", self.run_id, self.user),
        }
    }
}

/// Jobs by state, for `status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueueCounts {
    pub queued: i64,
    pub running: i64,
    pub retrying: i64,
    pub failed: i64,
    pub done: i64,
}

/// What became of a failed job.
#[derive(Debug, Clone, PartialEq)]
pub enum Failed {
    /// It will be tried again after this delay.
    Retrying(Duration),
    /// Its retries are spent; the error is kept.
    Terminal,
    /// The fence no longer held: another worker owns the job.
    LeaseLost,
}

/// Claims the next job, or none: first a running job whose lease has expired
/// (its worker died; it is taken at once), then a claimable job of
/// `prefer_run_user` (whose browser session the caller still holds), else the
/// first claimable job by run and `claim_order` (downloads, then ranges round
/// robin across users, then the short last ranges, longest first).
pub fn claim(
    conn: &mut Connection,
    worker: &str,
    lease: Duration,
    prefer_run_user: Option<i64>,
    max_lease_expiries: u32,
) -> Result<Option<ClaimedJob>> {
    immediate(conn, |tx| {
        claim_in(
            tx,
            &ClaimNext {
                worker,
                lease,
                prefer_run_user,
                max_lease_expiries,
            },
        )
    })
}

/// A claim made in the same transaction as the completion of the job before
/// it, by a slot that still holds its browser permit.
#[derive(Debug, Clone, Copy)]
pub struct ClaimNext<'a> {
    pub worker: &'a str,
    pub lease: Duration,
    pub prefer_run_user: Option<i64>,
    /// A running job whose lease expired this many times is failed, not claimed.
    pub max_lease_expiries: u32,
}

/// What a completion left for its slot to run next.
#[derive(Debug)]
pub enum Next {
    /// No claim rode with the completion: the slot claims as usual.
    Untried,
    /// The next job, claimed with the completion.
    Claimed(ClaimedJob),
    /// The claim that rode with the completion found no job.
    Idle,
}

/// What a fenced completion did.
#[derive(Debug)]
pub enum Completed {
    /// The job is done; the next job, if a claim rode along.
    Done(Next),
    /// The fence no longer held: nothing was written and nothing claimed.
    LeaseLost,
}

/// The claim itself, inside the caller's transaction.
fn claim_in(tx: &Transaction, next: &ClaimNext) -> Result<Option<ClaimedJob>> {
    let now = now_ms();
    fail_worn_out(tx, next.max_lease_expiries, now)?;
    let claimed = tx
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
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    kind,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((job_id, attempt, kind, run_id, run_user_id, range_id)) = claimed else {
        return Ok(None);
    };
    // The user, and whether its run user and run still have to be marked
    // running (only their first job does it; later claims skip the writes).
    let (user, login, estimate, user_queued, run_queued): (String, String, i64, bool, bool) = tx
        .prepare_cached(
            "SELECT u.name, u.login, u.monthly_orders_estimate, ru.status = 'queued', r.status = 'queued'
             FROM run_users ru JOIN users u ON u.id = ru.user_id JOIN runs r ON r.id = ru.run_id
             WHERE ru.id = :ru",
        )?
        .query_row(named_params! {":ru": run_user_id}, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
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
    let (range, pending) = match range_id {
        Some(id) => {
            let range = tx
                .prepare_cached(
                    "UPDATE ranges SET status = 'running' WHERE id = :id
                     RETURNING range_start, range_end",
                )?
                .query_row(named_params! {":id": id}, |r| {
                    Ok(Range {
                        id,
                        start: r.get(0)?,
                        end: r.get(1)?,
                    })
                })?;
            (Some(range), pending_in_range(tx, run_user_id, range)?)
        }
        None => (None, Vec::new()),
    };
    Ok(Some(ClaimedJob {
        fence: Fence { job_id, attempt },
        kind: if kind == "download" {
            JobKind::Download
        } else {
            JobKind::Report
        },
        run_id,
        run_user_id,
        user,
        login,
        monthly_orders_estimate: estimate,
        range,
        pending,
    }))
}

/// The next job after a completion, in its transaction, if one is to be claimed.
fn claim_after(tx: &Transaction, next: Option<&ClaimNext>) -> Result<Next> {
    Ok(match next {
        None => Next::Untried,
        Some(next) => match claim_in(tx, next)? {
            Some(job) => Next::Claimed(job),
            None => Next::Idle,
        },
    })
}

/// Extends a claimed job's lease. `false`: the lease is lost.
pub fn renew(conn: &Connection, fence: Fence, lease: Duration) -> Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE jobs SET lease_expires_at = :expires
             WHERE id = :id AND attempt = :attempt AND status = 'running'",
        )?
        .execute(named_params! {
            ":expires": now_ms() + lease.as_millis() as i64, ":id": fence.job_id, ":attempt": fence.attempt,
        })?;
    Ok(changed == 1)
}

/// Gives a job back untried (shutdown, lost permit, lock held elsewhere): it is
/// claimable again after `delay`, and no failure is counted.
pub fn hand_back(conn: &mut Connection, fence: Fence, delay: Duration) -> Result<bool> {
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
        Ok(changed == 1)
    })
}

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

/// Records a failed attempt: retried after the kind's delay (with jitter)
/// while retries remain, else `failed` for good with the error kept and the
/// range's unreported orders recorded as failed.
pub fn fail(
    conn: &mut Connection,
    fence: Fence,
    error: &str,
    failure: Failure,
    policy: &RetryPolicy,
) -> Result<Failed> {
    immediate(conn, |tx| {
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
            return Ok(Failed::LeaseLost);
        };
        let now = now_ms();
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
            return Ok(Failed::Retrying(delay));
        }
        tx.prepare_cached(
            "UPDATE jobs SET status = 'failed', failures = failures + 1, last_error = :error, finished_at = :now,
                 lease_owner = NULL, lease_expires_at = NULL WHERE id = :id",
        )?
        .execute(named_params! {":error": error, ":now": now, ":id": fence.job_id})?;
        failed_for_good(tx, run_user_id, range_id, error, now)?;
        Ok(Failed::Terminal)
    })
}

/// A job that failed for good: its range's unreported orders are recorded
/// failed with the error (a download's error goes to its run user), and its
/// run user and run are settled.
fn failed_for_good(
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

/// Completes a download+compare: records the pending orders (numbered 1..N),
/// their ranges and a report job per range, and claims the `next` job if
/// asked, in one transaction. If the lease was lost, nothing is written.
pub fn complete_download(
    conn: &mut Connection,
    fence: Fence,
    found: &Pending,
    range_size: u32,
    report_retries: u32,
    next: Option<&ClaimNext>,
) -> Result<Completed> {
    immediate(conn, |tx| {
        let now = now_ms();
        let Some((run_user_id, _)) = finish_job(tx, fence, now)? else {
            return Ok(Completed::LeaseLost);
        };
        let (run_id, user_id): (i64, i64) = tx
            .prepare_cached("SELECT run_id, user_id FROM run_users WHERE id = :ru")?
            .query_row(named_params! {":ru": run_user_id}, |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let compared;
        let pending = match found {
            Pending::Decided(orders) => without_repeats(orders),
            Pending::Export {
                orders: exported,
                report_statuses,
            } => {
                compared = orders::compare(tx, user_id, exported, report_statuses, now)?;
                without_repeats(&compared)
            }
        };
        // One statement for the whole list: numbered 1..N in the order given.
        tx.prepare_cached(
            "INSERT INTO run_orders (run_user_id, seq, order_ref, fields)
             SELECT :ru, key + 1, json_extract(value, '$.id'), json_extract(value, '$.fields')
             FROM json_each(:orders)",
        )?
        .execute(named_params! {":ru": run_user_id, ":orders": serde_json::to_string(&pending)?})?;
        tx.prepare_cached("UPDATE run_users SET pending_orders = :n WHERE id = :ru")?
            .execute(named_params! {":n": pending.len() as i64, ":ru": run_user_id})?;
        let mut range = tx.prepare_cached(
            "INSERT INTO ranges (run_user_id, range_start, range_end) VALUES (:ru, :start, :end)",
        )?;
        let mut job = tx.prepare_cached(
            "INSERT INTO jobs (kind, run_id, run_user_id, range_id, status, max_retries, claim_order, run_after, created_at)
             VALUES ('report', :run, :ru, :range, 'queued', :retries, :order, :now, :now)",
        )?;
        let size = range_size as usize;
        for (position, start) in (0..pending.len()).step_by(size).enumerate() {
            let end = (start + size).min(pending.len());
            range.execute(
                named_params! {":ru": run_user_id, ":start": start as i64 + 1, ":end": end as i64},
            )?;
            let range_id = tx.last_insert_rowid();
            job.execute(named_params! {
                ":run": run_id, ":ru": run_user_id, ":range": range_id, ":retries": report_retries,
                ":order": claim_order(position, end - start, size), ":now": now,
            })?;
        }
        settle(tx, run_user_id, now)?;
        Ok(Completed::Done(claim_after(tx, next)?))
    })
}

/// The list with any repeated order dropped, first occurrence kept.
fn without_repeats(orders: &[OrderToReport]) -> Vec<&OrderToReport> {
    let mut seen = std::collections::HashSet::with_capacity(orders.len());
    orders
        .iter()
        .filter(|order| seen.insert(order.id.as_str()))
        .collect()
}

/// Where a range stands in the claim order: full ranges by their position in
/// the user's list (round robin across users), short ones after all full ones,
/// longest first.
fn claim_order(position: usize, length: usize, range_size: usize) -> i64 {
    if length == range_size {
        position as i64 + 1
    } else {
        SHORT_RANGES + (range_size - length) as i64
    }
}

/// Claim order of the first short range: after any full range's position.
const SHORT_RANGES: i64 = 1 << 40;

/// The unreported orders of a range, in order: a retry resumes after the
/// last order reported.
fn pending_in_range(
    conn: &Connection,
    run_user_id: i64,
    range: Range,
) -> Result<Vec<(i64, OrderToReport)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, order_ref, fields FROM run_orders
         WHERE run_user_id = :ru AND seq BETWEEN :start AND :end AND status = 'pending' ORDER BY seq",
    )?;
    let rows = stmt.query_map(
        named_params! {":ru": run_user_id, ":start": range.start, ":end": range.end},
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        },
    )?;
    let mut pending = Vec::new();
    for row in rows {
        let (seq, id, fields) = row?;
        let fields = match fields {
            Some(json) => serde_json::from_str(&json)?,
            None => Default::default(),
        };
        pending.push((seq, OrderToReport { id, fields }));
    }
    Ok(pending)
}

/// What became of the next stretch of a range's pending orders, in order:
/// every pending order between the first and the last is in one of the lists.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcomes {
    /// Reported (or found already reported), by number.
    pub reported: Vec<i64>,
    /// Failed on their own after every attempt, with the reason.
    pub failed: Vec<(i64, String)>,
}

impl Outcomes {
    pub fn is_empty(&self) -> bool {
        self.reported.is_empty() && self.failed.is_empty()
    }

    pub fn clear(&mut self) {
        self.reported.clear();
        self.failed.clear();
    }
}

/// Records the outcomes of orders, in one transaction fenced on the claim.
/// `false`: the lease was lost and nothing changed.
pub fn record_orders(
    conn: &mut Connection,
    fence: Fence,
    run_user_id: i64,
    outcomes: &Outcomes,
) -> Result<bool> {
    immediate(conn, |tx| {
        if !holds(tx, fence)? {
            return Ok(false);
        }
        mark_orders(tx, run_user_id, outcomes, now_ms())?;
        Ok(true)
    })
}

/// Records the range's last outcomes (as for `record_orders`), the report
/// job as done, and claims the `next` job if asked, in one transaction fenced
/// on the claim. If the lease was lost, nothing changes.
pub fn complete_report(
    conn: &mut Connection,
    fence: Fence,
    run_user_id: i64,
    outcomes: &Outcomes,
    next: Option<&ClaimNext>,
) -> Result<Completed> {
    immediate(conn, |tx| {
        let now = now_ms();
        // Marking the job done first checks the fence: if it no longer
        // holds, nothing has been written and the transaction is empty.
        if !finish_report(tx, fence, now)? {
            return Ok(Completed::LeaseLost);
        }
        mark_orders(tx, run_user_id, outcomes, now)?;
        settle(tx, run_user_id, now)?;
        Ok(Completed::Done(claim_after(tx, next)?))
    })
}

/// Whether the claim still holds.
fn holds(tx: &Transaction, fence: Fence) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE id = :id AND attempt = :attempt AND status = 'running')",
        )?
        .query_row(named_params! {":id": fence.job_id, ":attempt": fence.attempt}, |r| r.get(0))?)
}

/// Marks the failed orders of the batch, then every other pending order
/// between the first and the last reported one as reported.
fn mark_orders(tx: &Transaction, run_user_id: i64, outcomes: &Outcomes, now: i64) -> Result<()> {
    let mut failed = tx.prepare_cached(
        "UPDATE run_orders SET status = 'failed', error = :error
         WHERE run_user_id = :ru AND seq = :seq AND status = 'pending'",
    )?;
    for (seq, error) in &outcomes.failed {
        failed.execute(named_params! {":error": error, ":ru": run_user_id, ":seq": seq})?;
    }
    let seqs = &outcomes.reported;
    if let (Some(first), Some(last)) = (seqs.first(), seqs.last()) {
        tx.prepare_cached(
            "UPDATE run_orders SET status = 'reported', reported_at = :now
             WHERE run_user_id = :ru AND seq BETWEEN :first AND :last AND status = 'pending'",
        )?
        .execute(named_params! {":now": now, ":ru": run_user_id, ":first": first, ":last": last})?;
    }
    Ok(())
}

/// Marks a fenced report job done with its range; `false` if the fence failed.
fn finish_report(tx: &Transaction, fence: Fence, now: i64) -> Result<bool> {
    let Some((_, range_id)) = finish_job(tx, fence, now)? else {
        return Ok(false);
    };
    tx.prepare_cached("UPDATE ranges SET status = 'done' WHERE id = :id")?
        .execute(named_params! {":id": range_id})?;
    Ok(true)
}

/// Marks a fenced job done; returns its run user and range, or `None` if the
/// fence failed.
fn finish_job(tx: &Transaction, fence: Fence, now: i64) -> Result<Option<(i64, Option<i64>)>> {
    Ok(tx
        .prepare_cached(
            "UPDATE jobs SET status = 'done', finished_at = :now, lease_owner = NULL, lease_expires_at = NULL
             WHERE id = :id AND attempt = :attempt AND status = 'running'
             RETURNING run_user_id, range_id",
        )?
        .query_row(
            named_params! {":now": now, ":id": fence.job_id, ":attempt": fence.attempt},
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Ends a run user once none of its jobs is left to run (failed if any job
/// failed), and its run once none of its users is left.
fn settle(tx: &Transaction, run_user_id: i64, now: i64) -> Result<()> {
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

/// Ends failed every running job whose lease has expired for the
/// `max_lease_expiries`-th time (its worker keeps dying under it), with its
/// range's unreported orders, instead of letting the claim take it again.
fn fail_worn_out(tx: &Transaction, max_lease_expiries: u32, now: i64) -> Result<()> {
    let worn_out: Vec<(i64, Option<i64>, String)> = tx
        .prepare_cached(
            "UPDATE jobs SET status = 'failed', lease_expiries = lease_expiries + 1,
                 last_error = 'its worker stopped renewing its lease ' || (lease_expiries + 1) || ' times',
                 finished_at = :now, lease_owner = NULL, lease_expires_at = NULL
             WHERE status = 'running' AND lease_expires_at < :now AND lease_expiries + 1 >= :max
             RETURNING run_user_id, range_id, last_error",
        )?
        .query_map(
            named_params! {":now": now, ":max": max_lease_expiries},
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    for (run_user_id, range_id, error) in worn_out {
        tracing::error!(run_user = run_user_id, %error, "job failed; it is not taken again");
        failed_for_good(tx, run_user_id, range_id, &error, now)?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database with one run user, `alice`, whose download job is queued.
    fn one_download() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open(&dir.path().join("queue.db")).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, name, login, created_at) VALUES (1, 'alice', 'alice', 0);
             INSERT INTO runs (id, run_date, hour, scheduled_at, scheduled_for, created_at)
                 VALUES (1, '2026-01-01', 10, 0, '2026-01-01T10:00:00Z', 0);
             INSERT INTO run_users (id, run_id, user_id) VALUES (1, 1, 1);
             INSERT INTO jobs (kind, run_id, run_user_id, max_retries, run_after, created_at)
                 VALUES ('download', 1, 1, 5, 0, 0);",
        )
        .unwrap();
        (dir, conn)
    }

    const NEXT: ClaimNext = ClaimNext {
        worker: "w",
        lease: Duration::from_secs(30),
        prefer_run_user: Some(1),
        max_lease_expiries: 3,
    };

    /// A download of `n` orders completed in ranges of 100, and the first
    /// range claimed with it.
    fn downloaded(n: usize) -> (tempfile::TempDir, Connection, ClaimedJob) {
        let (dir, mut conn) = one_download();
        let download = claim(&mut conn, "w", Duration::from_secs(30), None, 3)
            .unwrap()
            .unwrap();
        let orders: Vec<OrderToReport> = (1..=n)
            .map(|n| OrderToReport::new(format!("o{n}")))
            .collect();
        let completed = complete_download(
            &mut conn,
            download.fence,
            &Pending::Decided(orders),
            100,
            2,
            Some(&NEXT),
        );
        let first = claimed(completed.unwrap());
        (dir, conn, first)
    }

    fn claimed(completed: Completed) -> ClaimedJob {
        match completed {
            Completed::Done(Next::Claimed(job)) => job,
            other => panic!("no job claimed with the completion: {other:?}"),
        }
    }

    #[test]
    fn a_completion_claims_the_next_job_in_its_transaction_and_only_under_its_fence() {
        let (_dir, mut conn, first) = downloaded(150);
        assert_eq!(first.range.map(|r| (r.start, r.end)), Some((1, 100)));
        assert_eq!(first.pending.len(), 100);
        assert_eq!(first.pending[0], (1, OrderToReport::new("o1")));

        // A stale fence writes nothing and claims nothing.
        let stale = Fence {
            attempt: first.fence.attempt - 1,
            ..first.fence
        };
        let seqs = reported(&first);
        assert!(matches!(
            complete_report(&mut conn, stale, 1, &seqs, Some(&NEXT)).unwrap(),
            Completed::LeaseLost
        ));
        let count = |conn: &Connection, sql: &str| -> i64 {
            conn.query_row(sql, [], |r| r.get(0)).unwrap()
        };
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM run_orders WHERE status = 'reported'"
            ),
            0
        );
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM jobs WHERE status = 'running'"),
            1
        );

        let second =
            claimed(complete_report(&mut conn, first.fence, 1, &seqs, Some(&NEXT)).unwrap());
        assert_eq!(second.range.map(|r| (r.start, r.end)), Some((101, 150)));
        assert_eq!(second.pending.len(), 50);
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM run_orders WHERE status = 'reported'"
            ),
            100
        );
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM ranges WHERE status = 'done'"),
            1
        );

        let seqs = reported(&second);
        assert!(matches!(
            complete_report(&mut conn, second.fence, 1, &seqs, Some(&NEXT)).unwrap(),
            Completed::Done(Next::Idle)
        ));
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM run_orders WHERE status = 'reported'"
            ),
            150
        );
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM runs WHERE status = 'done'"),
            1
        );
    }

    /// Every pending order of the job, reported.
    fn reported(job: &ClaimedJob) -> Outcomes {
        Outcomes {
            reported: job.pending.iter().map(|(seq, _)| *seq).collect(),
            failed: Vec::new(),
        }
    }

    #[test]
    fn a_job_whose_lease_expires_three_times_ends_failed_instead_of_claimed_again() {
        let (_dir, mut conn) = one_download();
        let expiring = Duration::from_millis(0);
        for attempt in 1..=3 {
            let job = claim(&mut conn, "w", expiring, None, 3).unwrap();
            assert_eq!(job.map(|j| j.fence.attempt), Some(attempt));
            std::thread::sleep(Duration::from_millis(3));
        }
        assert!(claim(&mut conn, "w", expiring, None, 3).unwrap().is_none());
        let (status, error, expiries): (String, String, i64) = conn
            .query_row(
                "SELECT status, last_error, lease_expiries FROM jobs",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(status, "failed");
        assert_eq!(error, "its worker stopped renewing its lease 3 times");
        assert_eq!(expiries, 3);
        let (user, run): (String, String) = conn
            .query_row(
                "SELECT ru.status || ': ' || ru.error, r.status FROM run_users ru JOIN runs r ON r.id = ru.run_id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            user,
            "failed: its worker stopped renewing its lease 3 times"
        );
        assert_eq!(run, "failed");
    }

    #[test]
    fn a_repeated_order_in_a_download_is_kept_once_in_its_first_place() {
        let orders: Vec<OrderToReport> = ["a", "b", "a", "c", "b"]
            .iter()
            .map(|s| OrderToReport::new(*s))
            .collect();
        let kept: Vec<&str> = without_repeats(&orders)
            .iter()
            .map(|o| o.id.as_str())
            .collect();
        assert_eq!(kept, vec!["a", "b", "c"]);
    }

    #[test]
    fn an_order_that_failed_by_itself_fails_its_user_but_not_its_neighbours() {
        let (_dir, mut conn, range) = downloaded(5);
        let outcomes = Outcomes {
            reported: vec![1, 2, 4, 5],
            failed: vec![(3, "HTTP 500 three times".into())],
        };
        assert!(matches!(
            complete_report(&mut conn, range.fence, 1, &outcomes, Some(&NEXT)).unwrap(),
            Completed::Done(Next::Idle)
        ));
        let statuses: Vec<(i64, String, Option<String>)> = conn
            .prepare("SELECT seq, status, error FROM run_orders ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let reported = |seq: i64| (seq, "reported".to_string(), None);
        assert_eq!(
            statuses,
            vec![
                reported(1),
                reported(2),
                (3, "failed".into(), Some("HTTP 500 three times".into())),
                reported(4),
                reported(5),
            ]
        );
        let (job, user, run): (String, String, String) = conn
            .query_row(
                "SELECT j.status, ru.status, r.status FROM jobs j
                 JOIN run_users ru ON ru.id = j.run_user_id JOIN runs r ON r.id = j.run_id
                 WHERE j.kind = 'report'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (job.as_str(), user.as_str(), run.as_str()),
            ("done", "failed", "failed")
        );
    }

    #[test]
    fn an_attempt_that_recorded_orders_does_not_use_up_a_retry_and_a_fatal_one_fails_at_once() {
        let (_dir, mut conn) = one_download();
        let policy = RetryPolicy {
            download_delay: Duration::ZERO,
            report_delay: Duration::ZERO,
            ..crate::config::Config::default().retry
        };
        let failures = |conn: &Connection| -> (String, i64) {
            conn.query_row("SELECT status, failures FROM jobs", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap()
        };
        for _ in 0..10 {
            let job = claim(&mut conn, "w", Duration::from_secs(30), None, 3)
                .unwrap()
                .unwrap();
            let failed = fail(
                &mut conn,
                job.fence,
                "page 500",
                Failure::Progressed,
                &policy,
            );
            assert!(matches!(failed.unwrap(), Failed::Retrying(_)));
        }
        assert_eq!(failures(&conn), ("retrying".into(), 0));
        let job = claim(&mut conn, "w", Duration::from_secs(30), None, 3)
            .unwrap()
            .unwrap();
        let failed = fail(
            &mut conn,
            job.fence,
            "login refused",
            Failure::Fatal,
            &policy,
        );
        assert!(matches!(failed.unwrap(), Failed::Terminal));
        assert_eq!(failures(&conn), ("failed".into(), 1));
    }

    #[test]
    fn full_ranges_are_claimed_round_robin_before_the_short_last_ones_longest_first() {
        assert_eq!(claim_order(0, 100, 100), 1);
        assert_eq!(claim_order(1, 100, 100), 2);
        assert!(claim_order(7, 100, 100) < claim_order(0, 99, 100));
        assert!(claim_order(0, 99, 100) < claim_order(0, 12, 100));
    }
}
