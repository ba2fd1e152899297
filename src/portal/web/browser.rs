//! One Chromium through WebDriver: each command counted, bounded by the page
//! timeout, and its failure sorted by what can fix it (a dead session is not
//! a slow page).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::Client;
use fantoccini::elements::{Element, ElementRef};
use fantoccini::error::CmdError;
use serde_json::Value;

use super::BrowserStats;
use crate::portal::StepError;

/// The key WebDriver gives an element in a script's answer.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub(super) struct Browser {
    pub client: Client,
    pub page_timeout: Duration,
    pub stats: Arc<BrowserStats>,
    /// What the browser knows of its page.
    pub page: Mutex<PageState>,
}

/// The page as the last script saw it.
#[derive(Debug, Default)]
pub(super) struct PageState {
    /// The id `net.js` gave the document.
    pub doc: Option<String>,
    /// Set by a `goto`: the document that must not be the one shown next (a
    /// route in the URL's fragment navigates within the page).
    pub left: Option<String>,
    /// A click since the last script: a request it started may be in flight.
    pub clicked: bool,
    /// The last request id `net.js` reported.
    pub seq: u64,
    /// The document and request id when the last click was made.
    pub click_mark: Option<(String, u64)>,
}

/// Waits until the page has no request in flight that changes something.
/// Arguments: (timeoutMs, done); answers the requests still in flight.
const QUIET_JS: &str = concat!(
    include_str!("net.js"),
    "const [timeoutMs, done] = arguments;
const deadline = Date.now() + timeoutMs;
(function poll() {
  const busy = changesInFlight();
  if (!busy.length || Date.now() > deadline) return done(busy.map((e) => e.method + ' ' + e.url));
  setTimeout(poll, 50);
})();"
);

impl Browser {
    /// Runs one WebDriver command, counted, within the page timeout (and a
    /// margin for the browser to answer).
    pub async fn command<T>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, CmdError>>,
    ) -> Result<T, StepError> {
        self.command_within(self.page_timeout + Duration::from_secs(5), what, command)
            .await
    }

    pub async fn command_within<T>(
        &self,
        limit: Duration,
        what: &str,
        command: impl Future<Output = Result<T, CmdError>>,
    ) -> Result<T, StepError> {
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(limit, command).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(classify(what, &err)),
            Err(_) => Err(StepError::Retryable(format!(
                "{what}: no answer within {} s",
                limit.as_secs()
            ))),
        }
    }

    /// Opens a URL; the next script checks that a new document was loaded.
    /// A change the page still has in flight after a click is awaited first,
    /// so leaving never cuts a request short.
    pub async fn goto(&self, url: &str) -> Result<(), StepError> {
        if self.state().clicked {
            self.settle().await?;
        }
        {
            let mut page = self.state();
            page.left = page.doc.clone();
        }
        self.command(&format!("opening {url}"), self.client.goto(url))
            .await
    }

    /// Loads the page shown again.
    pub async fn reload(&self) -> Result<(), StepError> {
        self.command("reloading the page", self.client.refresh())
            .await
    }

    /// Waits, up to the page timeout, until no request that changes
    /// something is in flight; fails naming those still in flight.
    pub async fn settle(&self) -> Result<(), StepError> {
        let limit = self.page_timeout.as_millis() as u64;
        let busy = self
            .run_async(
                "waiting for the page's requests",
                QUIET_JS,
                vec![limit.into()],
            )
            .await?;
        self.state().clicked = false;
        match busy.as_array() {
            Some(busy) if !busy.is_empty() => Err(StepError::Retryable(format!(
                "the page's requests were still in flight after {} s: {}",
                self.page_timeout.as_secs(),
                busy.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            _ => Ok(()),
        }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, PageState> {
        self.page.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes the document a script ran in: once it is not the one a
    /// `goto` left, the goto is done. `busy`: whether a change the page sent
    /// is still in flight (else nothing needs awaiting before leaving).
    pub fn saw(&self, doc: &Value, seq: &Value, busy: bool) {
        if let Some(doc) = doc.as_str() {
            let mut page = self.state();
            page.seq = seq.as_u64().unwrap_or(0);
            if page.left.as_deref() != Some(doc) {
                page.left = None;
            }
            page.doc = Some(doc.to_string());
            page.clicked &= busy;
        }
    }

    /// Runs a script that answers through its callback (the last argument).
    pub async fn run_async(
        &self,
        what: &str,
        script: &str,
        args: Vec<Value>,
    ) -> Result<Value, StepError> {
        self.command(what, self.client.execute_async(script, args))
            .await
    }

    pub async fn run(
        &self,
        what: &str,
        script: &str,
        args: Vec<Value>,
    ) -> Result<Value, StepError> {
        self.command(what, self.client.execute(script, args)).await
    }

    /// The element a script returned.
    pub fn element(&self, value: &Value) -> Option<Element> {
        let id = value.get(ELEMENT_KEY)?.as_str()?;
        Some(Element::from_element_id(
            self.client.clone(),
            ElementRef::from(id.to_string()),
        ))
    }

    pub async fn click(&self, what: &str, element: &Element) -> Result<(), StepError> {
        {
            let mut page = self.state();
            page.clicked = true;
            page.click_mark = page.doc.clone().map(|doc| (doc, page.seq));
        }
        self.command(what, element.click()).await
    }
}

/// Sorts a WebDriver failure: a session that is gone (the browser or its
/// node died) cannot be retried in place; anything else on a page can. A
/// Selenium Grid hub whose node died answers HTTP 408 `{"message":
/// "Connection failure"}` (no W3C error code) until it drops the session, and
/// then "invalid session id".
fn classify(what: &str, err: &CmdError) -> StepError {
    let message = format!("{what}: {err}");
    let gone = err.is_invalid_session_id()
        || matches!(
            err,
            CmdError::Lost(_) | CmdError::Failed(_) | CmdError::FailedC(_) | CmdError::NotW3C(_)
        )
        || message.contains("session deleted")
        || message.contains("disconnected: not connected to DevTools")
        || message.contains("chrome not reachable")
        || message.contains("Unable to execute request for an existing session")
        || message.contains("Unable to find session");
    if gone {
        StepError::Browser(message)
    } else {
        StepError::Retryable(message)
    }
}
