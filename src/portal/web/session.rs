//! One Chromium logged in as one user: runs the config's flows through the
//! step interpreter, logs in again when the portal ended the session, and
//! saves evidence when a step fails.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use serde_json::json;

use super::browser::Browser;
use super::credentials::Password;
use super::evidence::{self, Place};
use super::export::{self, DOWNLOAD_JS, ExportError};
use super::steps::{Flowed, Runner, Vars};
use super::trace::Trace;
use super::{BrowserStats, Login, processes};
use crate::config::WebPortal;
use crate::config::flow::{Flow, Locator, Step};
use crate::orders::{OrderToReport, Pending};
use crate::portal::{JobScope, PortalSession, PortalUser, StepError};

/// What a session is made of.
pub(super) struct Parts {
    pub browser: Browser,
    pub user: PortalUser,
    pub password: Password,
    pub settings: Arc<WebPortal>,
    pub login: Arc<tokio::sync::Mutex<Login>>,
    pub dir: PathBuf,
    pub artifacts: PathBuf,
    pub stats: Arc<BrowserStats>,
    pub trace: Option<Arc<Trace>>,
}

pub struct WebSession {
    parts: Parts,
    scope: Option<JobScope>,
    /// The login generation whose cookies this browser holds.
    generation: u64,
    /// The order whose report form is filled in, and its submit button.
    prepared: Option<(String, Element)>,
}

/// Reads the page after the login flow: refused, logged in, or not yet.
const LOGIN_STATE_JS: &str = "const [error, loggedIn, form] = arguments;
function find(l) {
  if (!l) return null;
  if (l.kind === 'xpath') return document.evaluate(l.value, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
  if (l.kind === 'id') return document.getElementById(l.value);
  if (l.kind === 'name') return document.getElementsByName(l.value)[0] || null;
  if (l.kind === 'linkText') return [...document.querySelectorAll('a')].find((a) => a.textContent.trim() === l.value) || null;
  if (l.kind === 'partialLinkText') return [...document.querySelectorAll('a')].find((a) => a.textContent.includes(l.value)) || null;
  return document.querySelector(l.value);
}
const nav = performance.getEntriesByType('navigation')[0];
if (nav && nav.responseStatus >= 400) return ['http', nav.responseStatus];
if (document.readyState !== 'complete') return ['loading'];
if (find(error)) return ['refused'];
if (loggedIn) return find(loggedIn) ? ['in'] : ['waiting'];
return form.some(find) ? ['waiting'] : ['in'];";

/// Reads the page after a submit.
const ANSWER_JS: &str = "const [confirmation, formError, reported, loginForm, submit] = arguments;
function find(l) {
  if (!l) return null;
  if (l.kind === 'xpath') return document.evaluate(l.value, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
  if (l.kind === 'id') return document.getElementById(l.value);
  if (l.kind === 'name') return document.getElementsByName(l.value)[0] || null;
  if (l.kind === 'linkText') return [...document.querySelectorAll('a')].find((a) => a.textContent.trim() === l.value) || null;
  if (l.kind === 'partialLinkText') return [...document.querySelectorAll('a')].find((a) => a.textContent.includes(l.value)) || null;
  return document.querySelector(l.value);
}
const nav = performance.getEntriesByType('navigation')[0];
if (nav && nav.responseStatus >= 400) return ['http', nav.responseStatus];
if (confirmation && find(confirmation)) return ['confirmed'];
if (find(reported)) return ['reported'];
const error = find(formError);
if (error) return ['form-error', error.textContent.trim().slice(0, 200)];
if (loginForm.some(find)) return ['login'];
if (document.readyState !== 'complete' || find(submit)) return ['waiting'];
return confirmation ? ['waiting'] : ['confirmed'];";

fn locator_json(l: &Locator) -> serde_json::Value {
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

    fn settings(&self) -> Arc<WebPortal> {
        self.parts.settings.clone()
    }

    fn browser(&self) -> &Browser {
        &self.parts.browser
    }

    /// Runs steps `from..to` of a flow (and finds the element of step `to`).
    async fn run(
        &self,
        flow: &Flow,
        order: Option<&OrderToReport>,
        from: usize,
        to: usize,
    ) -> Result<Flowed, StepError> {
        let settings = &self.parts.settings;
        let logging_in = std::ptr::eq(flow, &settings.login);
        let runner = Runner {
            browser: &self.parts.browser,
            flow,
            vars: Vars {
                user: &self.parts.user,
                password: logging_in.then_some(&self.parts.password),
                order,
                settings,
            },
            login_form: (!logging_in).then_some(settings.login_form.as_slice()),
            trace: self.parts.trace.as_deref(),
        };
        runner.run(from, to).await
    }

    /// Saves a screenshot and the page and names them in the error.
    async fn evidence(&self, error: StepError, flow: &str, order: Option<&str>) -> StepError {
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

    /// Logs in, unless another session of this user in this worker logged in
    /// since this one did: then it takes that login's cookies. Used for the
    /// first login and after the portal ended a session alike.
    pub(super) async fn sign_in(&mut self) -> Result<(), StepError> {
        let login = self.parts.login.clone();
        let mut login = login.lock().await;
        let result = if login.generation > self.generation && !login.cookies.is_empty() {
            self.take_cookies(&login.cookies).await
        } else {
            self.log_in().await.map(|cookies| {
                login.generation += 1;
                login.cookies = cookies;
            })
        };
        match result {
            Ok(()) => {
                self.generation = login.generation;
                Ok(())
            }
            Err(err) => Err(self.evidence(err, "login", None).await),
        }
    }

    async fn take_cookies(
        &self,
        cookies: &[fantoccini::cookies::Cookie<'static>],
    ) -> Result<(), StepError> {
        let settings = self.settings();
        if let Some(Step::Goto(first)) = settings.login.steps.first() {
            // Cookies are set for the page's site: open the login page first.
            self.browser().goto(&settings.url(&first.0)).await?;
        }
        let client = &self.browser().client;
        for cookie in cookies {
            self.browser()
                .command(
                    "setting the session cookie",
                    client.add_cookie(cookie.clone()),
                )
                .await?;
        }
        Ok(())
    }

    /// Runs the login flow, waits for its outcome, and keeps the session's
    /// cookies (never logged).
    async fn log_in(&self) -> Result<Vec<fantoccini::cookies::Cookie<'static>>, StepError> {
        let settings = self.settings();
        self.parts.stats.logins.fetch_add(1, Ordering::Relaxed);
        tracing::info!(user = %self.parts.user.name, "logging in to the portal");
        let steps = settings.login.steps.len();
        if let Flowed::Reported | Flowed::LoggedOut =
            self.run(&settings.login, None, 0, steps).await?
        {
            return Err(StepError::Unfit(
                "the login flow halted before its end (a reported_if step has no place there)"
                    .into(),
            ));
        }
        self.await_login().await?;
        let client = &self.browser().client;
        self.browser()
            .command("reading the session cookies", client.get_all_cookies())
            .await
    }

    /// Waits, up to the page timeout, until the page after the login says
    /// refused (the login error), logged in (the marker, or the form gone);
    /// a page still loading is neither.
    async fn await_login(&self) -> Result<(), StepError> {
        let settings = self.settings();
        let args = vec![
            settings.login_error.as_ref().map(locator_json).into(),
            settings.logged_in.as_ref().map(locator_json).into(),
            login_form_json(&settings.login_form),
        ];
        let deadline = Instant::now() + settings.page_timeout;
        let user = &self.parts.user;
        let hint = || super::credentials::hint(&settings, &user.name);
        loop {
            let answer = self
                .browser()
                .run(
                    "reading the page after the login",
                    LOGIN_STATE_JS,
                    args.clone(),
                )
                .await;
            let state = match &answer {
                Ok(v) => v[0].as_str().unwrap_or_default().to_string(),
                // The page navigated while it was read: look again.
                Err(StepError::Retryable(_)) if Instant::now() < deadline => "loading".into(),
                Err(err) => return Err(err.clone()),
            };
            match state.as_str() {
                "in" => return Ok(()),
                "refused" => {
                    return Err(StepError::Fatal(format!(
                        "the portal refused the login of `{}` as `{}`; check the password in {}",
                        user.name,
                        user.login,
                        hint()
                    )));
                }
                "http" => {
                    let status = answer.map(|v| v[1].clone()).unwrap_or_default();
                    return Err(StepError::Retryable(format!(
                        "the page after the login answered HTTP {status}"
                    )));
                }
                _ if Instant::now() >= deadline => {
                    let marker = match &settings.logged_in {
                        Some(marker) => format!("the logged-in marker `{marker}` did not appear"),
                        None => format!(
                            "the login form `{}` is still shown",
                            settings
                                .login_form
                                .iter()
                                .map(Locator::to_string)
                                .collect::<Vec<_>>()
                                .join("`, `")
                        ),
                    };
                    return Err(StepError::Fatal(format!(
                        "the login of `{}` did not finish within {} s: {marker}; check the password in {} (or set portal.selectors.login_error to the portal's error message)",
                        user.name,
                        settings.page_timeout.as_secs(),
                        hint()
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Runs the export flow and fetches the export through the page.
    async fn download(&mut self) -> Result<String, StepError> {
        let settings = self.settings();
        let flow = &settings.export;
        let last = flow.steps.len() - 1;
        let Some(Step::Download(target)) = flow.steps.last() else {
            unreachable!("checked at load: the export flow ends with download");
        };
        for fresh in [false, true] {
            let flowed = self.run(flow, None, 0, last).await?;
            if let Flowed::LoggedOut = flowed {
                if fresh {
                    break;
                }
                self.sign_in().await?;
                continue;
            }
            let timeout_ms = (settings.page_timeout.as_millis() as u64 * 4 / 5).max(500);
            let args = vec![
                locator_json(target),
                json!(timeout_ms),
                login_form_json(&settings.login_form),
            ];
            let what = flow.describe(last);
            let answer = self.browser().run_async(&what, DOWNLOAD_JS, args).await?;
            if let Some(trace) = &self.parts.trace {
                trace.after(self.browser(), flow, last).await;
            }
            match answer[0].as_str().unwrap_or_default() {
                "ok" => {
                    let status = answer[1].as_u64().unwrap_or(0);
                    if !(200..300).contains(&status) {
                        return Err(StepError::Retryable(format!(
                            "{what}: the export answered HTTP {status}"
                        )));
                    }
                    return Ok(answer[3].as_str().unwrap_or_default().to_string());
                }
                "login" if !fresh => self.sign_in().await?,
                "login" => break,
                "http" => {
                    return Err(StepError::Retryable(format!(
                        "{what}: the page answered HTTP {}",
                        answer[1]
                    )));
                }
                "missing" => {
                    return Err(StepError::Unfit(format!(
                        "{what}: nothing on the page matches it; check the selector against the page saved beside this error"
                    )));
                }
                _ => {
                    return Err(StepError::Retryable(format!(
                        "{what}: {}",
                        answer[1].as_str().unwrap_or("the download failed")
                    )));
                }
            }
        }
        Err(StepError::Retryable(
            "the portal asked to log in again right after a login".into(),
        ))
    }

    /// Runs the report flow up to its submit: `true` if the order already
    /// has a report; else the form is filled and its submit button kept.
    async fn open_order(&mut self, order: &OrderToReport) -> Result<bool, StepError> {
        self.prepared = None;
        let settings = self.settings();
        let flow = &settings.report;
        let submit = submit_index(flow);
        for fresh in [false, true] {
            match self.run(flow, Some(order), 0, submit).await? {
                Flowed::Reported => return Ok(true),
                Flowed::Done(Some(button)) => {
                    self.prepared = Some((order.id.clone(), button));
                    return Ok(false);
                }
                Flowed::Done(None) => {
                    return Err(StepError::Unfit(format!(
                        "{}: nothing on the page matches it",
                        flow.describe(submit)
                    )));
                }
                Flowed::LoggedOut if !fresh => self.sign_in().await?,
                Flowed::LoggedOut => break,
            }
        }
        Err(StepError::Retryable(format!(
            "the portal asked to log in again right after a login, on {}",
            order.id
        )))
    }

    /// Reads the portal's answer to a submit, once it has replaced the form.
    async fn await_answer(&self, order: &OrderToReport) -> Result<Answer, StepError> {
        let settings = self.settings();
        let flow = &settings.report;
        let submit = submit_index(flow);
        let (confirmation, form_error) = match flow.steps.get(submit + 1) {
            Some(Step::Confirm { target, error }) => (Some(target), error.as_ref()),
            _ => (None, None),
        };
        let reported = flow.steps.iter().find_map(|s| match s {
            Step::ReportedIf(target) => Some(target),
            _ => None,
        });
        let Some(Step::Submit(button)) = flow.steps.get(submit) else {
            unreachable!("checked at load: the report flow has a submit step");
        };
        let args = vec![
            confirmation.map(locator_json).into(),
            form_error.map(locator_json).into(),
            reported.map(locator_json).into(),
            login_form_json(&settings.login_form),
            locator_json(button),
        ];
        let what = match confirmation {
            Some(_) => flow.describe(submit + 1),
            None => flow.describe(submit),
        };
        let deadline = Instant::now() + settings.page_timeout;
        loop {
            let answer = self
                .browser()
                .run("reading the answer to the report", ANSWER_JS, args.clone())
                .await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(StepError::Retryable(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(err) => return Err(err),
            };
            match answer[0].as_str().unwrap_or_default() {
                "confirmed" | "reported" => return Ok(Answer::Taken),
                "login" => return Ok(Answer::LoggedOut),
                "http" => {
                    return Err(StepError::Retryable(format!(
                        "the portal answered HTTP {} to the report of {}",
                        answer[1], order.id
                    )));
                }
                "form-error" => {
                    return Err(StepError::Retryable(format!(
                        "the portal rejected the report of {}: {:?}",
                        order.id,
                        answer[1].as_str().unwrap_or_default()
                    )));
                }
                _ if Instant::now() >= deadline => {
                    return Err(StepError::Retryable(format!(
                        "{what}: no confirmation within {} s after reporting {}",
                        settings.page_timeout.as_secs(),
                        order.id
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// `portal try`: runs the report flow for one order up to its submit,
    /// which it never clicks. `true`: the order already has a report.
    pub async fn fill_without_submitting(
        &mut self,
        order: &OrderToReport,
    ) -> Result<bool, StepError> {
        let reported = self.already_reported(order).await?;
        self.prepared = None;
        Ok(reported)
    }
}

/// The index of the report flow's submit step (checked at load).
fn submit_index(flow: &Flow) -> usize {
    flow.steps
        .iter()
        .position(|s| matches!(s, Step::Submit(_)))
        .expect("checked at load: the report flow has a submit step")
}

/// What the portal answered to a submit.
enum Answer {
    /// Confirmed, or it already held a report.
    Taken,
    /// It asked to log in: the session had expired and the report was not taken.
    LoggedOut,
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
        if matches!(&self.prepared, Some((o, _)) if *o == order.id) {
            return Ok(());
        }
        match self.open_order(order).await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.evidence(err, "report", Some(&order.id)).await),
        }
    }

    async fn submit_report(&mut self, order: &OrderToReport) -> Result<bool, StepError> {
        let button = match self.prepared.take() {
            Some((o, button)) if o == order.id => button,
            _ => return Ok(false),
        };
        let settings = self.settings();
        let what = settings.report.describe(submit_index(&settings.report));
        let outcome = match self.browser().click(&what, &button).await {
            Ok(()) => self.await_answer(order).await,
            Err(err) => Err(err),
        };
        let outcome = match outcome {
            Ok(Answer::Taken) => {
                self.parts.stats.reports.fetch_add(1, Ordering::Relaxed);
                return Ok(true);
            }
            Ok(Answer::LoggedOut) => self.sign_in().await.map(|()| false),
            Err(err) => Err(err),
        };
        match outcome {
            Ok(taken) => Ok(taken),
            Err(err) => Err(self.evidence(err, "report", Some(&order.id)).await),
        }
    }

    /// Closes the browser and waits until its processes are gone (killing
    /// any left after a grace period), so a permit given back or reused never
    /// overlaps a browser still exiting.
    async fn close(self) {
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
