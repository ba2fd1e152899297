//! `[portal] kind = "web"` and `[browser]`: where the portal is, how its pages
//! are found (paths and CSS selectors, so an operator can point `reporter` at
//! the real portal without a rebuild), where the passwords are, and how
//! Chromium is reached.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde::Deserialize;

use super::{Origin, bad, check, seconds};

/// The web portal's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WebPortal {
    /// `http://host:port`, without a trailing slash.
    pub base_url: String,
    /// One file per user, named as the user, holding the password. Without
    /// it: `$CREDENTIALS_DIRECTORY` (files `portal_<user>`), else
    /// `/etc/reporter/credentials`.
    pub credentials_dir: Option<PathBuf>,
    /// An exported order needs a report when its status is one of these and
    /// it was not reported since it entered that status.
    pub report_statuses: Vec<String>,
    /// The value chosen in the report form's reason list.
    pub report_reason: String,
    pub report_comment: String,
    /// Longest wait for one page or one download; a stuck page fails the step
    /// (retryable).
    pub page_timeout: Duration,
    /// Where screenshots and page HTML of failed steps go; without it, beside
    /// the database in `artifacts/`.
    pub artifacts_dir: Option<PathBuf>,
    pub paths: PortalPaths,
    pub selectors: PortalSelectors,
}

/// Paths under `base_url`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalPaths {
    pub login: String,
    /// The page with the export link.
    pub orders: String,
    /// One order's page; `{order}` is replaced by the order id.
    pub order: String,
}

/// CSS selectors of the elements the browser steps use.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalSelectors {
    pub login_user: String,
    pub login_password: String,
    pub login_submit: String,
    /// Shown on the login page after a wrong password.
    pub login_error: String,
    /// The link that downloads the orders export (CSV).
    pub export_link: String,
    /// Shown on an order's page once it has a report.
    pub already_reported: String,
    pub report_form: String,
    pub report_reason: String,
    pub report_comment: String,
    pub report_submit: String,
    /// Shown once a report is received.
    pub confirmation: String,
}

/// How Chromium is reached.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserConfig {
    /// A running WebDriver server; without it each worker starts and
    /// supervises its own `chromedriver`.
    pub webdriver_url: Option<String>,
    pub chromedriver: PathBuf,
    pub chromium: PathBuf,
}

impl Default for PortalPaths {
    fn default() -> Self {
        PortalPaths {
            login: "/login".into(),
            orders: "/orders".into(),
            order: "/orders/{order}".into(),
        }
    }
}

impl Default for PortalSelectors {
    fn default() -> Self {
        PortalSelectors {
            login_user: "#login".into(),
            login_password: "#password".into(),
            login_submit: "#login-submit".into(),
            login_error: "#login-error".into(),
            export_link: "#export".into(),
            already_reported: "#already-reported".into(),
            report_form: "#report-form".into(),
            report_reason: "#reason".into(),
            report_comment: "#comment".into(),
            report_submit: "#report-submit".into(),
            confirmation: "#confirmation".into(),
        }
    }
}

impl Default for BrowserConfig {
    fn default() -> Self {
        BrowserConfig {
            webdriver_url: None,
            chromedriver: "chromedriver".into(),
            chromium: "chromium".into(),
        }
    }
}

impl WebPortal {
    fn new(base_url: String) -> WebPortal {
        WebPortal {
            base_url,
            credentials_dir: None,
            report_statuses: vec!["disputed".into()],
            report_reason: "not_received".into(),
            report_comment: "Reported automatically by reporter".into(),
            page_timeout: Duration::from_secs(30),
            artifacts_dir: None,
            paths: PortalPaths::default(),
            selectors: PortalSelectors::default(),
        }
    }

    /// The URL of a path under the portal.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The URL of one order's page.
    pub fn order_url(&self, order: &str) -> String {
        self.url(&self.paths.order.replace("{order}", order))
    }
}

/// The web keys of the `[portal]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWeb {
    pub base_url: Option<String>,
    pub credentials_dir: Option<PathBuf>,
    pub report_statuses: Option<Vec<String>>,
    pub report_reason: Option<String>,
    pub report_comment: Option<String>,
    pub page_timeout: Option<f64>,
    pub artifacts_dir: Option<PathBuf>,
    pub paths: Option<PortalPaths>,
    pub selectors: Option<PortalSelectors>,
}

/// The `[browser]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileBrowser {
    pub webdriver_url: Option<String>,
    pub chromedriver: Option<PathBuf>,
    pub chromium: Option<PathBuf>,
}

impl FileWeb {
    pub fn is_empty(&self) -> bool {
        self.base_url.is_none()
            && self.credentials_dir.is_none()
            && self.report_statuses.is_none()
            && self.report_reason.is_none()
            && self.report_comment.is_none()
            && self.page_timeout.is_none()
            && self.artifacts_dir.is_none()
            && self.paths.is_none()
            && self.selectors.is_none()
    }

    /// Builds the web portal's settings, every value checked.
    pub fn into_portal(self, origin: Origin) -> Result<WebPortal> {
        let Some(base_url) = self.base_url else {
            return Err(bad(
                origin,
                "portal.base_url",
                "(missing)",
                "a web portal needs its address, e.g. base_url = \"https://portal.example.com\"",
            ));
        };
        let base_url = check(
            origin,
            "portal.base_url",
            &base_url,
            check_http_url(&base_url),
        )?;
        let mut web = WebPortal::new(base_url);
        web.credentials_dir = self.credentials_dir;
        web.artifacts_dir = self.artifacts_dir;
        if let Some(v) = self.report_statuses {
            if v.is_empty() || v.iter().any(|s| s.trim().is_empty()) {
                return Err(bad(
                    origin,
                    "portal.report_statuses",
                    &format!("{v:?}"),
                    "give at least one status, e.g. [\"disputed\"]",
                ));
            }
            web.report_statuses = v;
        }
        if let Some(v) = self.report_reason {
            web.report_reason = v;
        }
        if let Some(v) = self.report_comment {
            web.report_comment = v;
        }
        if let Some(v) = self.page_timeout {
            web.page_timeout = check(origin, "portal.page_timeout", v, seconds(v, 1.0))?;
        }
        if let Some(paths) = self.paths {
            for (key, path) in [
                ("portal.paths.login", &paths.login),
                ("portal.paths.orders", &paths.orders),
                ("portal.paths.order", &paths.order),
            ] {
                if !path.starts_with('/') {
                    return Err(bad(origin, key, path, "give a path that starts with `/`"));
                }
            }
            if !paths.order.contains("{order}") {
                return Err(bad(
                    origin,
                    "portal.paths.order",
                    &paths.order,
                    "it must contain `{order}`, where the order id goes",
                ));
            }
            web.paths = paths;
        }
        if let Some(selectors) = self.selectors {
            web.selectors = selectors;
        }
        Ok(web)
    }
}

impl BrowserConfig {
    pub(super) fn apply(&mut self, file: FileBrowser, origin: Origin) -> Result<()> {
        if let Some(v) = file.webdriver_url {
            self.webdriver_url = Some(check(
                origin,
                "browser.webdriver_url",
                &v,
                check_http_url(&v),
            )?);
        }
        if let Some(v) = file.chromedriver {
            self.chromedriver = v;
        }
        if let Some(v) = file.chromium {
            self.chromium = v;
        }
        Ok(())
    }
}

/// An `http://` or `https://` URL with a host, without its trailing slash.
pub(super) fn check_http_url(url: &str) -> std::result::Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("give an http:// or https:// URL")?;
    if rest.trim_end_matches('/').is_empty() || rest.contains(char::is_whitespace) {
        return Err("give an http:// or https:// URL with a host".into());
    }
    Ok(url.trim_end_matches('/').to_string())
}
