//! The orders portal behind a small trait: a session logs in once as a user
//! and then downloads the orders export or reports many orders.

pub mod simulated;
pub mod web;

use std::future::Future;

pub use crate::db::orders::ExportedOrder;

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

/// What a download step found.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    /// The portal itself says which orders need a report, in order.
    Decided(Vec<String>),
    /// The orders export, to compare with the orders known for the user.
    Export(Vec<ExportedOrder>),
}

/// Where a session is working, to name what it saves when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobScope {
    pub run_id: i64,
    /// First and last order numbers of a report job's range.
    pub range: Option<(i64, i64)>,
}

/// A portal: opens sessions.
pub trait Portal: Send + Sync + 'static {
    type Session: PortalSession;

    /// Whether a logged-in session is worth keeping for the user's next
    /// range (a browser that logs in once), so the claim prefers that user.
    fn keeps_sessions(&self) -> bool {
        false
    }

    /// Logs in as the user.
    fn login(
        &self,
        user: &PortalUser,
    ) -> impl Future<Output = Result<Self::Session, StepError>> + Send;
}

/// One logged-in session of one user.
pub trait PortalSession: Send {
    /// Says which run and range the next steps belong to.
    fn begin_job(&mut self, _scope: JobScope) {}

    /// Downloads the user's orders: the pending list itself, or the export
    /// to compare with what is known.
    fn download_pending(&mut self) -> impl Future<Output = Result<Pending, StepError>> + Send;

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
    /// `false`: the portal did not take it (the session had expired and was
    /// renewed): ask `already_reported` again and prepare it anew.
    fn submit_report(
        &mut self,
        order: &str,
    ) -> impl Future<Output = Result<bool, StepError>> + Send;

    /// Ends the session and closes its browser.
    fn close(self) -> impl Future<Output = ()> + Send;
}
