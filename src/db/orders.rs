//! The orders known per user: each export is compared with them, and the
//! orders that need a report become a run's pending list.

use anyhow::Result;
use rusqlite::{Transaction, named_params};

/// One row of a portal's orders export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedOrder {
    pub id: String,
    pub status: String,
}

/// Records the exported orders of a user (new ones inserted, a changed status
/// noted with when it changed) and returns, in export order, those that need a
/// report: status in `report_statuses` and not reported since they entered it.
pub fn compare(
    tx: &Transaction,
    user_id: i64,
    exported: &[ExportedOrder],
    report_statuses: &[String],
    now: i64,
) -> Result<Vec<String>> {
    fold_in_reports(tx, user_id)?;
    let mut upsert = tx.prepare_cached(
        "INSERT INTO orders (user_id, order_ref, status, status_since, seen_at)
         VALUES (:user, :order, :status, :now, :now)
         ON CONFLICT (user_id, order_ref) DO UPDATE SET
             seen_at = :now,
             status_since = CASE WHEN status = excluded.status THEN status_since ELSE :now END,
             status = excluded.status
         RETURNING status_since, reported_at",
    )?;
    let mut pending = Vec::new();
    for order in exported {
        let (since, reported): (i64, Option<i64>) = upsert.query_row(
            named_params! {":user": user_id, ":order": order.id, ":status": order.status, ":now": now},
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let wanted = report_statuses.contains(&order.status);
        if wanted && reported.is_none_or(|at| at < since) {
            pending.push(order.id.clone());
        }
    }
    Ok(pending)
}

/// Carries the reports recorded by earlier runs into `orders`, so the compare
/// knows when each order was last reported.
fn fold_in_reports(tx: &Transaction, user_id: i64) -> Result<()> {
    tx.prepare_cached(
        "UPDATE orders SET reported_at = latest.at, reported_run_id = latest.run_id
         FROM (SELECT ro.order_ref, MAX(ro.reported_at) AS at, MAX(ru.run_id) AS run_id
               FROM run_users ru JOIN run_orders ro ON ro.run_user_id = ru.id
               WHERE ru.user_id = :user AND ro.status = 'reported'
               GROUP BY ro.order_ref) AS latest
         WHERE orders.user_id = :user AND orders.order_ref = latest.order_ref
           AND (orders.reported_at IS NULL OR orders.reported_at < latest.at)",
    )?
    .execute(named_params! {":user": user_id})?;
    Ok(())
}
