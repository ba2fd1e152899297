//! The life of a run, around its jobs: a claim marks its run user and run
//! running and reads the range's unreported orders; a download's completion
//! records the pending orders, plans their ranges and queues a report job per
//! range; a report's outcomes mark its orders; a job that fails for good fails
//! its range's orders; and every end rolls up into its run user and run.
//! Each is one transaction that calls the queue (`crate::queue`) for the job's
//! own fenced write, so a worker whose fence no longer holds changes nothing.

mod claim;
mod plan;
mod report;
mod rollup;

pub use claim::{ClaimedJob, Next, claim};
pub use plan::complete_download;
pub use report::{Outcomes, RangeIncomplete, complete_report, record_orders};

use anyhow::Result;
use rusqlite::Connection;

use crate::config::RetryPolicy;
use crate::db::immediate;
use crate::queue::{self, Failed, Failure, Fence, Fenced};
use crate::time::now_ms;

/// Records a failed attempt (see `queue::fail`); a job that failed for good
/// takes its range's unreported orders with it and settles its run user.
pub fn fail(
    conn: &mut Connection,
    fence: Fence,
    error: &str,
    failure: Failure,
    policy: &RetryPolicy,
) -> Result<Fenced<Failed>> {
    immediate(conn, |tx| {
        let now = now_ms();
        let failed = queue::fail(tx, fence, error, failure, policy, now)?;
        if let Ok(Failed::Terminal(job)) = &failed {
            rollup::failed_for_good(tx, job.run_user_id, job.range_id, error, now)?;
        }
        Ok(failed)
    })
}

#[cfg(test)]
mod fixtures {
    use std::time::Duration;

    use rusqlite::Connection;

    use super::{ClaimedJob, Next, Outcomes, claim, complete_download};
    use crate::orders::{OrderToReport, Pending};
    use crate::queue::{ClaimNext, Fenced};

    /// A fresh database with one run user, `alice`, whose download job is queued.
    pub fn one_download() -> (tempfile::TempDir, Connection) {
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

    /// A claim by worker `w` with a lease of `lease`, preferring no one.
    pub fn claim_by_w(lease: Duration) -> ClaimNext {
        ClaimNext {
            worker: "w".into(),
            lease,
            prefer_run_user: None,
            max_lease_expiries: 3,
        }
    }

    /// The claim that rides with a completion: alice's jobs preferred.
    pub fn next() -> ClaimNext {
        ClaimNext {
            prefer_run_user: Some(1),
            ..claim_by_w(Duration::from_secs(30))
        }
    }

    /// A download of `n` orders completed in ranges of 100, and the first
    /// range claimed with it.
    pub fn downloaded(n: usize) -> (tempfile::TempDir, Connection, ClaimedJob) {
        let (dir, mut conn) = one_download();
        let download = claim(&mut conn, &claim_by_w(Duration::from_secs(30)))
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
            Some(&next()),
        );
        let first = claimed(completed.unwrap());
        (dir, conn, first)
    }

    pub fn claimed(completed: Fenced<Next>) -> ClaimedJob {
        match completed {
            Ok(Next::Claimed(job)) => job,
            other => panic!("no job claimed with the completion: {other:?}"),
        }
    }

    /// Every pending order of the job, reported.
    pub fn reported(job: &ClaimedJob) -> Outcomes {
        Outcomes {
            reported: job.pending.iter().map(|(seq, _)| *seq).collect(),
            failed: Vec::new(),
            found: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::fixtures::{claim_by_w, one_download};
    use super::*;

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
        let by_w = claim_by_w(Duration::from_secs(30));
        for _ in 0..10 {
            let job = claim(&mut conn, &by_w).unwrap().unwrap();
            let failed = fail(
                &mut conn,
                job.fence,
                "page 500",
                Failure::Progressed,
                &policy,
            );
            assert!(matches!(failed.unwrap(), Ok(Failed::Retrying(_))));
        }
        assert_eq!(failures(&conn), ("retrying".into(), 0));
        let job = claim(&mut conn, &by_w).unwrap().unwrap();
        let failed = fail(
            &mut conn,
            job.fence,
            "login refused",
            Failure::Fatal,
            &policy,
        );
        assert!(matches!(failed.unwrap(), Ok(Failed::Terminal(_))));
        assert_eq!(failures(&conn), ("failed".into(), 1));
    }
}
