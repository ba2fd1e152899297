//! A download+compare job: the export, tried again in place on a transient
//! fault, and its pending orders recorded with the ranges they make.

use tokio::sync::watch;

use super::Worker;
use super::job::{OrderTry, step_stop};
use super::lease::{LeaseState, Stop};
use crate::portal::{Portal, PortalSession, StepError};
use crate::run_state::{self, ClaimedJob, Next};

impl<P: Portal> Worker<P> {
    pub(super) async fn download(
        &self,
        job: &ClaimedJob,
        session: &mut P::Session,
        permit_lease: &LeaseState,
        lease: &LeaseState,
        stop: &watch::Receiver<bool>,
    ) -> Result<Next, Stop> {
        // A transient fault (an export answered 500) is tried again in
        // place, as an order's is, before the job fails.
        let retry = &self.config.retry;
        let mut attempt = 1;
        let mut backoff = retry.order_backoff();
        let pending = loop {
            match self.order_step(lease, session.download_pending()).await {
                Ok(pending) => break pending,
                Err(OrderTry::Failed(StepError::Retryable(why)))
                    if attempt < retry.order_attempts =>
                {
                    let wait = backoff.next_delay();
                    tracing::warn!(attempt, error = %why, "download failed; trying it again in {:.1} s", wait.as_secs_f64());
                    attempt += 1;
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        why = lease.until_lost() => return Err(why),
                    }
                }
                Err(OrderTry::Failed(err)) => return Err(step_stop(err)),
                Err(OrderTry::Stop(stop)) => return Err(stop),
            }
        };
        lease.check(stop)?;
        let (range_size, retries) = (self.config.range_size, self.config.retry.report_retries);
        let next = self.claim_next(job, permit_lease, stop);
        let fence = job.fence;
        let recorded = self
            .db(move |c| {
                run_state::complete_download(c, fence, &pending, range_size, retries, next.as_ref())
            })
            .await;
        match recorded {
            Ok(Ok(next)) => Ok(next),
            Ok(Err(lost)) => Err(Stop::LeaseLost(lost.to_string())),
            Err(err) => Err(Stop::failed(format!(
                "cannot record the pending orders: {err:#}"
            ))),
        }
    }
}
