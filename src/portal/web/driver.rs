//! The WebDriver side: a `chromedriver` started and supervised by the worker
//! (in its own process group, so stopping it stops every Chromium it started),
//! or one given by URL; and new Chromium sessions with a fresh profile and
//! download directory each.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::config::BrowserConfig;

/// How long a started chromedriver gets to answer `/status`.
const STARTUP: Duration = Duration::from_secs(20);

/// Where sessions are created: a supervised chromedriver or a given URL.
pub struct Driver {
    url: String,
    chromium: PathBuf,
    process: Option<Child>,
}

impl Driver {
    /// Uses `webdriver_url`, or starts `chromedriver` on a free loopback port
    /// and waits until its `/status` says ready.
    pub fn start(browser: &BrowserConfig) -> Result<Driver> {
        let chromium = find_program(&browser.chromium).with_context(|| {
            format!(
                "cannot find Chromium `{}`; install it (apt-get install chromium) or set browser.chromium",
                browser.chromium.display()
            )
        })?;
        if let Some(url) = &browser.webdriver_url {
            return Ok(Driver {
                url: url.clone(),
                chromium,
                process: None,
            });
        }
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
        let mut driver = Driver {
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            process: Some(child),
        };
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
    /// timeouts of `page_timeout`. (The export is fetched by the page, so no
    /// download directory is needed.)
    pub async fn new_session(
        &self,
        profile: &Path,
        page_timeout: Duration,
    ) -> Result<Client, String> {
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-extensions".into(),
            "--no-first-run".into(),
            "--password-store=basic".into(),
            "--window-size=1280,1024".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let timeout_ms = page_timeout.as_millis() as u64;
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": timeout_ms, "script": timeout_ms, "implicit": 0},
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": args,
                "prefs": {
                    "safebrowsing.enabled": false,
                    "credentials_enable_service": false,
                    "profile.password_manager_enabled": false,
                },
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let connect = builder.connect(&self.url);
        match tokio::time::timeout(page_timeout + STARTUP, connect).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(err)) => Err(format!(
                "cannot start a Chromium session through {}: {err}",
                self.url
            )),
            Err(_) => Err(format!(
                "no Chromium session through {} within {} s",
                self.url,
                (page_timeout + STARTUP).as_secs()
            )),
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

/// Whether a WebDriver server at `address` says it is ready. Its `/status`
/// may keep the connection open, so the answer is read until it is complete
/// or a short timeout.
fn status_ready(address: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let request = "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&answer);
        if text.contains("\"ready\":true") || text.contains("\"ready\": true") {
            return true;
        }
    }
    false
}
