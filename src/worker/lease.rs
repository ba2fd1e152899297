//! The lease of one running job: a heartbeat renews the browser permit, the
//! range lock and the job's database lease every third of `lease_ttl`; the job
//! checks before each submit that the last renewal is fresh on its own
//! monotonic clock, so a worker that was paused or cut off stops instead of
//! submitting under a lease it may have lost. A step in progress is abandoned
//! as soon as the lease goes stale, without waiting for the next check: every
//! holder stops within two thirds of a lease of the last renewal it sent, on
//! its own clock, whatever Redis remembers (see `coord::permits`).
//!
//! That clock is tokio's: the monotonic clock in production, and one the
//! tests pause and advance, so a 30 ms lease is exact on a loaded machine.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Why a job stopped before its end.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// The permit, lock or job lease is gone or could not be renewed in time:
    /// another worker may own the job now. Write nothing more.
    LeaseLost(String),
    /// The permit itself is gone: the slot must take a new one.
    PermitLost,
    /// Shutdown was asked: hand the job back.
    Shutdown,
    /// A retryable failure of the job itself; `progressed`: the attempt
    /// recorded orders first, so it does not use up a retry.
    Failed { why: String, progressed: bool },
    /// A failure that retrying cannot fix: the job fails at once.
    Fatal(String),
}

impl Stop {
    /// A retryable failure of an attempt that recorded nothing.
    pub fn failed(why: impl Into<String>) -> Stop {
        Stop::Failed {
            why: why.into(),
            progressed: false,
        }
    }
}

/// A lease renewed by a heartbeat: the browser permit (for as long as a slot
/// holds it), or one job's range lock and database lease (within its permit).
pub struct LeaseState {
    lease: Duration,
    last_renewal: Mutex<Instant>,
    lost: watch::Sender<Option<Stop>>,
    /// The lease this one lives within: a job's lease within its permit's.
    within: Option<Arc<LeaseState>>,
}

impl LeaseState {
    pub fn new(lease: Duration) -> Self {
        LeaseState::granted_at(lease, Instant::now())
    }

    /// A lease granted by a call sent at `asked_at`.
    pub fn since(lease: Duration, asked_at: std::time::Instant) -> Self {
        LeaseState::granted_at(lease, Instant::from_std(asked_at))
    }

    fn granted_at(lease: Duration, asked_at: Instant) -> Self {
        LeaseState {
            lease,
            last_renewal: Mutex::new(asked_at),
            lost: watch::channel(None).0,
            within: None,
        }
    }

    /// A lease that is lost when `outer` is.
    pub fn within(outer: Arc<LeaseState>) -> Self {
        LeaseState {
            within: Some(outer.clone()),
            ..LeaseState::new(outer.lease)
        }
    }

    pub fn renewed(&self) {
        self.renewed_since(Instant::now());
    }

    /// Records a renewal by a call sent at `sent`: the lease runs from then,
    /// not from when the answer came.
    pub fn renewed_at(&self, sent: std::time::Instant) {
        self.renewed_since(Instant::from_std(sent));
    }

    fn renewed_since(&self, sent: Instant) {
        let mut last = self.last_renewal.lock().expect("lease clock");
        *last = (*last).max(sent);
    }

    /// Marks the lease lost; the first reason wins.
    pub fn lose(&self, why: Stop) {
        self.lost.send_if_modified(|lost| {
            if lost.is_none() {
                *lost = Some(why);
                return true;
            }
            false
        });
    }

    pub fn lost(&self) -> Option<Stop> {
        let outer = self.within.as_ref().and_then(|outer| outer.lost());
        outer.or_else(|| self.lost.borrow().clone())
    }

    /// Waits until this lease or the one it lives within is lost.
    pub async fn until_lost(&self) -> Stop {
        match &self.within {
            Some(outer) => tokio::select! {
                biased;
                why = outer.until_own_lost() => why,
                why = self.until_own_lost() => why,
            },
            None => self.until_own_lost().await,
        }
    }

    /// Waits until this lease is lost, or goes stale (which loses it).
    async fn until_own_lost(&self) -> Stop {
        let mut rx = self.lost.subscribe();
        loop {
            if let Some(why) = rx.borrow_and_update().clone() {
                return why;
            }
            // Stale is older than two thirds of a lease: wake just past it (a
            // clock that does not move on its own, as in tests, would
            // otherwise wake at the limit again and again).
            let stale_at = *self.last_renewal.lock().expect("lease clock")
                + self.lease * 2 / 3
                + Duration::from_millis(1);
            tokio::select! {
                changed = rx.changed() => if changed.is_err() {
                    return Stop::LeaseLost("lease watcher ended".into());
                },
                _ = tokio::time::sleep_until(stale_at) => {
                    let _ = self.expire_if_stale();
                }
            }
        }
    }

    /// Loses the lease if it was not renewed within the last two thirds of a
    /// lease (one missed heartbeat is tolerated, two are not).
    fn expire_if_stale(&self) -> Result<(), Stop> {
        let age = self.last_renewal.lock().expect("lease clock").elapsed();
        if age > self.lease * 2 / 3 {
            let stale = format!("lease not renewed for {:.1} s", age.as_secs_f64());
            let why = if self.within.is_none() {
                Stop::PermitLost
            } else {
                Stop::LeaseLost(stale)
            };
            self.lose(why.clone());
            return Err(why);
        }
        Ok(())
    }

    /// Whether it is still safe to submit: not lost, not shut down, and renewed
    /// within the last two thirds of a lease (one missed heartbeat is tolerated,
    /// two are not).
    pub fn check(&self, stop: &watch::Receiver<bool>) -> Result<(), Stop> {
        if let Some(outer) = &self.within {
            outer.check(stop)?;
        }
        if let Some(why) = self.lost() {
            return Err(why);
        }
        if *stop.borrow() {
            return Err(Stop::Shutdown);
        }
        self.expire_if_stale()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::advance;

    #[tokio::test(start_paused = true)]
    async fn a_job_lease_not_renewed_for_two_thirds_of_its_time_stops_the_job() {
        let permit = Arc::new(LeaseState::new(Duration::from_millis(30)));
        let job = LeaseState::within(permit.clone());
        let (_tx, stop) = watch::channel(false);
        advance(Duration::from_millis(20)).await;
        assert!(
            job.check(&stop).is_ok(),
            "two thirds of a lease is not yet stale"
        );
        advance(Duration::from_millis(1)).await;
        permit.renewed();
        assert!(matches!(job.check(&stop), Err(Stop::LeaseLost(_))));
        job.renewed();
        assert!(job.check(&stop).is_err(), "a lost lease stays lost");
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_lease_is_lost_with_its_permit() {
        let permit = Arc::new(LeaseState::new(Duration::from_secs(30)));
        let job = LeaseState::within(permit.clone());
        let (_tx, stop) = watch::channel(false);
        assert!(job.check(&stop).is_ok());
        permit.lose(Stop::PermitLost);
        assert_eq!(job.check(&stop), Err(Stop::PermitLost));
        assert_eq!(job.lost(), Some(Stop::PermitLost));
    }

    #[tokio::test(start_paused = true)]
    async fn a_permit_not_renewed_in_time_stops_the_job_working_under_it() {
        let permit = Arc::new(LeaseState::new(Duration::from_millis(30)));
        let job = LeaseState::within(permit.clone());
        let (_tx, stop) = watch::channel(false);
        advance(Duration::from_millis(21)).await;
        job.renewed();
        assert_eq!(job.check(&stop), Err(Stop::PermitLost));
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_in_progress_is_abandoned_when_the_permit_goes_stale() {
        let permit = Arc::new(LeaseState::new(Duration::from_millis(300)));
        let job = LeaseState::within(permit.clone());
        let started = Instant::now();
        let step = tokio::time::sleep(Duration::from_secs(60));
        let stopped = tokio::select! {
            _ = step => None,
            why = job.until_lost() => Some(why),
        };
        assert!(
            matches!(stopped, Some(Stop::PermitLost | Stop::LeaseLost(_))),
            "{stopped:?}"
        );
        // Two thirds of the lease, to the millisecond the paused clock keeps.
        let waited = started.elapsed();
        assert!(
            (Duration::from_millis(200)..=Duration::from_millis(201)).contains(&waited),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_goes_on_while_the_permit_is_renewed_in_time() {
        let permit = Arc::new(LeaseState::new(Duration::from_millis(300)));
        let job = LeaseState::within(permit.clone());
        let heartbeat = async {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                permit.renewed();
                job.renewed();
            }
        };
        let stopped = tokio::select! {
            () = heartbeat => None,
            why = job.until_lost() => Some(why),
        };
        assert_eq!(stopped, None, "renewed every third of a lease");
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_counts_from_when_it_was_sent() {
        let permit = LeaseState::new(Duration::from_millis(300));
        let (_tx, stop) = watch::channel(false);
        let sent = Instant::now().into_std();
        advance(Duration::from_millis(250)).await;
        permit.renewed_at(sent);
        assert_eq!(permit.check(&stop), Err(Stop::PermitLost));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_granted_by_an_earlier_call_runs_from_that_call() {
        let asked_at = Instant::now().into_std();
        advance(Duration::from_millis(150)).await;
        let permit = LeaseState::since(Duration::from_millis(300), asked_at);
        let (_tx, stop) = watch::channel(false);
        advance(Duration::from_millis(50)).await;
        assert!(permit.check(&stop).is_ok());
        advance(Duration::from_millis(1)).await;
        assert_eq!(permit.check(&stop), Err(Stop::PermitLost));
    }

    #[test]
    fn shutdown_stops_the_job_before_its_next_submit() {
        let state = LeaseState::new(Duration::from_secs(30));
        let (tx, stop) = watch::channel(false);
        tx.send_replace(true);
        assert_eq!(state.check(&stop), Err(Stop::Shutdown));
    }
}
