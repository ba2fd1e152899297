//! The orders known per user: each export is compared with them, and the
//! orders that need a report become a run's pending list.

use anyhow::Result;
use rusqlite::{Transaction, named_params};

use crate::orders::{ExportedOrder, OrderToReport};

/// Records the exported orders of a user (new ones inserted, a changed status
/// noted with when it changed) and returns, in export order, those that need a
/// report: status in `report_statuses` and not reported since they entered it.
pub fn compare(
    tx: &Transaction,
    user_id: i64,
    exported: &[ExportedOrder],
    report_statuses: &[String],
    now: i64,
) -> Result<Vec<OrderToReport>> {
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
            pending.push(OrderToReport {
                id: order.id.clone(),
                fields: order.fields.clone(),
            });
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

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    fn exported(orders: &[(&str, &str)]) -> Vec<ExportedOrder> {
        orders
            .iter()
            .map(|(id, status)| ExportedOrder {
                id: id.to_string(),
                status: status.to_string(),
                fields: Default::default(),
            })
            .collect()
    }

    /// Compares an export at time `now` as a run of its own, and marks the
    /// orders in `reported` as reported by that run.
    fn run(
        conn: &mut Connection,
        export: &[(&str, &str)],
        reported: &[&str],
        now: i64,
    ) -> Vec<String> {
        let tx = conn.transaction().unwrap();
        let pending: Vec<String> = compare(&tx, 1, &exported(export), &["disputed".into()], now)
            .unwrap()
            .into_iter()
            .map(|order| order.id)
            .collect();
        tx.execute(
            "INSERT INTO runs (id, run_date, hour, scheduled_at, scheduled_for, status, created_at)
             VALUES (?1, '2026-01-01', ?1 / 10, 0, '', 'running', 0)",
            [now],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO run_users (id, run_id, user_id, status) VALUES (?1, ?1, 1, 'running')",
            [now],
        )
        .unwrap();
        for (seq, order) in reported.iter().enumerate() {
            tx.execute(
                "INSERT INTO run_orders (run_user_id, seq, order_ref, status, reported_at)
                 VALUES (?1, ?2, ?3, 'reported', ?1)",
                rusqlite::params![now, seq as i64 + 1, order],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        pending
    }

    #[test]
    fn an_order_needs_a_report_until_reported_and_again_after_it_reenters_the_status() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&dir.path().join("t.db")).unwrap();
        crate::db::users::add(&conn, "alice", "alice", 10).unwrap();

        let first = run(
            &mut conn,
            &[("A", "disputed"), ("B", "delivered"), ("C", "disputed")],
            &["A"],
            10,
        );
        assert_eq!(first, ["A", "C"], "new orders in a reported status");

        let second = run(
            &mut conn,
            &[("A", "disputed"), ("B", "disputed"), ("C", "disputed")],
            &[],
            20,
        );
        assert_eq!(
            second,
            ["B", "C"],
            "A was reported; B entered the status; C never got its report"
        );

        let third = run(
            &mut conn,
            &[("A", "delivered"), ("B", "disputed"), ("C", "disputed")],
            &["B", "C"],
            30,
        );
        assert_eq!(third, ["B", "C"]);

        let fourth = run(
            &mut conn,
            &[("A", "disputed"), ("B", "disputed"), ("C", "disputed")],
            &[],
            40,
        );
        assert_eq!(
            fourth,
            ["A"],
            "A re-entered the status after its report; B and C are reported"
        );
    }
}
