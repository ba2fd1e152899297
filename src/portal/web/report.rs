//! Reporting one order: the report flow up to its submit (which also asks
//! whether the order already has a report), then the submit and the wait for
//! the portal's answer.

use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use serde_json::json;

use super::session::{WebSession, locator_json, login_form_json};
use super::steps::Flowed;
use crate::flow::{Flow, Locator, Part, RequestPattern, Step};
use crate::orders::OrderToReport;
use crate::portal::{PortalSession, StepError};

/// Reads the portal's answer after a submit.
const ANSWER_JS: &str = concat!(
    include_str!("find.js"),
    include_str!("net.js"),
    include_str!("answer.js")
);

/// One part of the report flow around its submit, as the answer script
/// needs it.
pub(super) struct Shape<'a> {
    pub part: Part,
    pub button: &'a Locator,
    pub confirmation: Option<&'a Locator>,
    pub form_error: Option<&'a Locator>,
    pub request: Option<&'a RequestPattern>,
    pub reported: Option<&'a Locator>,
}

impl Shape<'_> {
    pub fn of(flow: &Flow, part: Part) -> Shape<'_> {
        let Step::Submit(button) = &flow.steps[part.submit] else {
            unreachable!("checked at load: a part ends with its submit");
        };
        let (confirmation, form_error, request) = match part.confirm.map(|c| &flow.steps[c]) {
            Some(Step::Confirm {
                target,
                error,
                request,
            }) => (target.as_ref(), error.as_ref(), request.as_ref()),
            _ => (None, None, None),
        };
        let reported = match &flow.steps[part.reported_if] {
            Step::ReportedIf(target) => Some(target),
            _ => None,
        };
        Shape {
            part,
            button,
            confirmation,
            form_error,
            request,
            reported,
        }
    }
}

impl WebSession {
    /// Runs the report flow up to the submit of its first part the portal
    /// does not hold yet: `true` if it holds every part (the order already
    /// has its report); else that part's form is filled and its submit
    /// button kept.
    pub(super) async fn open_order(&mut self, order: &OrderToReport) -> Result<bool, StepError> {
        self.prepared = None;
        match self.open_part(order, 0).await? {
            None => Ok(true),
            Some(prepared) => {
                self.prepared = Some(prepared);
                Ok(false)
            }
        }
    }

    /// Runs parts `first..` up to the submit of the first one whose
    /// `reported_if` does not show (a part the portal holds is skipped).
    async fn open_part(
        &mut self,
        order: &OrderToReport,
        first: usize,
    ) -> Result<Option<Prepared>, StepError> {
        let settings = self.settings();
        let flow = &settings.report;
        let parts = flow.parts();
        let mut index = first;
        let mut relogged = false;
        while let Some(part) = parts.get(index) {
            match self.run(flow, Some(order), part.from, part.submit).await? {
                Flowed::Reported => index += 1,
                Flowed::Done(Some((button, mark))) => {
                    return Ok(Some(Prepared {
                        order: order.id.clone(),
                        part: index,
                        button,
                        mark,
                    }));
                }
                Flowed::Done(None) => {
                    return Err(StepError::Unfit(format!(
                        "{}: nothing on the page matches it",
                        flow.describe(part.submit)
                    )));
                }
                Flowed::LoggedOut if !relogged => {
                    // The session ended: log in again and begin the order anew.
                    self.sign_in().await?;
                    relogged = true;
                    index = 0;
                }
                Flowed::LoggedOut => {
                    return Err(StepError::Retryable(format!(
                        "the portal asked to log in again right after a login, on {}",
                        order.id
                    )));
                }
            }
        }
        Ok(None)
    }

    /// Sends the prepared part and every part after it the portal does not
    /// hold: clicks its submit, runs the steps up to its confirm and reads the
    /// portal's answer. The order is reported once its last part is
    /// confirmed; then the steps after the last confirm run.
    pub(super) async fn send_report(
        &mut self,
        order: &OrderToReport,
        mut prepared: Prepared,
    ) -> Result<Answer, StepError> {
        let settings = self.settings();
        let flow = &settings.report;
        let parts = flow.parts();
        loop {
            let shape = Shape::of(flow, parts[prepared.part]);
            let part = shape.part;
            if let Some(Flowed::LoggedOut) = self
                .click(
                    flow,
                    Some(order),
                    part.submit,
                    shape.button,
                    prepared.button,
                )
                .await?
            {
                return Ok(Answer::LoggedOut);
            }
            if let Flowed::LoggedOut = self
                .run(flow, Some(order), part.submit + 1, part.answer_at)
                .await?
            {
                return Ok(Answer::LoggedOut);
            }
            if let Answer::LoggedOut = self.await_answer(order, &shape, &prepared.mark).await? {
                return Ok(Answer::LoggedOut);
            }
            match self.open_part(order, prepared.part + 1).await? {
                Some(next) => prepared = next,
                None => break,
            }
        }
        let last = parts[parts.len() - 1];
        if last.confirm.is_some() && last.next < flow.steps.len() {
            // The portal took the report: a step after the confirm that
            // fails (closing a message) does not undo that.
            if let Err(err) = self
                .run(flow, Some(order), last.next, flow.steps.len())
                .await
            {
                tracing::warn!(order = %order.id, "the report was taken, but a step after its confirm failed: {}", err.message());
            }
        }
        Ok(Answer::Taken)
    }

    /// Loads the order's page afresh after a confirmed report
    /// (`verify_after_submit`): the report counts only if every part's
    /// `reported_if` shows.
    pub(super) async fn verify_report(&mut self, order: &OrderToReport) -> Result<(), StepError> {
        match self.open_part(order, 0).await? {
            None => Ok(()),
            Some(prepared) => {
                let settings = self.settings();
                let part = settings.report.parts()[prepared.part];
                Err(StepError::Retryable(format!(
                    "portal.verify_after_submit: the page of {} loaded afresh does not show {} after the report was confirmed; the report is not recorded",
                    order.id,
                    settings.report.describe(part.reported_if)
                )))
            }
        }
    }

    /// Reads the portal's answer to a submit, up to the page timeout.
    async fn await_answer(
        &self,
        order: &OrderToReport,
        shape: &Shape<'_>,
        mark: &serde_json::Value,
    ) -> Result<Answer, StepError> {
        let settings = self.settings();
        let flow = &settings.report;
        let request = match shape.request {
            Some(r) => {
                let vars = self.vars(Some(order));
                let url = vars.url(&r.path).map_err(|why| {
                    StepError::Unfit(format!(
                        "{}: {why}",
                        flow.describe(shape.part.answer_at.min(flow.steps.len() - 1))
                    ))
                })?;
                json!({"method": r.method, "url": url, "status": r.status})
            }
            None => serde_json::Value::Null,
        };
        let args = vec![
            shape.confirmation.map(locator_json).into(),
            shape.form_error.map(locator_json).into(),
            shape.reported.map(locator_json).into(),
            login_form_json(&settings.login_form),
            locator_json(shape.button),
            mark.clone(),
            request,
        ];
        let what = flow.describe(shape.part.confirm.unwrap_or(shape.part.submit));
        let deadline = Instant::now() + settings.page_timeout;
        let mut missing;
        let mut seen = false;
        loop {
            let mut args = args.clone();
            args.push(seen.into());
            let answer = self
                .browser()
                .run("reading the answer to the report", ANSWER_JS, args)
                .await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(StepError::Retryable(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(err) => return Err(err),
            };
            match answer[0].as_str().unwrap_or_default() {
                "confirmed" => {
                    self.browser()
                        .saw(&answer[1]["doc"], &answer[1]["seq"], false);
                    return Ok(Answer::Taken);
                }
                "login" => return Ok(Answer::LoggedOut),
                "http" => {
                    return Err(StepError::Retryable(format!(
                        "the portal answered HTTP {} to the report of {}",
                        answer[1], order.id
                    )));
                }
                "request-failed" => {
                    return Err(StepError::Retryable(format!(
                        "{what}: the portal answered HTTP {} to {} reporting {}",
                        answer[2],
                        answer[1].as_str().unwrap_or_default(),
                        order.id
                    )));
                }
                "form-error" => {
                    return Err(StepError::Retryable(format!(
                        "the portal rejected the report of {}: {:?}",
                        order.id,
                        answer[1].as_str().unwrap_or_default()
                    )));
                }
                _ => {
                    missing = answer[1].as_str().unwrap_or_default().to_string();
                    seen |= answer[2].as_bool().unwrap_or(false);
                }
            }
            if Instant::now() >= deadline {
                return Err(StepError::Retryable(format!(
                    "{what}: no confirmation from the portal within {} s after reporting {}: {missing}",
                    settings.page_timeout.as_secs(),
                    order.id
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `portal try`: runs the report flow for one order up to its submit,
    /// which it never clicks. `true`: the order already has a report.
    pub async fn fill_without_submitting(
        &mut self,
        order: &OrderToReport,
    ) -> Result<bool, StepError> {
        let reported = self.already_reported(order).await?;
        self.prepared = None;
        Ok(reported)
    }
}

/// An order's report form, filled in: its submit button and the page's
/// state when it was found (what the submit's requests are told apart by).
pub(super) struct Prepared {
    pub order: String,
    /// Which part of the report flow.
    pub part: usize,
    pub button: Element,
    pub mark: serde_json::Value,
}

/// What the portal answered to a submit.
pub(super) enum Answer {
    /// Confirmed, or it already held a report.
    Taken,
    /// It asked to log in: the session had expired and the report was not taken.
    LoggedOut,
}
