//! A report job: each pending order asked about, prepared and submitted,
//! retried in place on a transient fault; its outcomes written by a recorder
//! that group-commits them and keeps retrying a write until it lands.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::Worker;
use super::job::OrderTry;
use super::lease::{LeaseState, Stop};
use crate::backoff::Backoff;
use crate::orders::OrderToReport;
use crate::portal::{Portal, PortalSession, StepError};
use crate::run_state::{self, ClaimedJob, Next, Outcomes, RangeIncomplete};

/// How a failed write of outcomes is retried: from 100 ms, doubling to 5 s.
const RECORD_RETRY_FIRST: Duration = Duration::from_millis(100);
const RECORD_RETRY_MAX: Duration = Duration::from_secs(5);

/// How long a stopping worker keeps trying to record outcomes the database
/// does not take, within its drain time.
const GIVE_UP_AFTER_SHUTDOWN: Duration = Duration::from_secs(10);

/// Adds one message of the report loop to the batch to write.
fn absorb(batch: &mut Outcomes, done: &mut bool, message: Recorded) {
    match message {
        Recorded::Order(seq, sent) => {
            batch.reported.push(seq);
            if sent == Sent::No {
                batch.found.push(seq);
            }
        }
        Recorded::OrderFailed(seq, why) => batch.failed.push((seq, why)),
        Recorded::RangeDone => *done = true,
    }
}

/// Whether this run sent an order's report, or found it on the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Yes,
    /// Already reported on the portal: nothing was submitted.
    No,
}

/// What the report loop tells the recorder.
enum Recorded {
    /// This order was submitted, or found already reported.
    Order(i64, Sent),
    /// This order failed on its own after every attempt.
    OrderFailed(i64, String),
    /// Every order of the range is done: complete the job.
    RangeDone,
}

impl<P: Portal> Worker<P> {
    pub(super) async fn report(
        self: &Arc<Self>,
        job: &ClaimedJob,
        pending: Vec<(i64, OrderToReport)>,
        session: &mut P::Session,
        permit_lease: &Arc<LeaseState>,
        lease: Arc<LeaseState>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Next, Stop> {
        let (submitted, to_record) = mpsc::unbounded_channel();
        // While the recorder's writes fail, no more orders are submitted.
        let (writes_failing, mut failing) = watch::channel(false);
        let recorder = tokio::spawn(self.clone().record_orders(
            job.clone(),
            to_record,
            writes_failing,
            permit_lease.clone(),
            lease.clone(),
            stop.clone(),
        ));
        let reported = self
            .report_orders(pending, session, &lease, stop, &submitted, &mut failing)
            .await;
        if reported.is_ok() {
            let _ = submitted.send(Recorded::RangeDone);
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
        submitted: &mpsc::UnboundedSender<Recorded>,
        writes_failing: &mut watch::Receiver<bool>,
    ) -> Result<usize, Stop> {
        let retry = &self.config.retry;
        let mut handed = 0;
        let mut worked = 0;
        for (seq, order) in pending {
            if *writes_failing.borrow() {
                tracing::info!(order = %order.id, "waiting for the database to take the outcomes it refused before the next submit");
                tokio::select! {
                    // Err: the recorder has stopped; the send below says so.
                    _ = writes_failing.wait_for(|failing| !failing) => {}
                    why = lease.until_lost() => return Err(self.stopped(why, handed)),
                }
            }
            let mut attempt = 1;
            let mut backoff = retry.order_backoff();
            let outcome = loop {
                match self.report_order(&order, session, lease, stop).await {
                    Ok(sent) => break Recorded::Order(seq, sent),
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
                        let wait = backoff.next_delay();
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
                Recorded::Order(..) => worked += 1,
                Recorded::OrderFailed(_, why) => {
                    tracing::error!(order = %order.id, error = %why, "order failed; the range goes on")
                }
                Recorded::RangeDone => {}
            }
            if submitted.send(outcome).is_err() {
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
    ) -> Result<Sent, OrderTry> {
        lease.check(stop)?;
        if self
            .order_step(lease, session.already_reported(order))
            .await?
        {
            return Ok(Sent::No);
        }
        self.order_step(lease, session.prepare_report(order))
            .await?;
        lease.check(stop)?;
        if self.order_step(lease, session.submit_report(order)).await? {
            return Ok(Sent::Yes);
        }
        Err(OrderTry::Failed(StepError::Retryable(format!(
            "the portal ended the session while {} was submitted",
            order.id
        ))))
    }

    /// Records submitted orders as they come, committing whatever accumulated
    /// while the previous commit ran (group commit): one order per commit when
    /// orders take time, many when they do not; the range's completion rides
    /// with its last orders, and so does the claim of the slot's next job.
    /// Fenced on the claim: a lost fence stops the job.
    ///
    /// A write that fails (a full disk, an I/O error) keeps its outcomes and
    /// is tried again, with what arrived meanwhile, until it lands: the portal
    /// has those reports, so they are never dropped. While it fails
    /// (`writes_failing`), the report loop submits nothing more. Only a lost
    /// fence (the next attempt asks the portal about each order), a malformed
    /// database, or a shutdown that outlasts `GIVE_UP_AFTER_SHUTDOWN` stops
    /// the retries, and then the job stops without completing.
    async fn record_orders(
        self: Arc<Self>,
        job: ClaimedJob,
        mut submitted: mpsc::UnboundedReceiver<Recorded>,
        writes_failing: watch::Sender<bool>,
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
                writes_failing.send_replace(false);
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
            writes_failing.send_replace(true);
            tokio::time::sleep(wait).await;
        }
    }

    /// Marks the job's lease lost with the recorder's reason, so that the
    /// report loop stops too.
    fn recorder_stopped(&self, lease: &LeaseState, why: Stop) -> Stop {
        lease.lose(why.clone());
        why
    }
}
