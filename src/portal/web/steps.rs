//! The step interpreter: runs a stretch of a flow in the browser. A `goto`
//! and a `click` are one WebDriver command each; the steps between them that
//! need no navigation run in the page as one script (`steps.js`), which also
//! finds the element of the click that follows.

use std::time::Instant;

use fantoccini::elements::Element;
use serde_json::{Value, json};

use super::browser::Browser;
use super::credentials::Password;
use super::totp::Totp;
use super::trace::Trace;
use crate::config::WebPortal;
use crate::flow::{Choice, Flow, Locator, Step, Template, percent_encode};
use crate::orders::OrderToReport;
use crate::portal::{PortalUser, StepError};

const STEPS_JS: &str = concat!(
    include_str!("find.js"),
    include_str!("net.js"),
    include_str!("steps.js")
);
const WIDGET_JS: &str = concat!(
    include_str!("find.js"),
    include_str!("net.js"),
    include_str!("widget.js")
);

/// The values the placeholders take.
pub(super) struct Vars<'a> {
    pub user: &'a PortalUser,
    pub password: Option<&'a Password>,
    /// The one-time code's secret (while logging in).
    pub totp: Option<&'a Totp>,
    pub order: Option<&'a OrderToReport>,
    pub settings: &'a WebPortal,
}

impl Vars<'_> {
    fn value(&self, name: &str, in_url: bool) -> Option<String> {
        let order = || self.order;
        Some(match name {
            "user" => self.user.name.clone(),
            "login" => self.user.login.clone(),
            "password" => self.password?.expose().to_string(),
            "totp" => self.totp?.code_for_now(unix_now()).0,
            "reason" => self.settings.report_reason.clone(),
            "comment" => self.settings.report_comment.clone(),
            "order" => {
                let order = order()?;
                match (&self.settings.csv.url_id, in_url) {
                    (Some(column), true) => order
                        .fields
                        .get(column)
                        .cloned()
                        .unwrap_or_else(|| order.id.clone()),
                    _ => order.id.clone(),
                }
            }
            other => {
                let column = other.strip_prefix("column:")?;
                order()?.fields.get(column)?.clone()
            }
        })
    }

    /// A value typed into the page.
    fn text(&self, template: &Template) -> Result<String, String> {
        template.render(|name| self.value(name, false), str::to_string)
    }

    /// A URL: each placeholder percent-encoded.
    pub fn url(&self, template: &Template) -> Result<String, String> {
        let path = template.render(|name| self.value(name, true), percent_encode)?;
        Ok(self.settings.url(&path))
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// How a stretch of steps ended, when it did not fail.
pub(super) enum Flowed {
    /// Every step ran; the element found for the click that follows, and
    /// the page's state (`net.js`) when it was found.
    Done(Option<(Element, Value)>),
    /// The order already has a report (`reported_if` matched).
    Reported,
    /// The portal shows its login form: the session ended.
    LoggedOut,
}

/// What a script of ops left.
enum Flush {
    Continue(Option<(Element, Value)>),
    Halt(Flowed),
}

/// How WebDriver says a script's page went away while it ran.
fn page_left(message: &str) -> bool {
    [
        "script timeout",
        "document unloaded",
        "Execution context was destroyed",
        "Cannot find context",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// How a WebDriver click that did not land says so: it is tried again.
fn click_missed(err: &StepError) -> bool {
    let StepError::Retryable(message) = err else {
        return false;
    };
    [
        "intercepted",
        "stale element",
        "not interactable",
        "not clickable",
    ]
    .iter()
    .any(|m| message.contains(m))
}

pub(super) struct Runner<'a> {
    pub browser: &'a Browser,
    pub flow: &'a Flow,
    pub vars: Vars<'a>,
    /// The login form's locator, to notice an ended session; `None` while
    /// logging in.
    pub login_form: Option<&'a [Locator]>,
    /// `portal try`: each step runs on its own and the page is saved after it.
    pub trace: Option<&'a Trace>,
}

impl Runner<'_> {
    /// Runs steps `from..to`, then finds the element of step `to` when it is
    /// a click, submit or download that the caller runs itself.
    pub async fn run(&self, from: usize, to: usize) -> Result<Flowed, StepError> {
        let mut ops = Vec::new();
        for index in from..to {
            match &self.flow.steps[index] {
                Step::Goto(template) => {
                    if !ops.is_empty()
                        && let Flush::Halt(halt) = self.flush(&mut ops, None).await?
                    {
                        return Ok(halt);
                    }
                    let url = self
                        .vars
                        .url(template)
                        .map_err(|why| self.unfit(index, &why))?;
                    self.browser
                        .goto(&url)
                        .await
                        .map_err(|e| e.map(|m| format!("{}: {m}", self.flow.describe(index))))?;
                    self.traced(index).await;
                }
                Step::Click(target) => {
                    let element = match self.flush(&mut ops, Some((index, target))).await? {
                        Flush::Halt(halt) => return Ok(halt),
                        Flush::Continue(element) => element,
                    };
                    let (element, _) = element.ok_or_else(|| self.missing(index, ""))?;
                    if let Some(halt) = self.click(index, target, element).await? {
                        return Ok(halt);
                    }
                    self.traced(index).await;
                }
                step => {
                    if let (Step::Fill { value, .. }, Some(totp)) = (step, self.vars.totp)
                        && value.placeholders().contains(&"totp")
                    {
                        // A code about to expire is not typed: wait for the next.
                        let (_, wait) = totp.code_for_now(unix_now());
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                    }
                    ops.push(self.op(index, step)?);
                    if self.trace.is_some() {
                        if let Flush::Halt(halt) = self.flush(&mut ops, None).await? {
                            self.traced(index).await;
                            return Ok(halt);
                        }
                        self.traced(index).await;
                    }
                }
            }
        }
        let find = self.flow.steps.get(to).and_then(|step| match step {
            Step::Submit(target) | Step::Click(target) => Some((to, target)),
            _ => None,
        });
        match self.flush(&mut ops, find).await? {
            Flush::Halt(halt) => Ok(halt),
            Flush::Continue(element) => Ok(Flowed::Done(element)),
        }
    }

    /// A real click on step `index`'s element. One that does not land (the
    /// element moved, went stale or something covers it) is tried again,
    /// the element found afresh, within the page timeout.
    pub async fn click(
        &self,
        index: usize,
        target: &Locator,
        mut element: Element,
    ) -> Result<Option<Flowed>, StepError> {
        let what = self.flow.describe(index);
        let deadline = Instant::now() + self.browser.page_timeout;
        loop {
            match self.browser.click(&what, &element).await {
                Ok(()) => return Ok(None),
                Err(err) if click_missed(&err) && Instant::now() < deadline => {
                    tracing::debug!(step = %what, "the click did not land; trying it again");
                }
                Err(err) => return Err(err),
            }
            match self.flush(&mut Vec::new(), Some((index, target))).await? {
                Flush::Halt(halt) => return Ok(Some(halt)),
                Flush::Continue(Some((found, _))) => element = found,
                Flush::Continue(None) => return Err(self.missing(index, "")),
            }
        }
    }

    async fn traced(&self, index: usize) {
        if let Some(trace) = self.trace {
            trace.after(self.browser, self.flow, index).await;
        }
    }

    /// One step as an op of the page script.
    fn op(&self, index: usize, step: &Step) -> Result<Value, StepError> {
        let text = |t: &Template| self.vars.text(t).map_err(|why| self.unfit(index, &why));
        let loc = |l: &Locator| json!({"kind": l.kind.script_name(), "value": l.value});
        Ok(match step {
            Step::Fill {
                target,
                value,
                optional,
            } => {
                json!({"op": "fill", "index": index, "loc": loc(target), "value": text(value)?, "optional": optional})
            }
            Step::Select { target, choice } => {
                let (by, value) = match choice {
                    Choice::Value(t) => ("value", text(t)?),
                    Choice::Text(t) => ("text", text(t)?),
                    Choice::Index(i) => ("index", i.to_string()),
                };
                json!({"op": "select", "index": index, "loc": loc(target), "by": by, "value": value})
            }
            Step::Check { target, checked } => {
                json!({"op": "check", "index": index, "loc": loc(target), "checked": checked})
            }
            Step::ClickIfPresent(target) => {
                json!({"op": "click_if_present", "index": index, "loc": loc(target)})
            }
            Step::WaitFor { target, text: t } => {
                let t = t.as_ref().map(text).transpose()?;
                json!({"op": "wait_for", "index": index, "loc": loc(target), "text": t})
            }
            Step::ReportedIf(target) => {
                json!({"op": "reported_if", "index": index, "loc": loc(target)})
            }
            Step::WaitGone(target) => {
                json!({"op": "wait_gone", "index": index, "loc": loc(target)})
            }
            other => {
                return Err(StepError::Unfit(format!(
                    "{}: `{}` cannot run here",
                    self.flow.describe(index),
                    other.action()
                )));
            }
        })
    }

    /// Runs the pending ops (and finds `find`'s element) in one script; a
    /// select on a custom widget is worked between two scripts.
    async fn flush(
        &self,
        ops: &mut Vec<Value>,
        find: Option<(usize, &Locator)>,
    ) -> Result<Flush, StepError> {
        if let Some((index, target)) = find {
            ops.push(json!({"op": "find", "index": index, "loc": {"kind": target.kind.script_name(), "value": target.value}}));
        }
        let mut ops = std::mem::take(ops);
        let mut reloads = 0;
        let flush_started = Instant::now();
        loop {
            let left = self.browser.state().left.clone();
            if ops.is_empty() && left.is_none() {
                return Ok(Flush::Continue(None));
            }
            let timeout_ms = self.script_timeout_ms();
            let login_form = self.login_form.map(super::session::login_form_json);
            let first = ops.first().and_then(|op| op["index"].as_u64()).unwrap_or(0) as usize;
            let what = self.flow.describe(first);
            let args = vec![
                Value::Array(ops.clone()),
                json!(timeout_ms),
                json!(login_form),
                json!(left),
            ];
            let started = Instant::now();
            let reply = match self.browser.run_async(&what, STEPS_JS, args).await {
                Ok(reply) => reply,
                // The page went away under the script (a form a script
                // submits a moment after the click): run the steps again on
                // the page that came, within the page timeout. Each step
                // gives the same result when run twice.
                Err(StepError::Retryable(why))
                    if page_left(&why) && flush_started.elapsed() < self.browser.page_timeout =>
                {
                    tracing::debug!(step = %what, "the page changed under the steps; running them again");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                Err(err) => return Err(err),
            };
            self.browser
                .saw(&reply["doc"], &reply["seq"], reply["busy"] == true);
            let answer = &reply["answer"];
            tracing::trace!(step = %what, ?answer, elapsed = ?started.elapsed(), "steps");
            let index = |i: usize| answer[i].as_u64().map(|n| n as usize);
            match answer[0].as_str().unwrap_or_default() {
                "ok" => {
                    let element = self.browser.element(&answer[1]);
                    return Ok(Flush::Continue(element.map(|e| (e, answer[2].clone()))));
                }
                "same-document" if reloads < 2 => {
                    // A goto to a route in the fragment stayed in the page:
                    // load it afresh, as a person's reload would.
                    reloads += 1;
                    self.browser.reload().await?;
                }
                "same-document" => {
                    return Err(StepError::Retryable(format!(
                        "{what}: the page did not load afresh after opening it"
                    )));
                }
                "widget" => {
                    let at = index(1).unwrap_or(first);
                    let widget = self
                        .browser
                        .element(&answer[2])
                        .ok_or_else(|| self.missing(at, ""))?;
                    let op = ops
                        .iter()
                        .find(|op| op["index"].as_u64() == Some(at as u64))
                        .cloned()
                        .unwrap_or_default();
                    if let Some(halt) = self.select_in_widget(at, &op, widget).await? {
                        return Ok(Flush::Halt(halt));
                    }
                    ops.retain(|op| op["index"].as_u64().is_some_and(|i| i as usize > at));
                }
                "reported" => return Ok(Flush::Halt(Flowed::Reported)),
                "login" => return Ok(Flush::Halt(Flowed::LoggedOut)),
                "http" => {
                    return Err(StepError::Retryable(format!(
                        "{what}: the page answered HTTP {}",
                        answer[1]
                    )));
                }
                "missing" => {
                    let why = answer[2].as_str().unwrap_or_default();
                    return Err(self.missing(index(1).unwrap_or(first), why));
                }
                "option" => {
                    let i = index(1).unwrap_or(first);
                    return Err(self.unfit(i, "the list has no such option"));
                }
                "error" => {
                    let i = index(1).unwrap_or(first);
                    return Err(self.unfit(
                        i,
                        &format!(
                            "the page script failed: {}",
                            answer[2].as_str().unwrap_or("no reason given")
                        ),
                    ));
                }
                other => {
                    return Err(StepError::Retryable(format!(
                        "{what}: unexpected answer {other:?} from the page"
                    )));
                }
            }
        }
    }

    fn script_timeout_ms(&self) -> u64 {
        (self.browser.page_timeout.as_millis() as u64 * 4 / 5).max(500)
    }

    /// A `select` on a custom widget, as a person works it: a real click
    /// opens it, the option is clicked once the list holds still, and the
    /// widget must then show that option. A click that closed the list
    /// without a choice (it landed during the opening animation) opens it
    /// again, within the page timeout.
    async fn select_in_widget(
        &self,
        index: usize,
        op: &Value,
        widget: Element,
    ) -> Result<Option<Flowed>, StepError> {
        let what = self.flow.describe(index);
        let deadline = Instant::now() + self.browser.page_timeout;
        let (by, value) = (op["by"].clone(), op["value"].clone());
        let widget_value = || serde_json::to_value(&widget).unwrap_or_default();
        loop {
            match self.browser.click(&what, &widget).await {
                Ok(()) => {}
                Err(err) if click_missed(&err) && Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
                Err(err) => return Err(err),
            }
            let args = vec![
                widget_value(),
                by.clone(),
                value.clone(),
                Value::Null,
                json!(self.script_timeout_ms()),
                json!("pick"),
            ];
            let answer = self.browser.run_async(&what, WIDGET_JS, args).await?;
            let option_text = answer[2].clone();
            match answer[0].as_str().unwrap_or_default() {
                "option" => {
                    let option = self
                        .browser
                        .element(&answer[1])
                        .ok_or_else(|| self.missing(index, "its option left the page"))?;
                    match self.browser.click(&what, &option).await {
                        Ok(()) => {}
                        Err(err) if click_missed(&err) && Instant::now() < deadline => continue,
                        Err(err) => return Err(err),
                    }
                }
                "closed" if Instant::now() < deadline => continue,
                "closed" => {
                    return Err(StepError::Retryable(format!(
                        "{what}: clicking it opened no list of options"
                    )));
                }
                "no-option" => {
                    let shown: Vec<&str> = answer[1]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    return Err(self.unfit(
                        index,
                        &format!(
                            "its list has no option {by} {value} (it shows: {})",
                            shown.join(", ")
                        ),
                    ));
                }
                "busy" => {
                    let why = answer[1].as_str().unwrap_or_default();
                    return Err(StepError::Retryable(format!(
                        "{what}: its option cannot be clicked: {why}"
                    )));
                }
                _ => {
                    return Err(StepError::Retryable(format!(
                        "{what}: {}",
                        answer[1].as_str().unwrap_or("the list could not be read")
                    )));
                }
            }
            let args = vec![
                widget_value(),
                by.clone(),
                value.clone(),
                option_text,
                json!(self.script_timeout_ms().min(5_000)),
                json!("check"),
            ];
            let answer = self.browser.run_async(&what, WIDGET_JS, args).await?;
            self.browser.state().clicked = false;
            return match answer[0].as_str().unwrap_or_default() {
                "ok" => Ok(None),
                _ => Err(StepError::Retryable(format!(
                    "{what}: after the click on the option the widget shows {:?}, not the option {by} {value}",
                    answer[1].as_str().unwrap_or_default()
                ))),
            };
        }
    }

    /// The page script searches for four fifths of `page_timeout` (the rest
    /// is the page's own time to answer); the step as a whole is bounded by
    /// `page_timeout`, which is the figure an operator set and looks for.
    fn missing(&self, index: usize, why: &str) -> StepError {
        let secs = self.browser.page_timeout.as_secs_f64();
        let why = if why.is_empty() {
            "nothing on the page matches it"
        } else {
            why
        };
        self.unfit(
            index,
            &format!("{why} after portal.page_timeout ({secs:.0} s); check the selector against the page saved beside this error"),
        )
    }

    fn unfit(&self, index: usize, why: &str) -> StepError {
        StepError::Unfit(format!("{}: {why}", self.flow.describe(index)))
    }
}
