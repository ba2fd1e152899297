//! One Chromium through WebDriver: each command counted, bounded by the page
//! timeout, and its failure sorted by what can fix it (a dead session is not
//! a slow page).

use std::sync::Arc;
use std::sync::atomic::Ordering;
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
}

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

    pub async fn goto(&self, url: &str) -> Result<(), StepError> {
        self.command(&format!("opening {url}"), self.client.goto(url))
            .await
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
