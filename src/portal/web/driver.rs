//! The WebDriver side: a `chromedriver` started and supervised by the worker
//! (in its own process group, so stopping it stops every Chromium it started),
//! or one given by URL (a chromedriver or a Selenium Grid hub); and new
//! Chromium sessions with a fresh profile each, their capabilities ours with
//! the config's `[browser.capabilities]` merged in.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Map, Value, json};

use crate::config::BrowserConfig;
use crate::http_client;
use crate::portal::StepError;

/// Chromium's old headless mode as a program of its own (Debian package
/// `chromium-headless-shell`): a browser without the desktop browser beneath
/// it, which costs less than half the CPU per page of `--headless=new`.
/// Preferred when installed, unless the config names `browser.chromium`.
const HEADLESS_SHELL: &str = "chromium-headless-shell";

/// How long a started chromedriver gets to answer `/status`.
const STARTUP: Duration = Duration::from_secs(20);

/// Where sessions are created: a supervised chromedriver or a given URL.
pub struct Driver {
    url: String,
    /// Sent as `goog:chromeOptions.binary`: the local one, or the one the
    /// config names for a remote server.
    chromium: Option<PathBuf>,
    /// The browser is a headless shell: chromedriver knows it by the
    /// browser name `chrome-headless-shell` (and opens its first page
    /// itself, which it does not for a `chrome` binary of that kind).
    headless_shell: bool,
    capabilities: Map<String, Value>,
    session_timeout: Duration,
    images: bool,
    process: Option<Child>,
}

impl Driver {
    /// Uses `webdriver_url`, or starts `chromedriver` on a free loopback port
    /// and waits until its `/status` says ready.
    pub fn start(browser: &BrowserConfig) -> Result<Driver> {
        let mut driver = Driver {
            url: String::new(),
            chromium: None,
            headless_shell: false,
            capabilities: browser.capabilities.clone(),
            session_timeout: browser.session_timeout,
            images: browser.images,
            process: None,
        };
        if let Some(url) = &browser.webdriver_url {
            // The browser runs where the server runs: its path is the
            // server's business unless the config names one.
            driver.url = url.clone();
            driver.chromium = browser.chromium_given.then(|| browser.chromium.clone());
            driver.headless_shell = browser.chromium_given && is_headless_shell(&browser.chromium);
            return Ok(driver);
        }
        let chromium = find_program(&local_chromium(browser)).with_context(|| {
            format!(
                "cannot find Chromium `{}`; install it (apt-get install chromium-headless-shell, or chromium) or set browser.chromium",
                browser.chromium.display()
            )
        })?;
        driver.headless_shell = is_headless_shell(&chromium);
        tracing::debug!(chromium = %chromium.display(), "browser");
        driver.chromium = Some(chromium);
        let chromedriver = find_program(&browser.chromedriver).with_context(|| {
            format!(
                "cannot find chromedriver `{}`; install it (apt-get install chromium-driver) or set browser.chromedriver or browser.webdriver_url",
                browser.chromedriver.display()
            )
        })?;
        let port = free_port()?;
        let mut command = Command::new(&chromedriver);
        command
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // SAFETY: prctl(2) is async-signal-safe; it only sets a flag of the child.
        unsafe {
            command.pre_exec(|| {
                // A worker killed with SIGKILL cannot stop chromedriver: the kernel does.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start `{}`", chromedriver.display()))?;
        driver.url = format!("http://127.0.0.1:{port}");
        driver.process = Some(child);
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + STARTUP;
        loop {
            if status_ready(address) {
                tracing::info!(port, "chromedriver ready");
                return Ok(driver);
            }
            if let Some(child) = &mut driver.process
                && let Some(exit) = child.try_wait()?
            {
                bail!(
                    "chromedriver exited at start ({exit}); run `chromedriver --version` to see why"
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "chromedriver did not answer on port {port} within {} s",
                    STARTUP.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Opens a new headless Chromium with its own profile, and page/script
    /// timeouts of `page_timeout`, waiting at most `session_timeout` for the
    /// server (a Grid queues requests while its slots are taken). The export
    /// is fetched by the page, so no download directory is needed.
    pub async fn new_session(
        &self,
        profile: &Path,
        page_timeout: Duration,
    ) -> Result<Client, StepError> {
        let capabilities = self.capabilities(profile, page_timeout);
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let connect = builder.connect(&self.url);
        match tokio::time::timeout(self.session_timeout, connect).await {
            Ok(Ok(client)) => Ok(client),
            // A Grid that gives up on a queued request before we do.
            Ok(Err(err)) if err.to_string().contains("New session request timed out") => Err(
                StepError::NoSession(format!("no Chromium session through {}: {err}", self.url)),
            ),
            Ok(Err(err)) => Err(StepError::Browser(format!(
                "cannot start a Chromium session through {}: {err}",
                self.url
            ))),
            Err(_) => Err(StepError::NoSession(format!(
                "no Chromium session through {} within {} s (browser.session_timeout); a Grid whose slots are all taken queues the request: add nodes or lower max_active_browsers",
                self.url,
                self.session_timeout.as_secs_f64()
            ))),
        }
    }

    /// The new-session capabilities: ours, then the config's merged in.
    fn capabilities(&self, profile: &Path, page_timeout: Duration) -> Map<String, Value> {
        // What a person's browser does in the background and nobody here
        // needs: update checks, sync, translation and media routing, crash
        // reports, phishing checks, a large window to paint.
        let mut args: Vec<String> = [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-extensions",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-breakpad",
            "--disable-client-side-phishing-detection",
            "--disable-hang-monitor",
            "--disable-domain-reliability",
            "--disable-notifications",
            "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,InterestFeedContentSuggestions,CertificateTransparencyComponentUpdater,PaintHolding",
            "--no-default-browser-check",
            "--metrics-recording-only",
            "--mute-audio",
            "--no-first-run",
            "--password-store=basic",
            "--use-mock-keychain",
            "--window-size=800,600",
        ]
        .map(String::from)
        .to_vec();
        if !self.headless_shell {
            args.insert(0, "--headless=new".into());
        }
        args.push(format!("--user-data-dir={}", profile.display()));
        if !self.images {
            args.push("--blink-settings=imagesEnabled=false".into());
        }
        let timeout_ms = page_timeout.as_millis() as u64;
        let mut options = json!({
            "args": args,
            "prefs": {
                "safebrowsing.enabled": false,
                "credentials_enable_service": false,
                "profile.password_manager_enabled": false,
            },
        });
        if let Some(chromium) = &self.chromium {
            options["binary"] = json!(chromium);
        }
        let browser_name = if self.headless_shell {
            "chrome-headless-shell"
        } else {
            "chrome"
        };
        let ours = json!({
            "browserName": browser_name,
            // A goto returns once the document is parsed, not after every
            // image and style: each step waits for what it needs itself.
            "pageLoadStrategy": "eager",
            "timeouts": {"pageLoad": timeout_ms, "script": timeout_ms, "implicit": 0},
            "goog:chromeOptions": options,
        });
        let Value::Object(mut ours) = ours else {
            unreachable!("a JSON object")
        };
        merge(&mut ours, &self.capabilities);
        ours
    }
}

/// Merges `theirs` into `ours`: objects key by key, the Chromium arguments
/// (`goog:chromeOptions.args`) appended, any other value replaced.
pub fn merge(ours: &mut Map<String, Value>, theirs: &Map<String, Value>) {
    merge_at(ours, theirs, "");
}

fn merge_at(ours: &mut Map<String, Value>, theirs: &Map<String, Value>, at: &str) {
    for (key, value) in theirs {
        let path = format!("{at}/{key}");
        match (ours.get_mut(key), value) {
            (Some(Value::Object(mine)), Value::Object(given)) => merge_at(mine, given, &path),
            (Some(Value::Array(mine)), Value::Array(given))
                if path == "/goog:chromeOptions/args" =>
            {
                mine.extend(given.iter().cloned())
            }
            _ => {
                ours.insert(key.clone(), value.clone());
            }
        }
    }
}

impl Drop for Driver {
    /// Stops chromedriver and every process it started: SIGTERM to the
    /// group, then SIGKILL to what is left.
    fn drop(&mut self) {
        let Some(mut child) = self.process.take() else {
            return;
        };
        let group = child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group we created.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; the group may be gone already, which is fine.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = child.wait();
    }
}

/// The Chromium a local chromedriver is to start: the config's, else the
/// headless shell when it is on `PATH`, else `chromium`.
pub fn local_chromium(browser: &BrowserConfig) -> PathBuf {
    if !browser.chromium_given && find_program(Path::new(HEADLESS_SHELL)).is_some() {
        return HEADLESS_SHELL.into();
    }
    browser.chromium.clone()
}

/// The browser name a remote server is asked for when the config sets none
/// in `[browser.capabilities]`: the headless shell's when the config names
/// one, else `chrome`.
pub fn remote_browser_name(browser: &BrowserConfig) -> &'static str {
    if browser.chromium_given && is_headless_shell(&browser.chromium) {
        "chrome-headless-shell"
    } else {
        "chrome"
    }
}

/// Whether a Chromium binary is a headless shell (by its file name).
fn is_headless_shell(chromium: &Path) -> bool {
    chromium
        .file_name()
        .is_some_and(|name| name.to_string_lossy().contains("headless-shell"))
}

/// A program by path, or found on `PATH`.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Whether a WebDriver server at `address` says it is ready.
fn status_ready(address: SocketAddr) -> bool {
    let url = format!("http://{address}/status");
    http_client::get_blocking(&url, Duration::from_millis(700)).is_ok_and(|answer| {
        serde_json::from_slice::<serde_json::Value>(&answer.body)
            .is_ok_and(|status| status["value"]["ready"] == true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_from_the_config_append_chromium_arguments_and_replace_other_values() {
        let Value::Object(mut ours) = json!({
            "browserName": "chrome",
            "timeouts": {"pageLoad": 1000, "script": 1000},
            "goog:chromeOptions": {"args": ["--headless=new"], "prefs": {"a": true}},
        }) else {
            unreachable!()
        };
        let Value::Object(theirs) = json!({
            "platformName": "linux",
            "timeouts": {"pageLoad": 5000},
            "se:name": "reporter",
            "goog:chromeOptions": {"args": ["--lang=de"], "prefs": {"b": false}},
        }) else {
            unreachable!()
        };
        merge(&mut ours, &theirs);
        assert_eq!(
            Value::Object(ours),
            json!({
                "browserName": "chrome",
                "platformName": "linux",
                "se:name": "reporter",
                "timeouts": {"pageLoad": 5000, "script": 1000},
                "goog:chromeOptions": {
                    "args": ["--headless=new", "--lang=de"],
                    "prefs": {"a": true, "b": false},
                },
            })
        );
    }
}
