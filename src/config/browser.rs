//! `[browser]`: how Chromium is reached, a local chromedriver or a WebDriver
//! server (chromedriver, a Selenium Grid), and what every session asks for.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;

use super::values::{Origin, bad, check, check_http_url, seconds};

/// How Chromium is reached.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserConfig {
    /// A running WebDriver server (chromedriver, or a Selenium Grid hub);
    /// without it each worker starts and supervises its own `chromedriver`.
    pub webdriver_url: Option<String>,
    pub chromedriver: PathBuf,
    /// The Chromium binary a local chromedriver starts. Through a
    /// `webdriver_url` it is sent only when the config names it (a Grid
    /// node finds its own browser).
    pub chromium: PathBuf,
    pub chromium_given: bool,
    /// `[browser.capabilities]`: merged into every new-session request
    /// (`goog:chromeOptions.args` appended to ours, other keys replacing).
    pub capabilities: serde_json::Map<String, serde_json::Value>,
    /// Longest wait for a new session: a saturated Grid queues requests;
    /// past this the step fails and the permit is given back.
    pub session_timeout: Duration,
    /// `images = false`: pages load without their images (less work for
    /// Chromium; the flows read no image).
    pub images: bool,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        BrowserConfig {
            webdriver_url: None,
            chromedriver: "chromedriver".into(),
            chromium: "chromium".into(),
            chromium_given: false,
            capabilities: serde_json::Map::new(),
            session_timeout: Duration::from_secs(60),
            images: true,
        }
    }
}

/// The `[browser]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileBrowser {
    pub webdriver_url: Option<String>,
    pub chromedriver: Option<PathBuf>,
    pub chromium: Option<PathBuf>,
    pub capabilities: Option<serde_json::Map<String, serde_json::Value>>,
    pub session_timeout: Option<f64>,
    pub images: Option<bool>,
}

impl BrowserConfig {
    /// Takes `[browser]`, each key checked; `webdriver_url` may come from
    /// the environment (`url_origin`).
    pub(super) fn apply(
        &mut self,
        file: FileBrowser,
        origin: Origin,
        url_origin: Origin,
    ) -> Result<()> {
        if let Some(v) = file.webdriver_url {
            let key = "browser.webdriver_url";
            self.webdriver_url = Some(check(url_origin, key, &v, check_http_url(&v))?);
        }
        if let Some(v) = file.chromedriver {
            self.chromedriver = v;
        }
        if let Some(v) = file.chromium {
            self.chromium = v;
            self.chromium_given = true;
        }
        if let Some(v) = file.session_timeout {
            self.session_timeout = check(origin, "browser.session_timeout", v, seconds(v, 1.0))?;
        }
        if let Some(v) = file.images {
            self.images = v;
        }
        if let Some(v) = file.capabilities {
            let args = v
                .get("goog:chromeOptions")
                .map(|options| options.get("args"));
            if let Some(Some(args)) = args
                && !args
                    .as_array()
                    .is_some_and(|a| a.iter().all(|x| x.is_string()))
            {
                return Err(bad(
                    origin,
                    "browser.capabilities.\"goog:chromeOptions\".args",
                    &args,
                    "give a list of strings, e.g. [\"--lang=de\"]",
                ));
            }
            self.capabilities = v;
        }
        Ok(())
    }
}
