//! One Chromium logged in as one user: runs the config's flows through the
//! step interpreter, logs in again when the portal ended the session, and
//! saves evidence when a step fails.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use fantoccini::elements::Element;
use serde_json::json;

use super::browser::Browser;
use super::credentials::Password;
use super::evidence::{self, Place};
use super::export::{self, ExportError};
use super::report::{Answer, Prepared};
use super::steps::{Flowed, Runner, Vars};
use super::totp::Totp;
use super::trace::Trace;
use super::{BrowserStats, Login, processes};
use crate::config::{RetryPolicy, WebPortal};
use crate::flow::{Flow, Locator};
use crate::orders::{OrderToReport, Pending};
use crate::portal::{JobScope, PortalSession, PortalUser, StepError};

/// What a session is made of.
pub(super) struct Parts {
    pub browser: Browser,
    pub user: PortalUser,
    pub password: Password,
    /// The one-time code's secret, when the login flow types `{totp}`.
    pub totp: Option<Totp>,
    pub settings: Arc<WebPortal>,
    pub login: Arc<tokio::sync::Mutex<Login>>,
    pub dir: PathBuf,
    pub artifacts: PathBuf,
    pub stats: Arc<BrowserStats>,
    pub trace: Option<Arc<Trace>>,
    /// How a login that failed on a transient fault is tried again.
    pub retry: RetryPolicy,
}

pub struct WebSession {
    pub(super) parts: Parts,
    scope: Option<JobScope>,
    /// The login generation whose cookies this browser holds.
    pub(super) generation: u64,
    /// The order whose report form is filled in, and its submit button.
    pub(super) prepared: Option<Prepared>,
}

pub(super) fn locator_json(l: &Locator) -> serde_json::Value {
    json!({"kind": l.kind.script_name(), "value": l.value})
}

/// The login form's locators, for the page scripts.
pub(super) fn login_form_json(form: &[Locator]) -> serde_json::Value {
    form.iter().map(locator_json).collect()
}

impl WebSession {
    pub(super) fn new(parts: Parts) -> WebSession {
        WebSession {
            parts,
            scope: None,
            generation: 0,
            prepared: None,
        }
    }

    pub(super) fn settings(&self) -> Arc<WebPortal> {
        self.parts.settings.clone()
    }

    pub(super) fn browser(&self) -> &Browser {
        &self.parts.browser
    }

    /// The values the placeholders of `flow` take.
    pub(super) fn vars<'a>(&'a self, order: Option<&'a OrderToReport>) -> Vars<'a> {
        self.vars_for(false, order)
    }

    fn vars_for<'a>(&'a self, logging_in: bool, order: Option<&'a OrderToReport>) -> Vars<'a> {
        Vars {
            user: &self.parts.user,
            password: logging_in.then_some(&self.parts.password),
            totp: self.parts.totp.as_ref().filter(|_| logging_in),
            order,
            settings: &self.parts.settings,
        }
    }

    fn runner<'a>(&'a self, flow: &'a Flow, order: Option<&'a OrderToReport>) -> Runner<'a> {
        let settings = &self.parts.settings;
        let logging_in = std::ptr::eq(flow, &settings.login);
        Runner {
            browser: &self.parts.browser,
            flow,
            vars: self.vars_for(logging_in, order),
            login_form: (!logging_in).then_some(settings.login_form.as_slice()),
            trace: self.parts.trace.as_deref(),
        }
    }

    /// Runs steps `from..to` of a flow (and finds the element of step `to`).
    pub(super) async fn run(
        &self,
        flow: &Flow,
        order: Option<&OrderToReport>,
        from: usize,
        to: usize,
    ) -> Result<Flowed, StepError> {
        self.runner(flow, order).run(from, to).await
    }

    /// Clicks step `index`'s element as found, again if the click missed.
    pub(super) async fn click(
        &self,
        flow: &Flow,
        order: Option<&OrderToReport>,
        index: usize,
        target: &Locator,
        element: Element,
    ) -> Result<Option<Flowed>, StepError> {
        self.runner(flow, order).click(index, target, element).await
    }

    /// Saves a screenshot and the page and names them in the error.
    pub(super) async fn evidence(
        &self,
        error: StepError,
        flow: &str,
        order: Option<&str>,
    ) -> StepError {
        let place = Place {
            artifacts: &self.parts.artifacts,
            user: &self.parts.user.name,
            run_id: self.parts.user.run_id,
            scope: self.scope,
            order,
            flow,
        };
        evidence::save(self.browser(), &place.base(), error).await
    }
}

impl PortalSession for WebSession {
    fn begin_job(&mut self, scope: JobScope) {
        self.scope = Some(scope);
        self.parts.user.run_id = scope.run_id;
    }

    async fn download_pending(&mut self) -> Result<Pending, StepError> {
        let text = match self.download().await {
            Ok(text) => text,
            Err(err) => return Err(self.evidence(err, "export", None).await),
        };
        let settings = self.settings();
        match export::parse(&text, &settings.csv) {
            Ok(orders) => Ok(Pending::Export {
                orders,
                report_statuses: settings.report_statuses.clone(),
            }),
            Err(ExportError::Columns(why)) => Err(StepError::Fatal(why)),
            Err(ExportError::Damaged(why)) => Err(StepError::Retryable(why)),
        }
    }

    async fn already_reported(&mut self, order: &OrderToReport) -> Result<bool, StepError> {
        match self.open_order(order).await {
            Ok(done) => Ok(done),
            Err(err) => Err(self.evidence(err, "report", Some(&order.id)).await),
        }
    }

    async fn prepare_report(&mut self, order: &OrderToReport) -> Result<(), StepError> {
        if matches!(&self.prepared, Some(p) if p.order == order.id) {
            return Ok(());
        }
        match self.open_order(order).await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.evidence(err, "report", Some(&order.id)).await),
        }
    }

    async fn submit_report(&mut self, order: &OrderToReport) -> Result<bool, StepError> {
        let prepared = match self.prepared.take() {
            Some(p) if p.order == order.id => p,
            _ => return Ok(false),
        };
        let outcome = match self.send_report(order, prepared).await {
            Ok(Answer::Taken) if self.parts.settings.verify_after_submit => {
                self.verify_report(order).await.map(|()| true)
            }
            Ok(Answer::Taken) => Ok(true),
            Ok(Answer::LoggedOut) => self.sign_in().await.map(|()| false),
            Err(err) => Err(err),
        };
        match outcome {
            Ok(true) => {
                self.parts.stats.reports.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(err) => Err(self.evidence(err, "report", Some(&order.id)).await),
        }
    }

    /// Closes the browser and waits until its processes are gone (killing
    /// any left after a grace period), so a permit given back or reused never
    /// overlaps a browser still exiting.
    async fn close(self) {
        if self.browser().state().clicked {
            // A click may have started a change: let the portal answer it.
            if let Err(err) = self.browser().settle().await {
                tracing::warn!(user = %self.parts.user.name, "closing the browser: {}", err.message());
            }
        }
        let client = self.parts.browser.client.clone();
        if tokio::time::timeout(Duration::from_secs(10), client.close())
            .await
            .is_err()
        {
            tracing::warn!(user = %self.parts.user.name, "the browser did not close within 10 s; stopping it");
        }
        processes::reap(&self.parts.dir.join("profile")).await;
        let _ = std::fs::remove_dir_all(&self.parts.dir);
    }
}
