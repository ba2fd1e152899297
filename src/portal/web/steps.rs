//! The step interpreter: runs a stretch of a flow in the browser. A `goto`
//! and a `click` are one WebDriver command each; the steps between them that
//! need no navigation run in the page as one script (`steps.js`), which also
//! finds the element of the click that follows.

use fantoccini::elements::Element;
use serde_json::{Value, json};

use super::browser::Browser;
use super::credentials::Password;
use super::trace::Trace;
use crate::config::WebPortal;
use crate::flow::{Choice, Flow, Locator, Step, Template, percent_encode};
use crate::orders::OrderToReport;
use crate::portal::{PortalUser, StepError};

const STEPS_JS: &str = concat!(include_str!("find.js"), include_str!("steps.js"));

/// The values the placeholders take.
pub(super) struct Vars<'a> {
    pub user: &'a PortalUser,
    pub password: Option<&'a Password>,
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
    fn url(&self, template: &Template) -> Result<String, String> {
        let path = template.render(|name| self.value(name, true), percent_encode)?;
        Ok(self.settings.url(&path))
    }
}

/// How a stretch of steps ended, when it did not fail.
pub(super) enum Flowed {
    /// Every step ran; the element found for the click that follows.
    Done(Option<Element>),
    /// The order already has a report (`reported_if` matched).
    Reported,
    /// The portal shows its login form: the session ended.
    LoggedOut,
}

/// What a script of ops left.
enum Flush {
    Continue(Option<Element>),
    Halt(Flowed),
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
                    if let Flush::Halt(halt) = self.flush(&mut ops, None).await? {
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
                    let element = element.ok_or_else(|| self.missing(index))?;
                    let what = self.flow.describe(index);
                    self.browser.click(&what, &element).await?;
                    self.traced(index).await;
                }
                step => {
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
            other => {
                return Err(StepError::Unfit(format!(
                    "{}: `{}` cannot run here",
                    self.flow.describe(index),
                    other.action()
                )));
            }
        })
    }

    /// Runs the pending ops (and finds `find`'s element) in one script.
    async fn flush(
        &self,
        ops: &mut Vec<Value>,
        find: Option<(usize, &Locator)>,
    ) -> Result<Flush, StepError> {
        if let Some((index, target)) = find {
            ops.push(json!({"op": "find", "index": index, "loc": {"kind": target.kind.script_name(), "value": target.value}}));
        }
        if ops.is_empty() {
            return Ok(Flush::Continue(None));
        }
        let timeout_ms = (self.browser.page_timeout.as_millis() as u64 * 4 / 5).max(500);
        let login_form = self.login_form.map(super::session::login_form_json);
        let first = ops[0]["index"].as_u64().unwrap_or(0) as usize;
        let what = self.flow.describe(first);
        let args = vec![
            Value::Array(std::mem::take(ops)),
            json!(timeout_ms),
            json!(login_form),
        ];
        let answer = self.browser.run_async(&what, STEPS_JS, args).await?;
        let index = |i: usize| answer[i].as_u64().map(|n| n as usize);
        match answer[0].as_str().unwrap_or_default() {
            "ok" => Ok(Flush::Continue(self.browser.element(&answer[1]))),
            "reported" => Ok(Flush::Halt(Flowed::Reported)),
            "login" => Ok(Flush::Halt(Flowed::LoggedOut)),
            "http" => Err(StepError::Retryable(format!(
                "{what}: the page answered HTTP {}",
                answer[1]
            ))),
            "missing" => Err(self.missing(index(1).unwrap_or(first))),
            "option" => {
                let i = index(1).unwrap_or(first);
                Err(self.unfit(i, "the list has no such option"))
            }
            "error" => {
                let i = index(1).unwrap_or(first);
                Err(self.unfit(i, answer[2].as_str().unwrap_or("the page script failed")))
            }
            other => Err(StepError::Retryable(format!(
                "{what}: unexpected answer {other:?} from the page"
            ))),
        }
    }

    /// The page script searches for four fifths of `page_timeout` (the rest
    /// is the page's own time to answer); the step as a whole is bounded by
    /// `page_timeout`, which is the figure an operator set and looks for.
    fn missing(&self, index: usize) -> StepError {
        let secs = self.browser.page_timeout.as_secs_f64();
        self.unfit(
            index,
            &format!("nothing on the page matches it within portal.page_timeout ({secs:.0} s); check the selector against the page saved beside this error"),
        )
    }

    fn unfit(&self, index: usize, why: &str) -> StepError {
        StepError::Unfit(format!("{}: {why}", self.flow.describe(index)))
    }
}
