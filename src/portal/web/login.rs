//! Logging in: the login flow, then a wait for its outcome; or the cookies of
//! a login another session of the same user in this worker just made.

use std::time::{Duration, Instant};

use super::session::{WebSession, locator_json, login_form_json};
use super::steps::Flowed;
use crate::flow::{Locator, Step};
use crate::portal::StepError;
use std::sync::atomic::Ordering;

/// Reads the page after the login flow: refused, logged in, or not yet.
const LOGIN_STATE_JS: &str = concat!(
    include_str!("find.js"),
    "const [error, loggedIn, form] = arguments;
if (httpStatus() >= 400) return ['http', httpStatus()];
if (document.readyState !== 'complete') return ['loading'];
if (find(error)) return ['refused'];
if (loggedIn) return find(loggedIn) ? ['in'] : ['waiting'];
return form.some((l) => find(l)) ? ['waiting'] : ['in'];"
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
}
