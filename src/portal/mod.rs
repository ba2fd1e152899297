//! The orders portal behind a small trait: a session logs in once as a user
//! and then downloads the orders export or reports many orders.

pub mod import;
pub mod simulated;
pub mod web;

use std::future::Future;

pub use crate::orders::{OrderToReport, Pending};

/// Why a portal step failed, by what can fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    /// Worth trying again: a timeout, an HTTP error page, a stale element,
    /// an expired session. An order's report is tried again in place.
    #[error("{0}")]
    Retryable(String),
    /// The browser session itself is gone (its WebDriver server or node
    /// died): the job stops and is tried again with a new browser.
    #[error("{0}")]
    Browser(String),
    /// No browser session was handed out within `browser.session_timeout`
    /// (a Grid with every slot taken, a WebDriver server that does not
    /// answer): the portal never saw the job, so it is handed back without
    /// using up a retry, and the slot gives its browser permit back for a
    /// while.
    #[error("{0}")]
    NoSession(String),
    /// The page loaded but does not fit the flow (a selector that matches
    /// nothing, a missing option): a wrong config for the first order of a
    /// range; for an order after others worked, that order's own page.
    #[error("{0}")]
    Unfit(String),
    /// Retrying cannot fix it (a refused login, a missing credentials file,
    /// an export without the configured columns): the job fails at once.
    #[error("{0}")]
    Fatal(String),
}

impl StepError {
    pub fn message(&self) -> &str {
        match self {
            StepError::Retryable(m)
            | StepError::Browser(m)
            | StepError::NoSession(m)
            | StepError::Unfit(m)
            | StepError::Fatal(m) => m,
        }
    }

    /// The same kind of error with another message.
    pub fn map(self, f: impl FnOnce(String) -> String) -> StepError {
        match self {
            StepError::Retryable(m) => StepError::Retryable(f(m)),
            StepError::Browser(m) => StepError::Browser(f(m)),
            StepError::NoSession(m) => StepError::NoSession(f(m)),
            StepError::Unfit(m) => StepError::Unfit(f(m)),
            StepError::Fatal(m) => StepError::Fatal(f(m)),
        }
    }
}

/// Who a session acts for and in which run.
#[derive(Debug, Clone)]
pub struct PortalUser {
    pub name: String,
    pub login: String,
    pub monthly_orders_estimate: i64,
    pub run_id: i64,
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
        order: &OrderToReport,
    ) -> impl Future<Output = Result<bool, StepError>> + Send;

    /// Opens the order and fills in its report, without submitting: the slow
    /// part, abandoned if the lease is lost meanwhile.
    fn prepare_report(
        &mut self,
        order: &OrderToReport,
    ) -> impl Future<Output = Result<(), StepError>> + Send;

    /// Submits the prepared report. The worker checks its lease right before.
    /// `false`: the portal did not take it (the session had expired and was
    /// renewed): ask `already_reported` again and prepare it anew.
    fn submit_report(
        &mut self,
        order: &OrderToReport,
    ) -> impl Future<Output = Result<bool, StepError>> + Send;

    /// Ends the session and closes its browser.
    fn close(self) -> impl Future<Output = ()> + Send;
}
