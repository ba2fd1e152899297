//! The browser checks, for `[portal] kind = "web"`: chromedriver and Chromium
//! found with the same major version (or the WebDriver server at
//! `webdriver_url` ready: a chromedriver, or a Selenium Grid with enough free
//! slots), a private password file for every user, and the portal answering.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::Value;

use super::Check;
use crate::config::{BrowserConfig, WebPortal};
use crate::db::users;
use crate::http_client::{self, GetError};
use crate::portal::web::credentials::{Credentials, check_mode};
use crate::portal::web::driver::{find_program, local_chromium, remote_browser_name};

/// Longest wait for the portal's or the WebDriver's answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for `--version`: Chromium's launcher took over 5 s on a busy
/// 2-core host, where nothing was wrong with it; a hung one still fails.
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

pub fn checks(
    browser: &BrowserConfig,
    max_active_browsers: u32,
    web: &WebPortal,
    conn: Option<&Connection>,
) -> Vec<Check> {
    let mut checks = match &browser.webdriver_url {
        Some(url) => vec![webdriver(url, browser, max_active_browsers)],
        None => programs(browser),
    };
    checks.extend(credentials(web, conn));
    checks.push(reachable("portal", &web.base_url));
    checks
}

/// `chromedriver` and `chromium`, the second also comparing major versions.
fn programs(browser: &BrowserConfig) -> Vec<Check> {
    let driver = version("chromedriver", &browser.chromedriver, "chromium-driver");
    let chromium = version("chromium", &local_chromium(browser), "chromium");
    let mut checks = Vec::new();
    let driver_major = match driver {
        Ok((path, version)) => {
            checks.push(Check::pass("chromedriver", format!("{path} {version}")));
            major(&version)
        }
        Err(fail) => {
            checks.push(fail);
            None
        }
    };
    checks.push(match chromium {
        Ok((path, version)) => match driver_major {
            Some(wanted) if major(&version) != Some(wanted) => Check::fail(
                "chromium",
                format!(
                    "{path} {version} does not match chromedriver {wanted}; install the chromedriver of the same major version (apt-get install chromium chromium-driver)"
                ),
            ),
            Some(wanted) => Check::pass(
                "chromium",
                format!("{path} {version}, matches chromedriver {wanted}"),
            ),
            None => Check::pass("chromium", format!("{path} {version}")),
        },
        Err(fail) => fail,
    });
    checks
}

/// The program's path and version number, from `PROGRAM --version`.
fn version(check: &'static str, program: &Path, package: &str) -> Result<(String, String), Check> {
    let key = format!("browser.{check}");
    let Some(path) = find_program(program) else {
        return Err(Check::fail(
            check,
            format!(
                "cannot find `{}`; install it (apt-get install {package}) or set {key} in the config",
                program.display()
            ),
        ));
    };
    let shown = path.display().to_string();
    let output = run_version(&path).map_err(|why| {
        Check::fail(
            check,
            format!("`{shown} --version` {why}; reinstall it or set {key} to a working one"),
        )
    })?;
    let number = output
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()) && word.contains('.'))
        .map(str::to_string)
        .ok_or_else(|| {
            Check::fail(
                check,
                format!(
                    "`{shown} --version` printed no version ({:?}); set {key} to chromedriver or Chromium",
                    output.trim()
                ),
            )
        })?;
    Ok((shown, number))
}

/// Runs `PATH --version`, waiting at most `VERSION_TIMEOUT`.
fn run_version(path: &Path) -> Result<String, String> {
    let mut child = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("cannot start: {err}"))?;
    let deadline = Instant::now() + VERSION_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "did not answer within {} s",
                    VERSION_TIMEOUT.as_secs()
                ));
            }
        }
    };
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut text);
    }
    if !status.success() {
        return Err(format!("failed ({status})"));
    }
    Ok(text)
}

/// The major version: `156` of `156.0.8078.108`.
fn major(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

/// One line per user whose password file is missing or readable beyond its
/// owner; one `ok` line when every user's file is private.
fn credentials(web: &WebPortal, conn: Option<&Connection>) -> Vec<Check> {
    let store = Credentials::from_config(web);
    let dir = store.dir().display().to_string();
    if let Err(err) = std::fs::read_dir(store.dir()) {
        let why = if err.kind() == std::io::ErrorKind::PermissionDenied {
            "as this user (it is root's; systemd hands its files to the units): run the doctor with sudo".to_string()
        } else {
            format!("({err}); create it, mode 0700, with a file per user")
        };
        return vec![Check::fail(
            "credentials",
            format!("cannot read `{dir}` {why}"),
        )];
    }
    let users = match conn.map(users::list).transpose() {
        Ok(users) => users.unwrap_or_default(),
        Err(err) => {
            return vec![Check::fail(
                "credentials",
                format!("cannot list the users: {err:#}"),
            )];
        }
    };
    let failures: Vec<Check> = users
        .iter()
        .filter_map(|user| {
            store
                .file(&user.name)
                .and_then(|path| check_mode(&path))
                .err()
        })
        .map(|why| Check::fail("credentials", why))
        .collect();
    if !failures.is_empty() {
        return failures;
    }
    let count = match users.len() {
        1 => "1 user".to_string(),
        n => format!("{n} users"),
    };
    vec![Check::pass(
        "credentials",
        format!("{count}, each with a private password file in {dir}"),
    )]
}

/// The server at `webdriver_url`, told apart by its `/status`: a Selenium
/// Grid lists its nodes (and must have a free slot for the browser per
/// permit), a chromedriver its build.
fn webdriver(url: &str, browser: &BrowserConfig, max_active_browsers: u32) -> Check {
    let status_url = format!("{url}/status");
    let status = match get_json(&status_url) {
        Ok(status) => status,
        Err(why) => return Check::fail("webdriver", format!("{status_url}: {why}")),
    };
    let value = &status["value"];
    let ready = value["ready"].as_bool().unwrap_or(false);
    let message = value["message"].as_str().unwrap_or_default();
    let Some(nodes) = value["nodes"].as_array() else {
        return match ready {
            true => Check::pass(
                "webdriver",
                format!(
                    "{url} is a WebDriver server, ready ({})",
                    value["build"]["version"]
                        .as_str()
                        .map(|v| format!("version {v}"))
                        .unwrap_or_else(|| message.to_string())
                ),
            ),
            false => Check::fail(
                "webdriver",
                format!("{url} is not ready ({message:?}); check the server's log"),
            ),
        };
    };
    let wanted = browser
        .capabilities
        .get("browserName")
        .and_then(Value::as_str)
        .unwrap_or_else(|| remote_browser_name(browser));
    if !ready {
        return Check::fail(
            "webdriver",
            format!(
                "the Selenium Grid at {url} is not ready ({message:?}, {} nodes); start a node: java -jar selenium-server.jar node --hub {url}",
                nodes.len()
            ),
        );
    }
    let slots: Vec<&Value> = nodes
        .iter()
        .filter(|node| node["availability"] == "UP")
        .flat_map(|node| node["slots"].as_array().into_iter().flatten())
        .filter(|slot| slot["stereotype"]["browserName"] == wanted)
        .collect();
    let free = slots
        .iter()
        .filter(|slot| slot["session"].is_null())
        .count();
    let up = nodes.iter().filter(|n| n["availability"] == "UP").count();
    let found = format!(
        "the Selenium Grid at {url} is ready: {free} of {} `{wanted}` slots free on {up} of {} nodes",
        slots.len(),
        nodes.len()
    );
    if free < max_active_browsers as usize {
        Check::warn(
            "webdriver",
            format!(
                "{found}, fewer than max_active_browsers ({max_active_browsers}); browsers past the free slots wait in the Grid's queue, and fail after browser.session_timeout ({} s): add nodes (--max-sessions) or lower max_active_browsers",
                browser.session_timeout.as_secs_f64()
            ),
        )
    } else {
        Check::pass("webdriver", found)
    }
}

/// The JSON body of a GET on `url` (plain HTTP) within `TIMEOUT`.
fn get_json(url: &str) -> Result<Value, String> {
    if !url.starts_with("http://") {
        return Err("only an http:// WebDriver URL can be checked".into());
    }
    match http_client::get_blocking(url, TIMEOUT) {
        Ok(answer) => serde_json::from_slice(&answer.body).map_err(|_| {
            format!(
                "no WebDriver status (JSON) within {} s; check browser.webdriver_url",
                TIMEOUT.as_secs()
            )
        }),
        Err(GetError::NotHttp) => Err("the answer is not HTTP; check browser.webdriver_url".into()),
        Err(err) => Err(err.to_string()),
    }
}

/// An HTTP GET of `url` answered, below 500, within `TIMEOUT`. For `https://`
/// only the TCP connection is checked.
fn reachable(check: &'static str, url: &str) -> Check {
    match get(url) {
        Ok(answer) => Check::pass(check, format!("{url} answers {answer}")),
        Err(why) => Check::fail(check, format!("{url}: {why}")),
    }
}

fn get(url: &str) -> Result<String, String> {
    match http_client::get_blocking(url, TIMEOUT) {
        Ok(answer) if answer.status >= 500 => Err(format!(
            "answers HTTP {}; check the server's logs",
            answer.status
        )),
        Ok(answer) => Ok(format!("HTTP {}", answer.status)),
        Err(GetError::TlsOnly) => Ok(GetError::TlsOnly.to_string()),
        Err(GetError::NotHttp) => Err("the answer is not HTTP; check base_url".into()),
        Err(err) => Err(err.to_string()),
    }
}
