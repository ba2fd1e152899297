//! Logging in: the login flow, then a wait for its outcome; or the cookies of
//! a login another session of the same user in this worker just made.

use std::time::{Duration, Instant};

use super::session::{WebSession, locator_json, login_form_json};
use super::steps::Flowed;
use crate::flow::{Locator, Step};
use crate::portal::StepError;
use std::sync::atomic::Ordering;

/// Reads the page after the login flow: refused, logged in, or not yet.
/// `mark` is the page when the last click was made ({doc, seq}): without a
/// logged-in marker, "the form is gone" counts only once nothing the click
/// started is still under way: no form it submitted still navigating away
/// from this document, no change in flight.
const LOGIN_STATE_JS: &str = concat!(
    include_str!("find.js"),
    include_str!("net.js"),
    "const [error, loggedIn, form, mark] = arguments;
const state = net();
if (httpStatus() >= 400) return ['http', httpStatus()];
if (document.readyState !== 'complete') return ['loading'];
if (find(error)) return ['refused'];
const sent = mark && state.doc === mark.doc ? state.log.filter((e) => e.id > mark.seq) : [];
const denied = sent.find((e) => e.status === 401 || e.status === 403);
if (denied) return ['denied', denied.status];
const fault = pageRequestFault();
if (loggedIn) return find(loggedIn) ? ['in'] : fault ? ['http', fault] : ['waiting'];
if (form.some((l) => find(l))) return fault ? ['http', fault] : ['waiting'];
if (changesInFlight().length) return ['waiting'];
let leaving = false;
try {
  const submitted = JSON.parse(sessionStorage.getItem('__reporterForm') || 'null');
  leaving = !!submitted && submitted.doc === state.doc && (!mark || submitted.seq >= mark.seq);
} catch (e) { /* no storage: nothing known of a pending submit */ }
return leaving ? ['waiting'] : ['in'];"
);

impl WebSession {
    /// Logs in, unless another session of this user in this worker logged in
    /// since this one did: then it takes that login's cookies. Used for the
    /// first login and after the portal ended a session alike.
    pub(super) async fn sign_in(&mut self) -> Result<(), StepError> {
        let login = self.parts.login.clone();
        let mut login = login.lock().await;
        let result = if login.generation > self.generation && !login.cookies.is_empty() {
            self.take_cookies(&login.cookies).await
        } else {
            self.log_in_retrying().await.map(|cookies| {
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

    /// Logs in; a transient fault (an HTTP 5xx, a timeout, a page still
    /// loading, an element gone stale) is tried again in place, up to
    /// `retry.order_attempts` with `retry.order_backoff`, as an order's is.
    /// A refused login is not.
    async fn log_in_retrying(
        &self,
    ) -> Result<Vec<fantoccini::cookies::Cookie<'static>>, StepError> {
        let retry = &self.parts.retry;
        let mut backoff = retry.order_backoff();
        let mut attempt = 1;
        loop {
            match self.log_in().await {
                Err(StepError::Retryable(why)) if attempt < retry.order_attempts => {
                    let wait = backoff.next_delay();
                    tracing::warn!(user = %self.parts.user.name, attempt, error = %why, "login failed; trying it again in {:.1} s", wait.as_secs_f64());
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// Runs the login flow, waits for its outcome, and keeps the session's
    /// cookies (never logged).
    async fn log_in(&self) -> Result<Vec<fantoccini::cookies::Cookie<'static>>, StepError> {
        let settings = self.settings();
        self.parts.stats.logins.fetch_add(1, Ordering::Relaxed);
        tracing::info!(user = %self.parts.user.name, "logging in to the portal");
        let steps = settings.login.steps.len();
        let flowed = match self.run(&settings.login, None, 0, steps).await {
            Ok(flowed) => flowed,
            // A step after the password (a code field) that never came: the
            // portal may have refused the password on the page it showed.
            Err(err @ (StepError::Retryable(_) | StepError::Unfit(_))) => {
                return Err(self.refusal().await.unwrap_or(err));
            }
            Err(err) => return Err(err),
        };
        if let Flowed::Reported | Flowed::LoggedOut = flowed {
            return Err(StepError::Unfit(
                "the login flow halted before its end (a reported_if step has no place there)"
                    .into(),
            ));
        }
        self.await_login().await?;
        self.browser().state().clicked = false;
        let client = &self.browser().client;
        self.browser()
            .command("reading the session cookies", client.get_all_cookies())
            .await
    }

    /// The refusal the page shows, if it shows one: the login error, or an
    /// HTTP 401 or 403 answer.
    async fn refusal(&self) -> Option<StepError> {
        let settings = self.settings();
        let args = vec![
            settings.login_error.as_ref().map(locator_json).into(),
            serde_json::Value::Null,
            login_form_json(&settings.login_form),
            serde_json::Value::Null,
        ];
        let answer = self
            .browser()
            .run("reading the page of the login", LOGIN_STATE_JS, args)
            .await
            .ok()?;
        let user = &self.parts.user;
        let hint = super::credentials::hint(&settings, &user.name);
        match answer[0].as_str()? {
            "refused" => Some(StepError::Fatal(format!(
                "the portal refused the login of `{}` as `{}`; check the password in {hint}",
                user.name, user.login
            ))),
            "http" | "denied" if matches!(answer[1].as_u64(), Some(401 | 403)) => {
                Some(StepError::Fatal(format!(
                    "the portal answered HTTP {} to the login of `{}` as `{}`; check the password in {hint}",
                    answer[1], user.name, user.login
                )))
            }
            _ => None,
        }
    }

    /// Waits, up to the page timeout, until the page after the login says
    /// refused (the login error), logged in (the marker, or the form gone);
    /// a page still loading is neither.
    async fn await_login(&self) -> Result<(), StepError> {
        let settings = self.settings();
        let mark = self.browser().state().click_mark.clone();
        let args = vec![
            settings.login_error.as_ref().map(locator_json).into(),
            settings.logged_in.as_ref().map(locator_json).into(),
            login_form_json(&settings.login_form),
            mark.map(|(doc, seq)| serde_json::json!({"doc": doc, "seq": seq}))
                .into(),
        ];
        let deadline = Instant::now() + settings.page_timeout;
        let user = &self.parts.user;
        let hint = || super::credentials::hint(&settings, &user.name);
        let refused_with = |status: serde_json::Value| {
            StepError::Fatal(format!(
                "the portal answered HTTP {status} to the login of `{}` as `{}`; check the password in {}",
                user.name,
                user.login,
                hint()
            ))
        };
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
                    if status == 401 || status == 403 {
                        return Err(refused_with(status));
                    }
                    return Err(StepError::Retryable(format!(
                        "the page after the login answered HTTP {status}"
                    )));
                }
                "denied" => {
                    let status = answer.map(|v| v[1].clone()).unwrap_or_default();
                    return Err(refused_with(status));
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
}
