//! Reporting one order: the report flow up to its submit (which also asks
//! whether the order already has a report), then the submit and the wait for
//! the portal's answer.

use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use serde_json::json;

use super::session::{WebSession, locator_json, login_form_json};
use super::steps::Flowed;
use crate::flow::{Flow, Locator, RequestPattern, Step};
use crate::orders::OrderToReport;
use crate::portal::{PortalSession, StepError};

/// Reads the portal's answer after a submit.
const ANSWER_JS: &str = concat!(
    include_str!("find.js"),
    include_str!("net.js"),
    include_str!("answer.js")
);

/// The report flow's parts around its submit.
pub(super) struct Shape<'a> {
    pub submit: usize,
    /// The confirm step's index, if any.
    pub confirm: Option<usize>,
    pub button: &'a Locator,
    pub confirmation: Option<&'a Locator>,
    pub form_error: Option<&'a Locator>,
    pub request: Option<&'a RequestPattern>,
    pub reported: Option<&'a Locator>,
}

impl Shape<'_> {
    pub fn of(flow: &Flow) -> Shape<'_> {
        let submit = submit_index(flow);
        let Some(Step::Submit(button)) = flow.steps.get(submit) else {
            unreachable!("checked at load: the report flow has a submit step");
        };
        let confirm = flow
            .steps
            .iter()
            .position(|s| matches!(s, Step::Confirm { .. }));
        let (confirmation, form_error, request) = match confirm.map(|c| &flow.steps[c]) {
            Some(Step::Confirm {
                target,
                error,
                request,
            }) => (target.as_ref(), error.as_ref(), request.as_ref()),
            _ => (None, None, None),
        };
        let reported = flow.steps.iter().find_map(|s| match s {
            Step::ReportedIf(target) => Some(target),
            _ => None,
        });
        Shape {
            submit,
            confirm,
            button,
            confirmation,
            form_error,
            request,
            reported,
        }
    }
}

impl WebSession {
    /// Runs the report flow up to its submit: `true` if the order already
    /// has a report; else the form is filled and its submit button kept,
    /// with the page's state when it was found.
    pub(super) async fn open_order(&mut self, order: &OrderToReport) -> Result<bool, StepError> {
        self.prepared = None;
        let settings = self.settings();
        let flow = &settings.report;
        let submit = submit_index(flow);
        for fresh in [false, true] {
            match self.run(flow, Some(order), 0, submit).await? {
                Flowed::Reported => return Ok(true),
                Flowed::Done(Some((button, mark))) => {
                    self.prepared = Some(Prepared {
                        order: order.id.clone(),
                        button,
                        mark,
                    });
                    return Ok(false);
                }
                Flowed::Done(None) => {
                    return Err(StepError::Unfit(format!(
                        "{}: nothing on the page matches it",
                        flow.describe(submit)
                    )));
                }
                Flowed::LoggedOut if !fresh => self.sign_in().await?,
                Flowed::LoggedOut => break,
            }
        }
        Err(StepError::Retryable(format!(
            "the portal asked to log in again right after a login, on {}",
            order.id
        )))
    }

    /// Clicks the submit, runs the steps between it and the confirm, reads
    /// the portal's answer, then runs the steps after the confirm.
    pub(super) async fn send_report(
        &mut self,
        order: &OrderToReport,
        prepared: Prepared,
    ) -> Result<Answer, StepError> {
        let settings = self.settings();
        let flow = &settings.report;
        let shape = Shape::of(flow);
        let end = shape.confirm.unwrap_or(flow.steps.len());
        if let Some(Flowed::LoggedOut) = self
            .click(
                flow,
                Some(order),
                shape.submit,
                shape.button,
                prepared.button,
            )
            .await?
        {
            return Ok(Answer::LoggedOut);
        }
        if let Flowed::LoggedOut = self.run(flow, Some(order), shape.submit + 1, end).await? {
            return Ok(Answer::LoggedOut);
        }
        let answer = self.await_answer(order, &shape, &prepared.mark).await?;
        if let (Answer::Taken, Some(confirm)) = (&answer, shape.confirm)
            && confirm + 1 < flow.steps.len()
        {
            // The portal took the report: a step after the confirm that
            // fails (closing a message) does not undo that.
            if let Err(err) = self
                .run(flow, Some(order), confirm + 1, flow.steps.len())
                .await
            {
                tracing::warn!(order = %order.id, "the report was taken, but a step after its confirm failed: {}", err.message());
            }
        }
        Ok(answer)
    }

    /// Loads the order's page afresh after a confirmed report
    /// (`verify_after_submit`): the report counts only if `reported_if`
    /// shows there.
    pub(super) async fn verify_report(&mut self, order: &OrderToReport) -> Result<(), StepError> {
        let settings = self.settings();
        let flow = &settings.report;
        let submit = submit_index(flow);
        for fresh in [false, true] {
            match self.run(flow, Some(order), 0, submit).await? {
                Flowed::Reported => return Ok(()),
                Flowed::Done(_) => {
                    return Err(StepError::Retryable(format!(
                        "portal.verify_after_submit: the page of {} loaded afresh does not show reported_if after the report was confirmed; the report is not recorded",
                        order.id
                    )));
                }
                Flowed::LoggedOut if !fresh => self.sign_in().await?,
                Flowed::LoggedOut => break,
            }
        }
        Err(StepError::Retryable(format!(
            "the portal asked to log in again right after a login, verifying {}",
            order.id
        )))
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
                        flow.describe(shape.confirm.unwrap_or(0))
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
        let what = flow.describe(shape.confirm.unwrap_or(shape.submit));
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
                    self.browser().saw(&answer[1]["doc"]);
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

/// The index of the report flow's submit step (checked at load).
pub(super) fn submit_index(flow: &Flow) -> usize {
    flow.steps
        .iter()
        .position(|s| matches!(s, Step::Submit(_)))
        .expect("checked at load: the report flow has a submit step")
}

/// An order's report form, filled in: its submit button and the page's
/// state when it was found (what the submit's requests are told apart by).
pub(super) struct Prepared {
    pub order: String,
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
