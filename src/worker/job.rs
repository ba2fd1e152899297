//! Running one claimed job under its lease: lock the range, keep the lease
//! renewed, do the portal steps, and record the outcome fenced on the claim.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::{mpsc, watch};

use super::Worker;
use super::lease::{LeaseState, Stop};
use crate::backoff::Backoff;
use crate::coord::{LockRefused, Permit, RangeLock};
use crate::orders::OrderToReport;
use crate::portal::{JobScope, Portal, PortalSession, PortalUser, StepError};
use crate::queue::{self, ClaimNext, Failed, Failure, FenceLost, JobKind};
use crate::run_state::{self, ClaimedJob, Next, Outcomes, RangeIncomplete};

/// How many outcomes the report loop may run ahead of the recorder: past
/// that it waits, so a database that takes no writes stops the submits too.
const RECORD_AHEAD: usize = 32;

/// How a failed write of outcomes is retried: from 100 ms, doubling to 5 s.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(100);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(5);

/// How long a stopping worker keeps trying to record outcomes the database
/// does not take, within its drain time.
const GIVE_UP_AFTER_SHUTDOWN: Duration = Duration::from_secs(10);

/// Adds one message of the report loop to the batch to write.
fn absorb(batch: &mut Outcomes, done: &mut bool, message: Recorded) {
    match message {
        Recorded::Order(seq) => batch.reported.push(seq),
        Recorded::OrderFailed(seq, why) => batch.failed.push((seq, why)),
        Recorded::RangeDone => *done = true,
    }
}

/// What the report loop tells the recorder.
enum Recorded {
    /// This order was submitted, or found already reported.
    Order(i64),
    /// This order failed on its own after every attempt.
    OrderFailed(i64, String),
    /// Every order of the range is done: complete the job.
    RangeDone,
}

/// How a failed step outside an order's report stops its job: a fault that
/// retrying may fix fails the attempt; anything else fails the job at once.
fn step_stop(err: StepError) -> Stop {
    match err {
        StepError::Retryable(why) | StepError::Browser(why) | StepError::NoSession(why) => {
            Stop::failed(why)
        }
        StepError::Unfit(why) | StepError::Fatal(why) => Stop::Fatal(why),
    }
}

/// How one try at one order's report ended, when it did not succeed.
enum OrderTry {
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
    fn claim_next(
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

    async fn download(
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
        let pending = loop {
            match self.order_step(lease, session.download_pending()).await {
                Ok(pending) => break pending,
                Err(OrderTry::Failed(StepError::Retryable(why)))
                    if attempt < retry.order_attempts =>
                {
                    let wait = retry.order_backoff * 2u32.saturating_pow(attempt - 1);
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

    async fn report(
        self: &Arc<Self>,
        job: &ClaimedJob,
        pending: Vec<(i64, OrderToReport)>,
        session: &mut P::Session,
        permit_lease: &Arc<LeaseState>,
        lease: Arc<LeaseState>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Next, Stop> {
        let (submitted, to_record) = mpsc::channel(RECORD_AHEAD);
        let recorder = tokio::spawn(self.clone().record_orders(
            job.clone(),
            to_record,
            permit_lease.clone(),
            lease.clone(),
            stop.clone(),
        ));
        let reported = self
            .report_orders(pending, session, &lease, stop, &submitted)
            .await;
        if reported.is_ok() {
            let _ = submitted.send(Recorded::RangeDone).await;
        }
        drop(submitted);
        let recorded = recorder
            .await
            .unwrap_or_else(|err| Err(Stop::failed(format!("the order recorder stopped: {err}"))));
        // A failed attempt says whether it handed orders over (and the
        // recorder records all it was handed before it ends).
        reported?;
        recorded
    }

    /// Reports each order the portal does not already hold, checking the
    /// lease right before each submit and handing each order's outcome to
    /// the recorder. A transient fault is tried again in place, for that
    /// order alone; an order that keeps failing is recorded failed and the
    /// range goes on. Returns how many orders were handed over.
    async fn report_orders(
        &self,
        pending: Vec<(i64, OrderToReport)>,
        session: &mut P::Session,
        lease: &LeaseState,
        stop: &watch::Receiver<bool>,
        submitted: &mpsc::Sender<Recorded>,
    ) -> Result<usize, Stop> {
        let retry = &self.config.retry;
        let mut handed = 0;
        let mut worked = 0;
        for (seq, order) in pending {
            let mut attempt = 1;
            let outcome = loop {
                match self.report_order(&order, session, lease, stop).await {
                    Ok(()) => break Recorded::Order(seq),
                    Err(OrderTry::Stop(stop)) => return Err(self.stopped(stop, handed)),
                    Err(OrderTry::Failed(StepError::Browser(why) | StepError::NoSession(why))) => {
                        return Err(self.stopped(Stop::failed(why), handed));
                    }
                    Err(OrderTry::Failed(StepError::Fatal(why))) => return Err(Stop::Fatal(why)),
                    // A page that does not fit the flow fails the job while
                    // the flow has not worked once here (a wrong selector),
                    // and only its order once it has (that order's page).
                    Err(OrderTry::Failed(StepError::Unfit(why))) if worked == 0 => {
                        return Err(Stop::Fatal(why));
                    }
                    Err(OrderTry::Failed(StepError::Unfit(why))) => {
                        break Recorded::OrderFailed(seq, why);
                    }
                    Err(OrderTry::Failed(StepError::Retryable(why))) => {
                        if attempt >= retry.order_attempts {
                            break Recorded::OrderFailed(
                                seq,
                                format!("failed {attempt} times; last: {why}"),
                            );
                        }
                        let wait = retry.order_backoff * 2u32.saturating_pow(attempt - 1);
                        tracing::warn!(order = %order.id, attempt, error = %why, "order failed; trying it again in {:.1} s", wait.as_secs_f64());
                        attempt += 1;
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            why = lease.until_lost() => return Err(self.stopped(why, handed)),
                        }
                    }
                }
            };
            match &outcome {
                Recorded::Order(_) => worked += 1,
                Recorded::OrderFailed(_, why) => {
                    tracing::error!(order = %order.id, error = %why, "order failed; the range goes on")
                }
                Recorded::RangeDone => {}
            }
            // Waits while the recorder is far behind; an outcome is never
            // dropped while the recorder runs.
            if submitted.send(outcome).await.is_err() {
                return Err(lease
                    .lost()
                    .unwrap_or_else(|| Stop::failed("the order recorder stopped")));
            }
            handed += 1;
        }
        Ok(handed)
    }

    /// A retryable stop that came after orders were handed over counts as
    /// progress.
    fn stopped(&self, stop: Stop, handed: usize) -> Stop {
        match stop {
            Stop::Failed { why, .. } => Stop::Failed {
                why,
                progressed: handed > 0,
            },
            other => other,
        }
    }

    /// One try at one order: asks the portal whether it already has the
    /// report (so a submit the portal stored but answered with an error is
    /// never sent again), prepares it, checks the lease, submits.
    async fn report_order(
        &self,
        order: &OrderToReport,
        session: &mut P::Session,
        lease: &LeaseState,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), OrderTry> {
        lease.check(stop)?;
        if self
            .order_step(lease, session.already_reported(order))
            .await?
        {
            return Ok(());
        }
        self.order_step(lease, session.prepare_report(order))
            .await?;
        lease.check(stop)?;
        if self.order_step(lease, session.submit_report(order)).await? {
            return Ok(());
        }
        Err(OrderTry::Failed(StepError::Retryable(format!(
            "the portal ended the session while {} was submitted",
            order.id
        ))))
    }

    /// Runs one portal step, abandoned as soon as the lease is lost; its
    /// failure is left for the caller to sort.
    async fn order_step<T>(
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

    /// Records submitted orders as they come, committing whatever accumulated
    /// while the previous commit ran (group commit): one order per commit when
    /// orders take time, many when they do not; the range's completion rides
    /// with its last orders, and so does the claim of the slot's next job.
    /// Fenced on the claim: a lost fence stops the job.
    ///
    /// A write that fails (a full disk, an I/O error) keeps its outcomes and
    /// is tried again, with what arrived meanwhile, until it lands: the portal
    /// has those reports, so they are never dropped. The report loop waits
    /// while the recorder is `RECORD_AHEAD` outcomes behind. Only a lost
    /// fence (the next attempt asks the portal about each order), a malformed
    /// database, or a shutdown that outlasts `GIVE_UP_AFTER_SHUTDOWN` stops
    /// the retries, and then the job stops without completing.
    async fn record_orders(
        self: Arc<Self>,
        job: ClaimedJob,
        mut submitted: mpsc::Receiver<Recorded>,
        permit_lease: Arc<LeaseState>,
        lease: Arc<LeaseState>,
        stop: watch::Receiver<bool>,
    ) -> Result<Next, Stop> {
        let (fence, run_user_id) = (job.fence, job.run_user_id);
        let mut batch = Outcomes::default();
        let mut done = false;
        let mut retry = Backoff::new(RECORD_RETRY_FIRST, RECORD_RETRY_MAX);
        let mut failing_since: Option<Instant> = None;
        let mut stopping_since: Option<Instant> = None;
        loop {
            if batch.is_empty() && !done {
                match submitted.recv().await {
                    Some(message) => absorb(&mut batch, &mut done, message),
                    None => return Ok(Next::Untried),
                }
            }
            while let Ok(message) = submitted.try_recv() {
                absorb(&mut batch, &mut done, message);
            }
            let written = if done {
                let next = self.claim_next(&job, &permit_lease, &stop);
                let outcomes = batch.clone();
                self.db(move |c| {
                    run_state::complete_report(c, fence, run_user_id, &outcomes, next.as_ref())
                })
                .await
                .map(|fenced| fenced.map(Some))
            } else {
                let outcomes = batch.clone();
                self.db(move |c| run_state::record_orders(c, fence, run_user_id, &outcomes))
                    .await
                    .map(|fenced| fenced.map(|()| None))
            };
            if written.as_ref().is_ok_and(|fenced| fenced.is_ok())
                && let Some(since) = failing_since.take()
            {
                tracing::info!(
                    orders = batch.len(),
                    "orders recorded after {:.1} s of failed writes",
                    since.elapsed().as_secs_f64()
                );
            }
            let err = match written {
                Ok(Ok(Some(next))) => return Ok(next),
                Ok(Ok(None)) => {
                    retry.reset();
                    batch.clear();
                    continue;
                }
                Ok(Err(lost)) => {
                    return Err(self.recorder_stopped(&lease, Stop::LeaseLost(lost.to_string())));
                }
                Err(err) => err,
            };
            if let Some(incomplete) = err.downcast_ref::<RangeIncomplete>() {
                // Its last outcomes are kept all the same; the next attempt
                // finds the orders whose outcomes were lost.
                let why = format!(
                    "{incomplete}; the range is tried again and asks the portal about each of them"
                );
                let outcomes = std::mem::take(&mut batch);
                let kept = self
                    .db(move |c| run_state::record_orders(c, fence, run_user_id, &outcomes))
                    .await;
                if let Err(err) = kept {
                    tracing::warn!(error = %format!("{err:#}"), "cannot record the range's last orders; the next attempt asks the portal about them");
                }
                return Err(self.recorder_stopped(
                    &lease,
                    Stop::Failed {
                        why,
                        progressed: true,
                    },
                ));
            }
            if self.is_malformed() {
                return Err(self.recorder_stopped(
                    &lease,
                    Stop::failed(format!("cannot record orders: {err:#}")),
                ));
            }
            if *stop.borrow() {
                let since = *stopping_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= GIVE_UP_AFTER_SHUTDOWN {
                    tracing::error!(
                        orders = ?batch.reported, failed = batch.failed.len(), error = %format!("{err:#}"),
                        "stopping with outcomes the database did not take; the portal has these reports and the range's next attempt finds them there"
                    );
                    return Err(self.recorder_stopped(&lease, Stop::Shutdown));
                }
            }
            let wait = retry.next_delay();
            if failing_since.is_none() || retry.attempt().is_multiple_of(20) {
                tracing::warn!(
                    orders = batch.len(), error = %format!("{err:#}"),
                    "cannot record orders as reported; keeping them and trying again in {:.1} s", wait.as_secs_f64()
                );
            }
            failing_since.get_or_insert_with(Instant::now);
            tokio::time::sleep(wait).await;
        }
    }

    /// Marks the job's lease lost with the recorder's reason, so that the
    /// report loop stops too.
    fn recorder_stopped(&self, lease: &LeaseState, why: Stop) -> Stop {
        lease.lose(why.clone());
        why
    }

    /// Renews the range lock and the job's database lease every third of a
    /// lease until aborted (the permit has its own keeper); marks the lease
    /// lost when either is gone, and fails a range worked past `range_lock_ttl`.
    async fn keep_lease(
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
