//! One Chromium logged in as one user: the browser steps, each a handful of
//! WebDriver commands, with a screenshot and the page's HTML saved when a
//! step fails.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use super::credentials::Password;
use super::{BrowserStats, Login, parse_export};
use crate::config::WebPortal;
use crate::portal::{JobScope, Pending, PortalSession, PortalUser, StepError};

/// What a session is made of.
pub(super) struct Parts {
    pub client: Client,
    pub user: PortalUser,
    pub password: Password,
    pub settings: Arc<WebPortal>,
    pub login: Arc<tokio::sync::Mutex<Login>>,
    pub dir: PathBuf,
    pub downloads: PathBuf,
    pub artifacts: PathBuf,
    pub stats: Arc<BrowserStats>,
}

pub struct WebSession {
    parts: Parts,
    scope: Option<JobScope>,
    /// The login generation whose cookies this browser holds.
    generation: u64,
    /// The order whose report form is filled in, and its submit button.
    prepared: Option<(String, Option<Element>)>,
}

/// Reads an order's page: which state it is in; fills the report form in.
const PROBE_ORDER: &str = "const [login, reported, form, reason, comment, value, text] = arguments;
if (document.querySelector(login)) return ['login', document.title];
if (document.querySelector(reported)) return ['reported', document.title];
const f = document.querySelector(form);
const r = document.querySelector(reason);
if (!f || !r) return ['unknown', document.title];
r.value = value;
if (r.value !== value) return ['no-reason', document.title];
const c = document.querySelector(comment);
if (c) c.value = text;
return ['form', document.title];";

/// Reads the page after a submit; `waiting` while the form is still shown
/// (the answer has not replaced it yet).
const PROBE_SUBMITTED: &str = "const [confirmation, reported, login, form] = arguments;
if (document.querySelector(confirmation)) return ['confirmed', document.title];
if (document.querySelector(reported)) return ['reported', document.title];
if (document.querySelector(login)) return ['login', document.title];
if (document.querySelector(form)) return ['waiting', document.title];
return ['unknown', document.title];";

/// Reads the orders page, or the page after a login.
const PROBE_PAGE: &str = "const [error, login, ready] = arguments;
if (document.querySelector(error)) return ['refused', document.title];
if (document.querySelector(login)) return ['login', document.title];
if (document.querySelector(ready)) return ['ready', document.title];
return ['unknown', document.title];";

impl WebSession {
    pub(super) fn new(parts: Parts) -> WebSession {
        WebSession {
            parts,
            scope: None,
            generation: 0,
            prepared: None,
        }
    }

    fn settings(&self) -> &WebPortal {
        &self.parts.settings
    }

    /// Runs one WebDriver command, counted, within the page timeout.
    async fn command<T>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, CmdError>>,
    ) -> Result<T, String> {
        let limit = self.settings().page_timeout + Duration::from_secs(5);
        self.command_within(limit, what, command).await
    }

    async fn command_within<T>(
        &self,
        limit: Duration,
        what: &str,
        command: impl Future<Output = Result<T, CmdError>>,
    ) -> Result<T, String> {
        self.parts.stats.commands.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(limit, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(format!("{what}: {err}")),
            Err(_) => Err(format!("{what}: no answer within {} s", limit.as_secs())),
        }
    }

    async fn goto(&self, url: &str) -> Result<(), String> {
        let client = &self.parts.client;
        self.command(&format!("opening {url}"), client.goto(url))
            .await
    }

    async fn click(&self, selector: &str) -> Result<(), String> {
        let client = &self.parts.client;
        let element = self
            .command(
                &format!("finding `{selector}`"),
                client.find(Locator::Css(selector)),
            )
            .await?;
        self.command(&format!("clicking `{selector}`"), element.click())
            .await
    }

    async fn type_into(&self, selector: &str, text: &str) -> Result<(), String> {
        let client = &self.parts.client;
        let element = self
            .command(
                &format!("finding `{selector}`"),
                client.find(Locator::Css(selector)),
            )
            .await?;
        self.command(
            &format!("typing into `{selector}`"),
            element.send_keys(text),
        )
        .await
    }

    /// Runs a probe script; returns its state and the page title.
    async fn probe(&self, script: &str, args: Vec<Value>) -> Result<(String, String), String> {
        let client = &self.parts.client;
        let answer = self
            .command("reading the page", client.execute(script, args))
            .await?;
        let state = answer[0].as_str().unwrap_or("unknown").to_string();
        let title = answer[1].as_str().unwrap_or_default().to_string();
        Ok((state, title))
    }

    /// Logs in, or takes the cookies of a login another session of this
    /// worker made for the same user.
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
            Err(why) => Err(self.evidence(why, None).await),
        }
    }

    async fn take_cookies(
        &self,
        cookies: &[fantoccini::cookies::Cookie<'static>],
    ) -> Result<(), String> {
        let settings = self.settings();
        self.goto(&settings.url(&settings.paths.login)).await?;
        let client = &self.parts.client;
        for cookie in cookies {
            self.command(
                "setting the session cookie",
                client.add_cookie(cookie.clone()),
            )
            .await?;
        }
        Ok(())
    }

    /// Fills the login form and keeps the session's cookies (never logged).
    async fn log_in(&self) -> Result<Vec<fantoccini::cookies::Cookie<'static>>, String> {
        let settings = self.settings();
        let s = &settings.selectors;
        self.parts.stats.logins.fetch_add(1, Ordering::Relaxed);
        tracing::info!(user = %self.parts.user.name, "logging in to the portal");
        self.goto(&settings.url(&settings.paths.login)).await?;
        self.type_into(&s.login_user, &self.parts.user.login)
            .await?;
        self.type_into(&s.login_password, self.parts.password.expose())
            .await?;
        self.click(&s.login_submit).await?;
        let args = vec![json!(s.login_error), json!(s.login_password), json!("body")];
        match self.probe(PROBE_PAGE, args).await?.0.as_str() {
            "ready" => {}
            "refused" | "login" => {
                return Err(format!(
                    "the portal refused the login of `{}` as `{}`; check the password in its credentials file",
                    self.parts.user.name, self.parts.user.login
                ));
            }
            _ => return Err("the page after the login form did not load".into()),
        }
        let client = &self.parts.client;
        self.command("reading the session cookies", client.get_all_cookies())
            .await
    }

    /// Saves a screenshot and the page's HTML and names them in the error.
    async fn evidence(&self, why: String, order: Option<&str>) -> StepError {
        let user = safe(&self.parts.user.name);
        let (run, place) = match self.scope {
            Some(JobScope {
                run_id,
                range: Some((start, end)),
            }) => (run_id, format!("range-{start}-{end}")),
            Some(JobScope {
                run_id,
                range: None,
            }) => (run_id, "download".into()),
            None => (self.parts.user.run_id, "login".into()),
        };
        let order = order
            .map(|o| format!("-order-{}", safe(o)))
            .unwrap_or_default();
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f");
        let dir = self.parts.artifacts.join(format!("run-{run}")).join(&user);
        let base = dir.join(format!("{place}{order}-{stamp}"));
        if let Err(err) = std::fs::create_dir_all(&dir) {
            return StepError::Retryable(format!(
                "{why} (no screenshot: cannot create `{}`: {err})",
                dir.display()
            ));
        }
        // A stuck page may hold the browser up to its page timeout again.
        let limit = self.settings().page_timeout * 2 + Duration::from_secs(20);
        let client = &self.parts.client;
        let png = base.with_extension("png");
        let shot = self
            .command_within(limit, "taking a screenshot", client.screenshot())
            .await
            .and_then(|bytes| std::fs::write(&png, bytes).map_err(|e| e.to_string()));
        let html = base.with_extension("html");
        let page = self
            .command_within(limit, "reading the page", client.source())
            .await
            .and_then(|text| std::fs::write(&html, text).map_err(|e| e.to_string()));
        let shot = match shot {
            Ok(()) => format!("screenshot: {}", png.display()),
            Err(err) => format!("no screenshot: {err}"),
        };
        let page = match page {
            Ok(()) => format!("page: {}", html.display()),
            Err(err) => format!("no page: {err}"),
        };
        StepError::Retryable(format!("{why} ({shot}, {page})"))
    }

    /// Opens an order's page (logging in again once if the session expired)
    /// and fills its report form in. `true`: it is already reported.
    async fn open_order(&mut self, order: &str) -> Result<bool, String> {
        let settings = self.parts.settings.clone();
        let s = &settings.selectors;
        let args = || {
            vec![
                json!(s.login_password),
                json!(s.already_reported),
                json!(s.report_form),
                json!(s.report_reason),
                json!(s.report_comment),
                json!(settings.report_reason),
                json!(settings.report_comment),
            ]
        };
        for _ in 0..2 {
            self.goto(&settings.order_url(order)).await?;
            let (state, title) = self.probe(PROBE_ORDER, args()).await?;
            match state.as_str() {
                "login" => self.renew_login().await?,
                "reported" => return Ok(true),
                "form" => {
                    self.prepared = Some((order.to_string(), None));
                    return Ok(false);
                }
                "no-reason" => {
                    return Err(format!(
                        "the report form of {order} has no reason `{}`; set portal.report_reason",
                        settings.report_reason
                    ));
                }
                _ => {
                    return Err(format!(
                        "the page of {order} has no report form (page: {title:?})"
                    ));
                }
            }
        }
        Err(format!(
            "the portal asked to log in again right after a login, on {order}"
        ))
    }

    /// Logs in again after the portal ended the session, unless another
    /// session of this user already did.
    async fn renew_login(&mut self) -> Result<(), String> {
        tracing::info!(user = %self.parts.user.name, "portal session expired; logging in again");
        let login = self.parts.login.clone();
        let mut login = login.lock().await;
        if login.generation > self.generation && !login.cookies.is_empty() {
            self.take_cookies(&login.cookies).await?;
        } else {
            login.cookies = self.log_in().await?;
            login.generation += 1;
        }
        self.generation = login.generation;
        Ok(())
    }

    async fn download(&mut self) -> Result<String, String> {
        let settings = self.parts.settings.clone();
        let s = &settings.selectors;
        let args = vec![
            json!(s.login_error),
            json!(s.login_password),
            json!(s.export_link),
        ];
        let mut ready = false;
        for _ in 0..2 {
            self.goto(&settings.url(&settings.paths.orders)).await?;
            let (state, title) = self.probe(PROBE_PAGE, args.clone()).await?;
            match state.as_str() {
                "ready" => {
                    ready = true;
                    break;
                }
                "login" => self.renew_login().await?,
                _ => {
                    return Err(format!(
                        "the orders page has no export link (page: {title:?})"
                    ));
                }
            }
        }
        if !ready {
            return Err("the portal asked to log in again right after a login".into());
        }
        clear_dir(&self.parts.downloads)?;
        self.click(&s.export_link).await?;
        self.wait_for_download().await
    }

    /// Reads the portal's answer to a submit, once it has replaced the form.
    async fn await_answer(&self, order: &str) -> Result<Answer, String> {
        let s = &self.parts.settings.selectors;
        let args = vec![
            json!(s.confirmation),
            json!(s.already_reported),
            json!(s.login_password),
            json!(s.report_form),
        ];
        let deadline = Instant::now() + self.settings().page_timeout;
        loop {
            let (state, title) = self.probe(PROBE_SUBMITTED, args.clone()).await?;
            match state.as_str() {
                "confirmed" | "reported" => return Ok(Answer::Taken),
                "login" => return Ok(Answer::LoggedOut),
                "waiting" if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => {
                    return Err(format!(
                        "no confirmation after reporting {order} (page: {title:?})"
                    ));
                }
            }
        }
    }

    /// Waits until the download directory holds a finished file; reads and
    /// removes it.
    async fn wait_for_download(&self) -> Result<String, String> {
        let deadline = Instant::now() + self.settings().page_timeout;
        let mut last_size = None;
        loop {
            if let Some((file, size)) = finished_download(&self.parts.downloads)? {
                // Done once it has content and stopped growing between two looks.
                if size > 0 && last_size == Some(size) {
                    let text = std::fs::read_to_string(&file)
                        .map_err(|e| format!("cannot read the downloaded export: {e}"))?;
                    let _ = std::fs::remove_file(&file);
                    return Ok(text);
                }
                last_size = Some(size);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the orders export did not download within {} s",
                    self.settings().page_timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The downloaded file and its size, once no partial download is left.
fn finished_download(dir: &std::path::Path) -> Result<Option<(PathBuf, u64)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| e.to_string())?;
    let files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    let partial = files.iter().any(|p| {
        p.extension()
            .is_some_and(|x| x == "crdownload" || x == "tmp")
    });
    Ok(match (partial, files.first()) {
        (false, Some(file)) => std::fs::metadata(file)
            .ok()
            .map(|m| (file.clone(), m.len())),
        _ => None,
    })
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
            Err(why) => return Err(self.evidence(why, None).await),
        };
        parse_export(&text)
            .map(Pending::Export)
            .map_err(StepError::Retryable)
    }

    async fn already_reported(&mut self, order: &str) -> Result<bool, StepError> {
        match self.open_order(order).await {
            Ok(done) => Ok(done),
            Err(why) => Err(self.evidence(why, Some(order)).await),
        }
    }

    async fn prepare_report(&mut self, order: &str) -> Result<(), StepError> {
        let filled = matches!(&self.prepared, Some((o, _)) if o == order);
        if !filled {
            match self.open_order(order).await {
                Ok(false) => {}
                Ok(true) => return Ok(()),
                Err(why) => return Err(self.evidence(why, Some(order)).await),
            }
        }
        let selector = self.settings().selectors.report_submit.clone();
        let client = &self.parts.client;
        let found = self
            .command(
                &format!("finding `{selector}`"),
                client.find(Locator::Css(&selector)),
            )
            .await;
        match found {
            Ok(button) => {
                self.prepared = Some((order.to_string(), Some(button)));
                Ok(())
            }
            Err(why) => Err(self.evidence(why, Some(order)).await),
        }
    }

    async fn submit_report(&mut self, order: &str) -> Result<bool, StepError> {
        let button = match self.prepared.take() {
            Some((o, Some(button))) if o == order => button,
            _ => return Ok(false),
        };
        if let Err(why) = self.command("submitting the report", button.click()).await {
            return Err(self.evidence(why, Some(order)).await);
        }
        let outcome = match self.await_answer(order).await {
            Ok(Answer::Taken) => {
                self.parts.stats.reports.fetch_add(1, Ordering::Relaxed);
                return Ok(true);
            }
            Ok(Answer::LoggedOut) => self.renew_login().await.map(|()| false),
            Err(why) => Err(why),
        };
        match outcome {
            Ok(taken) => Ok(taken),
            Err(why) => Err(self.evidence(why, Some(order)).await),
        }
    }

    /// Closes the browser and waits until its processes are gone (killing
    /// any left after a grace period), so a permit given back or reused never
    /// overlaps a browser still exiting.
    async fn close(self) {
        let client = self.parts.client.clone();
        if tokio::time::timeout(Duration::from_secs(10), client.close())
            .await
            .is_err()
        {
            tracing::warn!(user = %self.parts.user.name, "the browser did not close within 10 s; stopping it");
        }
        let profile = self.parts.dir.join("profile");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = browser_processes(&profile);
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                tracing::warn!(
                    processes = left.len(),
                    "browser processes outlived their session; killing them"
                );
                for pid in left {
                    // SAFETY: kill(2) on a process that runs this session's own profile.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = std::fs::remove_dir_all(&self.parts.dir);
    }
}

/// The processes of the Chromium that uses this profile directory.
fn browser_processes(profile: &std::path::Path) -> Vec<libc::pid_t> {
    let mark = format!("--user-data-dir={}", profile.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let uses = cmdline.split(|b| *b == 0).any(|arg| arg == mark.as_bytes());
            uses.then_some(pid)
        })
        .collect()
}

/// A name safe as one path component.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn clear_dir(dir: &std::path::Path) -> Result<(), String> {
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
    Ok(())
}
