//! A claim, with what running the job needs: its user, and for a report job
//! its range's unreported orders (a retry resumes after the last reported).

use anyhow::Result;
use rusqlite::{Connection, Transaction, named_params};

use super::rollup;
use crate::db::immediate;
use crate::orders::OrderToReport;
use crate::queue::{self, ClaimNext, Fence, JobKind};
use crate::time::now_ms;

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

/// Claims the next job, or none (see `queue::take` for which): jobs whose
/// worker kept dying under them are failed first, with their orders.
pub fn claim(conn: &mut Connection, next: &ClaimNext) -> Result<Option<ClaimedJob>> {
    immediate(conn, |tx| claim_in(tx, next))
}

/// The next job after a completion, in its transaction, if one is to be claimed.
pub(super) fn claim_after(tx: &Transaction, next: Option<&ClaimNext>) -> Result<Next> {
    Ok(match next {
        None => Next::Untried,
        Some(next) => match claim_in(tx, next)? {
            Some(job) => Next::Claimed(job),
            None => Next::Idle,
        },
    })
}

/// The claim itself, inside the caller's transaction.
fn claim_in(tx: &Transaction, next: &ClaimNext) -> Result<Option<ClaimedJob>> {
    let now = now_ms();
    for worn in queue::expire_worn_out(tx, next.max_lease_expiries, now)? {
        tracing::error!(run_user = worn.run_user_id, error = %worn.error, "job failed; it is not taken again");
        rollup::failed_for_good(tx, worn.run_user_id, worn.range_id, &worn.error, now)?;
    }
    let Some(taken) = queue::take(tx, next, now)? else {
        return Ok(None);
    };
    let user = rollup::start(tx, taken.run_id, taken.run_user_id, now)?;
    let (range, pending) = match taken.range_id {
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
            (Some(range), pending_in_range(tx, taken.run_user_id, range)?)
        }
        None => (None, Vec::new()),
    };
    Ok(Some(ClaimedJob {
        fence: taken.fence,
        kind: taken.kind,
        run_id: taken.run_id,
        run_user_id: taken.run_user_id,
        user: user.name,
        login: user.login,
        monthly_orders_estimate: user.monthly_orders_estimate,
        range,
        pending,
    }))
}

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::fixtures::{claim_by_w, one_download};
    use super::*;

    #[test]
    fn a_job_whose_lease_expires_three_times_ends_failed_instead_of_claimed_again() {
        let (_dir, mut conn) = one_download();
        let expiring = claim_by_w(Duration::from_millis(0));
        for attempt in 1..=3 {
            let job = claim(&mut conn, &expiring).unwrap();
            assert_eq!(job.map(|j| j.fence.attempt), Some(attempt));
            std::thread::sleep(Duration::from_millis(3));
        }
        assert!(claim(&mut conn, &expiring).unwrap().is_none());
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
}
