//! What a failed step leaves behind: a screenshot and the page's HTML, named
//! by run, user, range, order and step, and named in the error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::browser::Browser;
use crate::portal::{JobScope, StepError};

/// Where evidence of one failure goes, and under which name.
pub(super) struct Place<'a> {
    pub artifacts: &'a Path,
    pub user: &'a str,
    /// The run of a login made before any job began.
    pub run_id: i64,
    pub scope: Option<JobScope>,
    pub order: Option<&'a str>,
    /// `login`, `export` or `report`.
    pub flow: &'a str,
}

impl Place<'_> {
    /// `artifacts/run-7/alice/range-1-100-order-ORD-1-report-<time>` (no
    /// extension).
    pub fn base(&self) -> PathBuf {
        let (run, place) = match self.scope {
            Some(JobScope {
                run_id,
                range: Some((start, end)),
            }) => (run_id, format!("range-{start}-{end}")),
            Some(JobScope {
                run_id,
                range: None,
            }) => (run_id, "download".into()),
            None => (self.run_id, "login".into()),
        };
        let order = self
            .order
            .map(|o| format!("-order-{}", safe(o)))
            .unwrap_or_default();
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f");
        self.artifacts
            .join(format!("run-{run}"))
            .join(safe(self.user))
            .join(format!("{place}{order}-{}-{stamp}", self.flow))
    }
}

/// Saves a screenshot and the page's HTML at `base` (.png, .html) and names
/// them in the error, which keeps its kind.
pub(super) async fn save(browser: &Browser, base: &Path, error: StepError) -> StepError {
    if let Some(dir) = base.parent()
        && let Err(err) = std::fs::create_dir_all(dir)
    {
        return error.map(|why| {
            format!(
                "{why} (no screenshot: cannot create `{}`: {err})",
                dir.display()
            )
        });
    }
    let (shot, page) = capture(browser, base).await;
    error.map(|why| format!("{why} ({shot}, {page})"))
}

/// Saves a screenshot and the page's HTML at `base`; says where, or why not.
pub(super) async fn capture(browser: &Browser, base: &Path) -> (String, String) {
    // A stuck page may hold the browser up to its page timeout again.
    let limit = browser.page_timeout * 2 + Duration::from_secs(20);
    let client = &browser.client;
    let with = |extension: &str| {
        let mut name = base.as_os_str().to_owned();
        name.push(format!(".{extension}"));
        PathBuf::from(name)
    };
    let png = with("png");
    let shot = browser
        .command_within(limit, "taking a screenshot", client.screenshot())
        .await
        .map_err(|e| e.message().to_string())
        .and_then(|bytes| std::fs::write(&png, bytes).map_err(|e| e.to_string()));
    let html = with("html");
    let source = browser
        .command_within(limit, "reading the page", client.source())
        .await
        .map_err(|e| e.message().to_string())
        .and_then(|text| std::fs::write(&html, text).map_err(|e| e.to_string()));
    let shot = match shot {
        Ok(()) => format!("screenshot: {}", png.display()),
        Err(err) => format!("no screenshot: {err}"),
    };
    let page = match source {
        Ok(()) => format!("page: {}", html.display()),
        Err(err) => format!("no page: {err}"),
    };
    (shot, page)
}

/// A name safe as one path component.
pub fn safe(name: &str) -> String {
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
