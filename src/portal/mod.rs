//! The orders portal behind a small trait: a session logs in once as a user
//! and then downloads the orders export or reports many orders.

pub mod simulated;

use std::future::Future;

/// Why a portal step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Worth trying again later: a timeout, an HTTP 500, an expired session.
    #[error("{0}")]
    Retryable(String),
}

/// Who a session acts for and in which run.
#[derive(Debug, Clone)]
pub struct PortalUser {
    pub name: String,
    pub login: String,
    pub monthly_orders_estimate: i64,
    pub run_id: i64,
}

/// A portal: opens sessions.
pub trait Portal: Send + Sync + 'static {
    type Session: PortalSession;

    /// Logs in as the user.
    fn login(
        &self,
        user: &PortalUser,
    ) -> impl Future<Output = Result<Self::Session, StepError>> + Send;
}

/// One logged-in session of one user.
pub trait PortalSession: Send {
    /// Downloads the user's orders, compares them with what is known, and
    /// returns the orders that must be reported, in order.
    fn download_pending(&mut self) -> impl Future<Output = Result<Vec<String>, StepError>> + Send;

    /// Whether the portal already holds a report for the order (asked before
    /// each submit, so a crash between a submit and its record repeats nothing).
    fn already_reported(
        &mut self,
        order: &str,
    ) -> impl Future<Output = Result<bool, StepError>> + Send;

    /// Opens the order and fills in its report, without submitting: the slow
    /// part, abandoned if the lease is lost meanwhile.
    fn prepare_report(&mut self, order: &str)
    -> impl Future<Output = Result<(), StepError>> + Send;

    /// Submits the prepared report. The worker checks its lease right before.
    fn submit_report(&mut self, order: &str) -> impl Future<Output = Result<(), StepError>> + Send;

    /// Ends the session and closes its browser.
    fn close(self) -> impl Future<Output = ()> + Send;
}
