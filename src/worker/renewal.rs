//! Lease keeping for a running job: the range lock in Redis and the job's
//! lease in the database, renewed every third of a lease (the browser permit
//! has its own keeper, `Worker::keep_permit`).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use super::Worker;
use super::lease::{LeaseState, Stop};
use crate::coord::RangeLock;
use crate::portal::Portal;
use crate::queue;

impl<P: Portal> Worker<P> {
    /// Renews the range lock and the job's database lease every third of a
    /// lease until aborted (the permit has its own keeper); marks the lease
    /// lost when either is gone, and fails a range worked past `range_lock_ttl`.
    pub(super) async fn keep_lease(
        self: Arc<Self>,
        lease: Arc<LeaseState>,
        lock: Option<RangeLock>,
        fence: queue::Fence,
    ) {
        let started = Instant::now();
        let mut tick = tokio::time::interval(self.config.lease_ttl / 3);
        tick.tick().await;
        loop {
            tick.tick().await;
            if lock.is_some() && started.elapsed() > self.config.range_lock_ttl {
                lease.lose(Stop::failed(format!(
                    "range worked for longer than range_lock_ttl ({} s)",
                    self.config.range_lock_ttl.as_secs()
                )));
                return;
            }
            match self.renew_job(lock.as_ref(), fence).await {
                Ok(None) => lease.renewed(),
                Ok(Some(why)) => {
                    lease.lose(why);
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "cannot renew the job's lease; trying again")
                }
            }
        }
    }

    async fn renew_job(
        &self,
        lock: Option<&RangeLock>,
        fence: queue::Fence,
    ) -> Result<Option<Stop>> {
        if let Some(lock) = lock
            && !self.coord.renew_lock(lock).await?
        {
            return Ok(Some(Stop::LeaseLost("the range lock is gone".into())));
        }
        let lease = self.config.lease_ttl;
        if let Err(lost) = self.db(move |c| queue::renew(c, fence, lease)).await? {
            return Ok(Some(Stop::LeaseLost(lost.to_string())));
        }
        Ok(None)
    }
}
