//! A report job's outcomes: its orders marked reported or failed as they come
//! (group-committed), and the range's completion with its last ones.

use anyhow::Result;
use rusqlite::{Connection, Transaction, named_params};

use super::claim::{Next, claim_after};
use super::rollup::settle;
use crate::db::immediate;
use crate::queue::{self, ClaimNext, Fence, Fenced};
use crate::time::now_ms;

/// What became of the next stretch of a range's pending orders, in order:
/// every pending order between the first and the last is in one of the lists.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcomes {
    /// Reported (or found already reported), by number.
    pub reported: Vec<i64>,
    /// Those of `reported` that were found already reported on the portal,
    /// and so not submitted.
    pub found: Vec<i64>,
    /// Failed on their own after every attempt, with the reason.
    pub failed: Vec<(i64, String)>,
}

impl Outcomes {
    pub fn is_empty(&self) -> bool {
        self.reported.is_empty() && self.failed.is_empty()
    }

    /// How many outcomes the batch holds.
    pub fn len(&self) -> usize {
        self.reported.len() + self.failed.len()
    }

    pub fn clear(&mut self) {
        self.reported.clear();
        self.found.clear();
        self.failed.clear();
    }
}

/// Records the outcomes of orders, in one transaction fenced on the claim.
/// If the fence no longer holds, nothing changes.
pub fn record_orders(
    conn: &mut Connection,
    fence: Fence,
    run_user_id: i64,
    outcomes: &Outcomes,
) -> Result<Fenced<()>> {
    immediate(conn, |tx| {
        if let Err(lost) = queue::holds(tx, fence)? {
            return Ok(Err(lost));
        }
        mark_orders(tx, run_user_id, outcomes, now_ms())?;
        Ok(Ok(()))
    })
}

/// A range that would be completed while some of its orders are still
/// pending: an earlier write of their outcomes never landed. Nothing of the
/// completion is written; the job must be tried again, and its next attempt
/// asks the portal about each of those orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{pending} orders of the range are still pending in the database although the range reached its end"
)]
pub struct RangeIncomplete {
    pub pending: i64,
}

/// Records the range's last outcomes (as for `record_orders`), the report
/// job as done, and claims the `next` job if asked, in one transaction fenced
/// on the claim. If the fence no longer holds, nothing changes. A range with
/// an order still pending after these outcomes is never completed: the error
/// is `RangeIncomplete` and nothing is written.
pub fn complete_report(
    conn: &mut Connection,
    fence: Fence,
    run_user_id: i64,
    outcomes: &Outcomes,
    next: Option<&ClaimNext>,
) -> Result<Fenced<Next>> {
    immediate(conn, |tx| {
        let now = now_ms();
        // Marking the job done first checks the fence: if it no longer
        // holds, nothing has been written and the transaction is empty.
        if let Err(lost) = queue::complete(tx, fence, now)? {
            return Ok(Err(lost));
        }
        mark_orders(tx, run_user_id, outcomes, now)?;
        let pending = still_pending(tx, fence)?;
        if pending > 0 {
            return Err(RangeIncomplete { pending }.into());
        }
        settle(tx, run_user_id, now)?;
        Ok(Ok(claim_after(tx, next)?))
    })
}

/// The orders of the fenced job's range that are still pending.
fn still_pending(tx: &Transaction, fence: Fence) -> Result<i64> {
    Ok(tx
        .prepare_cached(
            "SELECT COUNT(*) FROM jobs j JOIN ranges r ON r.id = j.range_id
             JOIN run_orders o ON o.run_user_id = r.run_user_id
                              AND o.seq BETWEEN r.range_start AND r.range_end
             WHERE j.id = :job AND o.status = 'pending'",
        )?
        .query_row(named_params! {":job": fence.job_id}, |r| r.get(0))?)
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
    let mut found = tx.prepare_cached(
        "UPDATE run_orders SET found_reported = 1
         WHERE run_user_id = :ru AND seq = :seq AND status = 'reported' AND reported_at = :now",
    )?;
    for seq in &outcomes.found {
        found.execute(named_params! {":ru": run_user_id, ":seq": seq, ":now": now})?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{claimed, downloaded, next, reported};
    use super::*;
    use crate::orders::OrderToReport;
    use crate::queue::FenceLost;

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
            complete_report(&mut conn, stale, 1, &seqs, Some(&next())).unwrap(),
            Err(FenceLost)
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
            claimed(complete_report(&mut conn, first.fence, 1, &seqs, Some(&next())).unwrap());
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
            complete_report(&mut conn, second.fence, 1, &seqs, Some(&next())).unwrap(),
            Ok(Next::Idle)
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

    #[test]
    fn a_range_whose_earlier_outcomes_never_landed_is_not_completed() {
        let (_dir, mut conn, range) = downloaded(5);
        // Orders 1 and 2 were reported, but the write that recorded them
        // failed: only 3 to 5 reach the completion.
        let last = Outcomes {
            reported: vec![3, 4, 5],
            ..Outcomes::default()
        };
        let err = complete_report(&mut conn, range.fence, 1, &last, Some(&next())).unwrap_err();
        assert_eq!(
            err.downcast_ref::<RangeIncomplete>(),
            Some(&RangeIncomplete { pending: 2 })
        );
        let count = |conn: &Connection, sql: &str| -> i64 {
            conn.query_row(sql, [], |r| r.get(0)).unwrap()
        };
        let reported = "SELECT COUNT(*) FROM run_orders WHERE status = 'reported'";
        let running = "SELECT COUNT(*) FROM jobs WHERE kind = 'report' AND status = 'running'";
        let done = "SELECT COUNT(*) FROM runs WHERE status = 'done'";
        assert_eq!(count(&conn, reported), 0);
        assert_eq!(count(&conn, running), 1);
        assert_eq!(count(&conn, done), 0);

        // With every outcome, the range completes.
        let all = Outcomes {
            reported: vec![1, 2, 3, 4, 5],
            ..Outcomes::default()
        };
        assert!(matches!(
            complete_report(&mut conn, range.fence, 1, &all, Some(&next())).unwrap(),
            Ok(Next::Idle)
        ));
        assert_eq!(count(&conn, done), 1);
    }

    #[test]
    fn an_order_that_failed_by_itself_fails_its_user_but_not_its_neighbours() {
        let (_dir, mut conn, range) = downloaded(5);
        let outcomes = Outcomes {
            reported: vec![1, 2, 4, 5],
            failed: vec![(3, "HTTP 500 three times".into())],
            found: vec![],
        };
        assert!(matches!(
            complete_report(&mut conn, range.fence, 1, &outcomes, Some(&next())).unwrap(),
            Ok(Next::Idle)
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
}
