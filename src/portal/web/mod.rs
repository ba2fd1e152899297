//! `[portal] kind = "web"`: headless Chromium through WebDriver (fantoccini),
//! driven by the paths and selectors of the config. One browser per session;
//! a session logs in once and then downloads the export or reports orders.
//! Sessions of the same user in one worker share the login's cookies (in
//! memory only), so a user logs in once per worker; a profile or cookie never
//! passes from one user to another.

mod browser;
pub mod credentials;
pub mod driver;
mod evidence;
mod export;
mod login;
mod processes;
mod report;
mod session;
mod steps;
pub mod totp;
mod trace;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result};
use fantoccini::cookies::Cookie;

use super::{Portal, PortalUser, StepError};
use crate::config::{BrowserConfig, RetryPolicy, WebPortal};
use credentials::Credentials;
use driver::Driver;
pub use evidence::safe as safe_name;
pub use session::WebSession;
pub use trace::Trace;

/// The web portal of one worker.
pub struct Web {
    settings: Arc<WebPortal>,
    driver: Arc<Driver>,
    credentials: Credentials,
    /// Where screenshots and pages of failed steps go.
    artifacts: PathBuf,
    /// Where each session's profile and downloads go (removed on close).
    scratch: PathBuf,
    jar: Arc<CookieJar>,
    pub stats: Arc<BrowserStats>,
    /// `portal try`: the page saved after every step.
    trace: Option<Arc<Trace>>,
    retry: RetryPolicy,
}

/// What the browsers of this worker did, for the log and the benchmark.
#[derive(Debug, Default)]
pub struct BrowserStats {
    pub browsers: AtomicU64,
    pub logins: AtomicU64,
    pub commands: AtomicU64,
    pub reports: AtomicU64,
}

impl BrowserStats {
    pub fn summary(&self) -> (u64, u64, u64, u64) {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        (
            get(&self.browsers),
            get(&self.logins),
            get(&self.commands),
            get(&self.reports),
        )
    }
}

/// The session cookies of each user's last login, in memory only.
#[derive(Default)]
struct CookieJar {
    users: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Login>>>>,
}

/// One user's login: its cookies and how many times it was renewed.
#[derive(Default)]
struct Login {
    generation: u64,
    cookies: Vec<Cookie<'static>>,
}

impl CookieJar {
    fn of(&self, user: &str) -> Arc<tokio::sync::Mutex<Login>> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users.entry(user.to_string()).or_default().clone()
    }
}

impl Web {
    /// Starts (or finds) the WebDriver server; `artifacts` is used when the
    /// config names no `artifacts_dir`.
    pub fn new(
        settings: &WebPortal,
        browser: &BrowserConfig,
        retry: &RetryPolicy,
        artifacts: PathBuf,
    ) -> Result<Web> {
        let artifacts = settings.artifacts_dir.clone().unwrap_or(artifacts);
        let scratch = std::env::temp_dir().join(format!("reporter-{}", std::process::id()));
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("cannot create `{}`", scratch.display()))?;
        Ok(Web {
            settings: Arc::new(settings.clone()),
            driver: Arc::new(Driver::start(browser)?),
            credentials: Credentials::from_config(settings),
            artifacts,
            scratch,
            jar: Arc::default(),
            stats: Arc::default(),
            trace: None,
            retry: retry.clone(),
        })
    }

    /// Saves the page after every step into the trace's directory.
    pub fn with_trace(mut self, trace: Arc<Trace>) -> Web {
        self.trace = Some(trace);
        self
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Portal for Web {
    type Session = WebSession;

    fn keeps_sessions(&self) -> bool {
        true
    }

    async fn login(&self, user: &PortalUser) -> Result<WebSession, StepError> {
        // A missing or unsafe credentials file is the operator's to fix.
        let password = self
            .credentials
            .password(&user.name)
            .map_err(StepError::Fatal)?;
        let totp = if self.settings.login.uses_totp() {
            match self
                .credentials
                .totp(&user.name)
                .map_err(StepError::Fatal)?
            {
                Some(totp) => Some(totp),
                None => {
                    let file = self
                        .credentials
                        .totp_file(&user.name)
                        .map(|f| format!("`{}`", f.display()))
                        .unwrap_or_else(|e| e);
                    return Err(StepError::Fatal(format!(
                        "the login flow types {{totp}}, but {file} does not exist: put `{}`'s one-time code secret there (the base32 secret or the otpauth:// URI its authenticator app was given), readable by its owner only",
                        user.name
                    )));
                }
            }
        } else {
            None
        };
        let n = self.stats.browsers.fetch_add(1, Ordering::Relaxed);
        let dir = self.scratch.join(format!("session-{n}"));
        let profile = dir.join("profile");
        std::fs::create_dir_all(&profile).map_err(|err| {
            StepError::Retryable(format!("cannot create `{}`: {err}", profile.display()))
        })?;
        let client = match self
            .driver
            .new_session(&profile, self.settings.page_timeout)
            .await
        {
            Ok(client) => client,
            Err(err) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(err);
            }
        };
        let mut session = WebSession::new(session::Parts {
            browser: browser::Browser {
                client,
                page_timeout: self.settings.page_timeout,
                stats: self.stats.clone(),
                page: Default::default(),
            },
            user: user.clone(),
            password,
            totp,
            settings: self.settings.clone(),
            login: self.jar.of(&user.name),
            dir,
            artifacts: self.artifacts.clone(),
            stats: self.stats.clone(),
            trace: self.trace.clone(),
            retry: self.retry.clone(),
        });
        match session.sign_in().await {
            Ok(()) => Ok(session),
            Err(err) => {
                crate::portal::PortalSession::close(session).await;
                Err(err)
            }
        }
    }
}
