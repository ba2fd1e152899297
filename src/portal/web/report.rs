//! Reporting one order: the report flow up to its submit (which also asks
//! whether the order already has a report), then the submit and the wait for
//! the portal's answer.

use std::time::{Duration, Instant};

use super::session::{WebSession, locator_json, login_form_json};
use super::steps::Flowed;
use crate::flow::{Flow, Step};
use crate::orders::OrderToReport;
use crate::portal::{PortalSession, StepError};

/// Reads the page after a submit.
const ANSWER_JS: &str = concat!(
    include_str!("find.js"),
    "const [confirmation, formError, reported, loginForm, submit] = arguments;
if (httpStatus() >= 400) return ['http', httpStatus()];
if (confirmation && find(confirmation)) return ['confirmed'];
if (find(reported)) return ['reported'];
const error = find(formError);
if (error) return ['form-error', error.textContent.trim().slice(0, 200)];
if (loginForm.some((l) => find(l))) return ['login'];
if (document.readyState !== 'complete' || find(submit)) return ['waiting'];
return confirmation ? ['waiting'] : ['confirmed'];"
);

impl WebSession {
    /// Runs the report flow up to its submit: `true` if the order already
    /// has a report; else the form is filled and its submit button kept.
    pub(super) async fn open_order(&mut self, order: &OrderToReport) -> Result<bool, StepError> {
        self.prepared = None;
        let settings = self.settings();
        let flow = &settings.report;
        let submit = submit_index(flow);
        for fresh in [false, true] {
            match self.run(flow, Some(order), 0, submit).await? {
                Flowed::Reported => return Ok(true),
                Flowed::Done(Some(button)) => {
                    self.prepared = Some((order.id.clone(), button));
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

    /// Reads the portal's answer to a submit, once it has replaced the form.
    pub(super) async fn await_answer(&self, order: &OrderToReport) -> Result<Answer, StepError> {
        let settings = self.settings();
        let flow = &settings.report;
        let submit = submit_index(flow);
        let (confirmation, form_error) = match flow.steps.get(submit + 1) {
            Some(Step::Confirm { target, error }) => (Some(target), error.as_ref()),
            _ => (None, None),
        };
        let reported = flow.steps.iter().find_map(|s| match s {
            Step::ReportedIf(target) => Some(target),
            _ => None,
        });
        let Some(Step::Submit(button)) = flow.steps.get(submit) else {
            unreachable!("checked at load: the report flow has a submit step");
        };
        let args = vec![
            confirmation.map(locator_json).into(),
            form_error.map(locator_json).into(),
            reported.map(locator_json).into(),
            login_form_json(&settings.login_form),
            locator_json(button),
        ];
        let what = match confirmation {
            Some(_) => flow.describe(submit + 1),
            None => flow.describe(submit),
        };
        let deadline = Instant::now() + settings.page_timeout;
        loop {
            let answer = self
                .browser()
                .run("reading the answer to the report", ANSWER_JS, args.clone())
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
                "confirmed" | "reported" => return Ok(Answer::Taken),
                "login" => return Ok(Answer::LoggedOut),
                "http" => {
                    return Err(StepError::Retryable(format!(
                        "the portal answered HTTP {} to the report of {}",
                        answer[1], order.id
                    )));
                }
                "form-error" => {
                    return Err(StepError::Retryable(format!(
                        "the portal rejected the report of {}: {:?}",
                        order.id,
                        answer[1].as_str().unwrap_or_default()
                    )));
                }
                _ if Instant::now() >= deadline => {
                    return Err(StepError::Retryable(format!(
                        "{what}: no confirmation within {} s after reporting {}",
                        settings.page_timeout.as_secs(),
                        order.id
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
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

/// What the portal answered to a submit.
pub(super) enum Answer {
    /// Confirmed, or it already held a report.
    Taken,
    /// It asked to log in: the session had expired and the report was not taken.
    LoggedOut,
}
