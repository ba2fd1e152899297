//! A download's completion: the pending orders recorded (numbered 1..N), cut
//! into ranges of `range_size`, and a report job queued per range.

use anyhow::Result;
use rusqlite::{Connection, Transaction, named_params};

use super::claim::{Next, claim_after};
use super::rollup::settle;
use crate::db::{immediate, orders};
use crate::orders::{OrderToReport, Pending};
use crate::queue::{self, ClaimNext, Fence, Fenced};
use crate::time::now_ms;

/// Completes a download+compare: records the pending orders, their ranges
/// and a report job per range, and claims the `next` job if asked, in one
/// transaction. If the fence no longer holds, nothing is written.
pub fn complete_download(
    conn: &mut Connection,
    fence: Fence,
    found: &Pending,
    range_size: u32,
    report_retries: u32,
    next: Option<&ClaimNext>,
) -> Result<Fenced<Next>> {
    immediate(conn, |tx| {
        let now = now_ms();
        let job = match queue::complete(tx, fence, now)? {
            Ok(job) => job,
            Err(lost) => return Ok(Err(lost)),
        };
        let run_user_id = job.run_user_id;
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
        record_pending(tx, run_user_id, &pending)?;
        plan_ranges(
            tx,
            run_id,
            run_user_id,
            pending.len(),
            range_size,
            report_retries,
            now,
        )?;
        settle(tx, run_user_id, now)?;
        Ok(Ok(claim_after(tx, next)?))
    })
}

/// Records the pending orders, numbered 1..N in the order given, in one
/// statement for the whole list.
fn record_pending(tx: &Transaction, run_user_id: i64, pending: &[&OrderToReport]) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO run_orders (run_user_id, seq, order_ref, fields)
         SELECT :ru, key + 1, json_extract(value, '$.id'), json_extract(value, '$.fields')
         FROM json_each(:orders)",
    )?
    .execute(named_params! {":ru": run_user_id, ":orders": serde_json::to_string(&pending)?})?;
    tx.prepare_cached("UPDATE run_users SET pending_orders = :n WHERE id = :ru")?
        .execute(named_params! {":n": pending.len() as i64, ":ru": run_user_id})?;
    Ok(())
}

/// Cuts `pending` orders into ranges of `range_size` and queues a report job
/// for each.
fn plan_ranges(
    tx: &Transaction,
    run_id: i64,
    run_user_id: i64,
    pending: usize,
    range_size: u32,
    report_retries: u32,
    now: i64,
) -> Result<()> {
    let mut range = tx.prepare_cached(
        "INSERT INTO ranges (run_user_id, range_start, range_end) VALUES (:ru, :start, :end)",
    )?;
    let size = range_size as usize;
    for (position, start) in (0..pending).step_by(size).enumerate() {
        let end = (start + size).min(pending);
        range.execute(
            named_params! {":ru": run_user_id, ":start": start as i64 + 1, ":end": end as i64},
        )?;
        let range_id = tx.last_insert_rowid();
        let order = claim_order(position, end - start, size);
        queue::enqueue_report(
            tx,
            run_id,
            run_user_id,
            range_id,
            report_retries,
            order,
            now,
        )?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn full_ranges_are_claimed_round_robin_before_the_short_last_ones_longest_first() {
        assert_eq!(claim_order(0, 100, 100), 1);
        assert_eq!(claim_order(1, 100, 100), 2);
        assert!(claim_order(7, 100, 100) < claim_order(0, 99, 100));
        assert!(claim_order(0, 99, 100) < claim_order(0, 12, 100));
    }
}
