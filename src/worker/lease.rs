//! The lease of one running job: a heartbeat renews the browser permit, the
//! range lock and the job's database lease every third of `lease_ttl`; the job
//! checks before each submit that the last renewal is fresh on its own
//! monotonic clock, so a worker that was paused or cut off stops instead of
//! submitting under a lease it may have lost.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

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
    /// A retryable failure of the job itself.
    Failed(String),
}

pub struct LeaseState {
    lease: Duration,
    last_renewal: Mutex<Instant>,
    lost: watch::Sender<Option<Stop>>,
}

impl LeaseState {
    pub fn new(lease: Duration) -> Self {
        LeaseState {
            lease,
            last_renewal: Mutex::new(Instant::now()),
            lost: watch::channel(None).0,
        }
    }

    pub fn renewed(&self) {
        *self.last_renewal.lock().expect("lease clock") = Instant::now();
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
        self.lost.borrow().clone()
    }

    /// Waits until the lease is lost.
    pub async fn until_lost(&self) -> Stop {
        let mut rx = self.lost.subscribe();
        loop {
            if let Some(why) = rx.borrow_and_update().clone() {
                return why;
            }
            if rx.changed().await.is_err() {
                return Stop::LeaseLost("lease watcher ended".into());
            }
        }
    }

    /// Whether it is still safe to submit: not lost, not shut down, and renewed
    /// within the last two thirds of a lease (one missed heartbeat is tolerated,
    /// two are not).
    pub fn check(&self, stop: &watch::Receiver<bool>) -> Result<(), Stop> {
        if let Some(why) = self.lost() {
            return Err(why);
        }
        if *stop.borrow() {
            return Err(Stop::Shutdown);
        }
        let age = self.last_renewal.lock().expect("lease clock").elapsed();
        if age > self.lease * 2 / 3 {
            let why = Stop::LeaseLost(format!("lease not renewed for {:.1} s", age.as_secs_f64()));
            self.lose(why.clone());
            return Err(why);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_not_renewed_for_two_thirds_of_its_time_stops_the_job() {
        let state = LeaseState::new(Duration::from_millis(30));
        let (_tx, stop) = watch::channel(false);
        assert!(state.check(&stop).is_ok());
        std::thread::sleep(Duration::from_millis(25));
        assert!(matches!(state.check(&stop), Err(Stop::LeaseLost(_))));
        state.renewed();
        assert!(state.check(&stop).is_err(), "a lost lease stays lost");
    }

    #[test]
    fn shutdown_stops_the_job_before_its_next_submit() {
        let state = LeaseState::new(Duration::from_secs(30));
        let (tx, stop) = watch::channel(false);
        tx.send_replace(true);
        assert_eq!(state.check(&stop), Err(Stop::Shutdown));
    }
}
