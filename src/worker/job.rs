//! Running one claimed job under its lease: lock the range, keep the lease
//! renewed (`renewal`), log in or reuse the kept session, do the job's steps
//! (`download`, `report`), and record how it ended, fenced on the claim.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;

use super::Worker;
use super::lease::{LeaseState, Stop};
use crate::coord::{LockRefused, Permit};
use crate::orders::OrderToReport;
use crate::portal::{JobScope, Portal, PortalSession, PortalUser, StepError};
use crate::queue::{self, ClaimNext, Failed, Failure, FenceLost, JobKind};
use crate::run_state::{self, ClaimedJob, Next};

/// How a failed step outside an order's report stops its job: a fault that
/// retrying may fix fails the attempt; anything else fails the job at once.
pub(super) fn step_stop(err: StepError) -> Stop {
    match err {
        StepError::Retryable(why) | StepError::Browser(why) | StepError::NoSession(why) => {
            Stop::failed(why)
        }
        StepError::Unfit(why) | StepError::Fatal(why) => Stop::Fatal(why),
    }
}

/// How one try at one order's report ended, when it did not succeed.
pub(super) enum OrderTry {
    /// The job stops (lease lost, shutdown, the browser gone, ...).
    Stop(Stop),
    /// This try failed; another may work.
    Failed(StepError),
}

impl From<Stop> for OrderTry {
    fn from(stop: Stop) -> Self {
        OrderTry::Stop(stop)
    }
}

/// How a job's steps ended before the job's end.
enum Ended {
    Stop(Stop),
    /// No browser session within `browser.session_timeout`: the portal saw
    /// nothing of the job.
    NoSession(String),
}

impl From<Stop> for Ended {
    fn from(stop: Stop) -> Self {
        Ended::Stop(stop)
    }
}

/// A logged-in session kept between jobs of the same user.
pub struct KeptSession<P: Portal> {
    pub run_user_id: i64,
    pub user: String,
    pub session: P::Session,
}

/// What the slot does next.
pub enum JobEnd {
    /// The job ended (done, failed or handed back); with the next job if
    /// its claim rode with the completion.
    Finished(Next),
    PermitLost,
    Stopped,
    /// No browser session was handed out in time: the job went back
    /// untried, and the slot gives its permit back for a while.
    NoSession,
}

impl<P: Portal> Worker<P> {
    pub(super) async fn run_job(
        self: &Arc<Self>,
        permit: &Permit,
        permit_lease: &Arc<LeaseState>,
        mut job: ClaimedJob,
        stop: &watch::Receiver<bool>,
        kept: &mut Option<KeptSession<P>>,
    ) -> JobEnd {
        let label = job.label();
        let pending = std::mem::take(&mut job.pending);
        let describe = self.coord.describe(permit, Some(label.clone()));
        let lock = async {
            match job.range {
                Some(range) => self
                    .coord
                    .lock_range(range.id, &permit.token)
                    .await
                    .map(Some),
                None => Ok(None),
            }
        };
        let (described, lock) = tokio::join!(describe, lock);
        if let Err(err) = described {
            tracing::debug!(error = %format!("{err:#}"), "cannot describe the permit holder");
        }
        let lock = match lock {
            Ok(None) => None,
            Ok(Some(Ok(lock))) => Some(lock),
            Ok(Some(Err(LockRefused::HeldFor(left)))) => {
                tracing::info!(job = %label, "range still locked by another worker; handing it back");
                self.hand_back(&job, left.max(Duration::from_millis(100)))
                    .await;
                return JobEnd::Finished(Next::Untried);
            }
            Err(err) => {
                tracing::warn!(job = %label, error = %format!("{err:#}"), "cannot lock the range; handing it back");
                self.hand_back(&job, Duration::ZERO).await;
                return JobEnd::PermitLost;
            }
        };
        let lease = Arc::new(LeaseState::within(permit_lease.clone()));
        let heartbeat = tokio::spawn(self.clone().keep_lease(
            lease.clone(),
            lock.clone(),
            job.fence,
        ));
        tracing::debug!(job = %label, attempt = job.fence.attempt, "job started");
        let result = self
            .execute(&job, pending, permit_lease, lease.clone(), stop, kept)
            .await;
        heartbeat.abort();
        if let Some(lock) = &lock
            && let Err(err) = self.coord.release_lock(lock).await
        {
            tracing::warn!(job = %label, error = %format!("{err:#}"), "cannot release the range lock; it expires with its lease");
        }
        let result = match result {
            Err(Ended::NoSession(why)) => {
                tracing::warn!(job = %label, error = %why, "no browser session; handing the job back and the browser permit with it");
                self.hand_back(&job, Duration::ZERO).await;
                return JobEnd::NoSession;
            }
            Err(Ended::Stop(stop)) => Err(stop),
            Ok(next) => Ok(next),
        };
        match result {
            Ok(next) => {
                self.jobs_done.fetch_add(1, Ordering::Relaxed);
                tracing::info!(job = %label, "job done");
                JobEnd::Finished(next)
            }
            Err(stop @ (Stop::Failed { .. } | Stop::Fatal(_))) => {
                let (error, failure) = match stop {
                    Stop::Failed {
                        why,
                        progressed: true,
                    } => (why, Failure::Progressed),
                    Stop::Failed { why, .. } => (why, Failure::Counted),
                    Stop::Fatal(why) => (why, Failure::Fatal),
                    _ => unreachable!("matched above"),
                };
                let (fence, why, retry) = (job.fence, error.clone(), self.config.retry.clone());
                let failed = self
                    .db(move |c| run_state::fail(c, fence, &why, failure, &retry))
                    .await;
                match failed {
                    Ok(Ok(Failed::Retrying(delay))) => {
                        tracing::warn!(job = %label, %error, "job failed; retrying in {:.0} s", delay.as_secs_f64())
                    }
                    Ok(Ok(Failed::Terminal(_))) => {
                        tracing::error!(job = %label, %error, "job failed; no retries left")
                    }
                    Ok(Err(FenceLost)) => {
                        tracing::warn!(job = %label, %error, "job failed after its lease was lost")
                    }
                    Err(err) => {
                        tracing::error!(job = %label, error = %format!("{err:#}"), "cannot record a job failure")
                    }
                }
                JobEnd::Finished(Next::Untried)
            }
            Err(Stop::Shutdown) => {
                self.hand_back(&job, Duration::ZERO).await;
                JobEnd::Stopped
            }
            Err(Stop::PermitLost) => {
                tracing::warn!(job = %label, "browser permit lost; handing the job back");
                self.hand_back(&job, Duration::ZERO).await;
                JobEnd::PermitLost
            }
            Err(Stop::LeaseLost(why)) => {
                tracing::warn!(job = %label, reason = %why, "lease lost; the job stops and is handed back");
                self.hand_back(&job, Duration::ZERO).await;
                JobEnd::Finished(Next::Untried)
            }
        }
    }

    /// The claim to make with a job's completion, if the slot may claim: its
    /// permit is live and fresh and no shutdown was asked (the check a slot
    /// makes before every claim). It prefers the same user while the portal
    /// keeps sessions, as the slot's own claim does.
    pub(super) fn claim_next(
        &self,
        job: &ClaimedJob,
        permit_lease: &LeaseState,
        stop: &watch::Receiver<bool>,
    ) -> Option<ClaimNext> {
        permit_lease.check(stop).ok()?;
        Some(ClaimNext {
            worker: self.id.clone(),
            lease: self.config.lease_ttl,
            prefer_run_user: self.portal.keeps_sessions().then_some(job.run_user_id),
            max_lease_expiries: self.config.retry.max_lease_expiries,
        })
    }

    /// Hands a job back; a fence that no longer holds changes nothing.
    async fn hand_back(&self, job: &ClaimedJob, delay: Duration) {
        let fence = job.fence;
        if let Err(err) = self.db(move |c| queue::hand_back(c, fence, delay)).await {
            tracing::warn!(job = %job.label(), error = %format!("{err:#}"), "cannot hand the job back; its lease will expire");
        }
    }

    async fn execute(
        self: &Arc<Self>,
        job: &ClaimedJob,
        pending: Vec<(i64, OrderToReport)>,
        permit_lease: &Arc<LeaseState>,
        lease: Arc<LeaseState>,
        stop: &watch::Receiver<bool>,
        kept: &mut Option<KeptSession<P>>,
    ) -> Result<Next, Ended> {
        let user = PortalUser {
            name: job.user.clone(),
            login: job.login.clone(),
            monthly_orders_estimate: job.monthly_orders_estimate,
            run_id: job.run_id,
        };
        lease.check(stop)?;
        let mut session = match kept.take() {
            Some(k) if k.user == job.user => k.session,
            other => {
                if let Some(k) = other {
                    k.session.close().await;
                }
                match self.order_step(&lease, self.portal.login(&user)).await {
                    Ok(session) => session,
                    Err(OrderTry::Failed(StepError::NoSession(why))) => {
                        return Err(Ended::NoSession(why));
                    }
                    Err(OrderTry::Failed(err)) => return Err(step_stop(err).into()),
                    Err(OrderTry::Stop(stop)) => return Err(stop.into()),
                }
            }
        };
        session.begin_job(JobScope {
            run_id: job.run_id,
            range: job.range.map(|r| (r.start, r.end)),
        });
        let result = match job.kind {
            JobKind::Download => {
                self.download(job, &mut session, permit_lease, &lease, stop)
                    .await
            }
            JobKind::Report => {
                self.report(job, pending, &mut session, permit_lease, lease, stop)
                    .await
            }
        };
        if result.is_ok() && self.portal.keeps_sessions() {
            *kept = Some(KeptSession {
                run_user_id: job.run_user_id,
                user: job.user.clone(),
                session,
            });
        } else {
            session.close().await;
        }
        result.map_err(Ended::Stop)
    }

    /// Runs one portal step, abandoned as soon as the lease is lost; its
    /// failure is left for the caller to sort.
    pub(super) async fn order_step<T>(
        &self,
        lease: &LeaseState,
        step: impl Future<Output = Result<T, StepError>>,
    ) -> Result<T, OrderTry> {
        if let Some(why) = lease.lost() {
            return Err(OrderTry::Stop(why));
        }
        tokio::select! {
            biased;
            result = step => result.map_err(OrderTry::Failed),
            why = lease.until_lost() => Err(OrderTry::Stop(why)),
        }
    }
}
