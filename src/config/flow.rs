//! Flows as the config writes them: `[[portal.login]]`, `[[portal.export]]`
//! and `[[portal.report]]` steps in TOML, and the default flows made from the
//! flat `[portal.paths]` and `[portal.selectors]`, written as the same steps.

use serde::Deserialize;

use super::web::{PortalPaths, PortalSelectors};
use crate::flow::{Choice, Locator, RequestPattern, Step, Template};

/// The steps of the login, export and report flows.
pub struct FlowSteps {
    pub login: Vec<Step>,
    pub export: Vec<Step>,
    pub report: Vec<Step>,
}

/// The default flows, from the flat `[portal.paths]` and `[portal.selectors]`.
pub fn default_flows(
    paths: &PortalPaths,
    selectors: &PortalSelectors,
) -> Result<FlowSteps, String> {
    let s = selectors;
    let css = |text: &str| Locator::parse(text);
    let template = |text: &str| Template(text.to_string());
    let login = vec![
        Step::Goto(template(&paths.login)),
        Step::Fill {
            target: css(&s.login_user)?,
            value: template("{login}"),
            optional: false,
        },
        Step::Fill {
            target: css(&s.login_password)?,
            value: template("{password}"),
            optional: false,
        },
        Step::Click(css(&s.login_submit)?),
    ];
    let export = vec![
        Step::Goto(template(&paths.orders)),
        Step::Download(css(&s.export_link)?),
    ];
    let mut report = vec![
        Step::Goto(template(&paths.order)),
        Step::ReportedIf(css(&s.already_reported)?),
        Step::WaitFor {
            target: css(&s.report_form)?,
            text: None,
        },
        Step::Select {
            target: css(&s.report_reason)?,
            choice: Choice::Value(template("{reason}")),
        },
        Step::Fill {
            target: css(&s.report_comment)?,
            value: template("{comment}"),
            optional: true,
        },
        Step::Submit(css(&s.report_submit)?),
    ];
    report.push(Step::Confirm {
        target: Some(css(&s.confirmation)?),
        error: s.form_error.as_deref().map(css).transpose()?,
        request: None,
    });
    Ok(FlowSteps {
        login,
        export,
        report,
    })
}

/// A step as written: exactly one action key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileStep {
    goto: Option<String>,
    fill: Option<FileFill>,
    select: Option<FileSelect>,
    check: Option<FileTarget>,
    uncheck: Option<FileTarget>,
    click: Option<FileTarget>,
    click_if_present: Option<FileTarget>,
    wait_for: Option<FileWait>,
    wait_gone: Option<FileTarget>,
    download: Option<FileTarget>,
    reported_if: Option<FileTarget>,
    submit: Option<FileTarget>,
    confirm: Option<FileConfirm>,
}

/// `"selector"` or `{ selector = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FileTarget {
    Selector(String),
    Table { selector: String },
}

impl FileTarget {
    fn locator(&self) -> Result<Locator, String> {
        match self {
            FileTarget::Selector(s) | FileTarget::Table { selector: s } => Locator::parse(s),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFill {
    selector: String,
    value: String,
    #[serde(default)]
    optional: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSelect {
    selector: String,
    value: Option<String>,
    text: Option<String>,
    index: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FileWait {
    Selector(String),
    Table {
        selector: String,
        #[serde(default)]
        text: Option<String>,
    },
}

/// `"selector"`, or a table with `selector`, `error`, `request` and
/// `status`: told apart by the TOML's shape, so that a wrong key inside is
/// refused by its name.
#[derive(Debug)]
pub enum FileConfirm {
    Selector(String),
    Table(FileConfirmTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfirmTable {
    selector: Option<String>,
    error: Option<String>,
    request: Option<String>,
    status: Option<u16>,
}

impl<'de> Deserialize<'de> for FileConfirm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(deserializer)? {
            toml::Value::String(s) => Ok(FileConfirm::Selector(s)),
            value @ toml::Value::Table(_) => value
                .try_into()
                .map(FileConfirm::Table)
                .map_err(|err| D::Error::custom(format!("in `confirm`: {}", err.message()))),
            other => Err(D::Error::custom(format!(
                "`confirm` is a {}; give a selector, or a table such as {{ request = \"PUT /api/orders/{{order}}\" }}",
                other.type_str()
            ))),
        }
    }
}

impl FileConfirm {
    fn into_step(self) -> Result<Step, String> {
        let table = match self {
            FileConfirm::Selector(s) => {
                return Ok(Step::Confirm {
                    target: Some(Locator::parse(&s)?),
                    error: None,
                    request: None,
                });
            }
            FileConfirm::Table(table) => table,
        };
        if table.selector.is_none() && table.request.is_none() {
            return Err("a confirm step names the element that confirms the report (selector), the page's request that must be answered (request = \"PUT /api/orders/{order}\"), or both".into());
        }
        if table.status.is_some() && table.request.is_none() {
            return Err(
                "`status` is the answer to confirm's `request`: give the request too".into(),
            );
        }
        Ok(Step::Confirm {
            target: table.selector.as_deref().map(Locator::parse).transpose()?,
            error: table.error.as_deref().map(Locator::parse).transpose()?,
            request: table
                .request
                .as_deref()
                .map(|r| RequestPattern::parse(r, table.status))
                .transpose()?,
        })
    }
}

impl FileStep {
    /// The step, or why it is not one.
    pub fn into_step(self) -> Result<Step, String> {
        let mut steps = Vec::new();
        let t = |s: String| Template(s);
        if let Some(v) = self.goto {
            if v.trim().is_empty() {
                return Err("give the page to open, e.g. goto = \"/login\"".into());
            }
            steps.push(Step::Goto(t(v)));
        }
        if let Some(f) = self.fill {
            steps.push(Step::Fill {
                target: Locator::parse(&f.selector)?,
                value: t(f.value),
                optional: f.optional,
            });
        }
        if let Some(s) = self.select {
            let choice = match (s.value, s.text, s.index) {
                (Some(v), None, None) => Choice::Value(t(v)),
                (None, Some(v), None) => Choice::Text(t(v)),
                (None, None, Some(i)) => Choice::Index(i),
                _ => {
                    return Err(
                        "a select step picks its option by one of value, text or index".into(),
                    );
                }
            };
            steps.push(Step::Select {
                target: Locator::parse(&s.selector)?,
                choice,
            });
        }
        if let Some(v) = self.check {
            steps.push(Step::Check {
                target: v.locator()?,
                checked: true,
            });
        }
        if let Some(v) = self.uncheck {
            steps.push(Step::Check {
                target: v.locator()?,
                checked: false,
            });
        }
        if let Some(v) = self.click {
            steps.push(Step::Click(v.locator()?));
        }
        if let Some(v) = self.click_if_present {
            steps.push(Step::ClickIfPresent(v.locator()?));
        }
        if let Some(v) = self.wait_for {
            let (selector, text) = match v {
                FileWait::Selector(s) => (s, None),
                FileWait::Table { selector, text } => (selector, text),
            };
            steps.push(Step::WaitFor {
                target: Locator::parse(&selector)?,
                text: text.map(t),
            });
        }
        if let Some(v) = self.wait_gone {
            steps.push(Step::WaitGone(v.locator()?));
        }
        if let Some(v) = self.download {
            steps.push(Step::Download(v.locator()?));
        }
        if let Some(v) = self.reported_if {
            steps.push(Step::ReportedIf(v.locator()?));
        }
        if let Some(v) = self.submit {
            steps.push(Step::Submit(v.locator()?));
        }
        if let Some(v) = self.confirm {
            steps.push(v.into_step()?);
        }
        match steps.len() {
            1 => Ok(steps.remove(0)),
            0 => Err("a step needs one action: goto, fill, select, check, uncheck, click, click_if_present, wait_for, wait_gone, download, reported_if, submit or confirm".into()),
            _ => Err("a step has exactly one action; split it into one [[...]] table per action".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Flow, FlowName};

    fn steps(toml_text: &str) -> Result<Flow, (String, String)> {
        #[derive(Deserialize)]
        struct File {
            report: Vec<FileStep>,
        }
        let file: File =
            toml::from_str(toml_text).map_err(|e| ("toml".to_string(), e.to_string()))?;
        let steps = file
            .report
            .into_iter()
            .map(|s| s.into_step().map_err(|why| ("step".to_string(), why)))
            .collect::<Result<Vec<_>, _>>()?;
        Flow::check(FlowName::Report, steps)
    }

    #[test]
    fn a_report_flow_reads_every_action_and_names_its_steps() {
        let flow = steps(
            r#"
            [[report]]
            goto = "/app/orders/{order}"
            [[report]]
            click_if_present = "button.consent-accept"
            [[report]]
            reported_if = ".badge-claimed"
            [[report]]
            check = "input[name=claim_reason][value=missing]"
            [[report]]
            fill = { selector = "textarea[name=details]", value = "{comment} ({column:Total})" }
            [[report]]
            select = { selector = "xpath=//select", text = "{reason}" }
            [[report]]
            check = { selector = "input[name=attest]" }
            [[report]]
            submit = "button.btn-primary"
            [[report]]
            confirm = { selector = ".flash-success", error = ".form-error" }
            "#,
        )
        .unwrap();
        assert_eq!(flow.steps.len(), 9);
        assert_eq!(
            flow.describe(4),
            "portal.report step 5 (fill `textarea[name=details]`)"
        );
        assert_eq!(
            flow.describe(5),
            "portal.report step 6 (select `xpath=//select`)"
        );
        assert_eq!(flow.columns(), vec!["Total".to_string()]);
    }

    #[test]
    fn a_report_flow_without_a_probe_or_with_an_unknown_placeholder_is_refused() {
        let err =
            steps("[[report]]\ngoto = \"/o/{order}\"\n[[report]]\nsubmit = \"b\"\n").unwrap_err();
        assert!(err.1.contains("reported_if"), "{err:?}");
        let err = steps("[[report]]\ngoto = \"/o/{orderid}\"\n").unwrap_err();
        assert_eq!(err.0, "portal.report[1]");
        assert!(err.1.contains("unknown placeholder `{orderid}`"), "{err:?}");
        let err = steps("[[report]]\ngoto = \"/o/{order}\"\nclick = \"a\"\n").unwrap_err();
        assert_eq!(err.0, "step");
        assert!(err.1.contains("exactly one action"), "{err:?}");
    }

    #[test]
    fn steps_may_follow_submit_and_a_confirm_may_wait_for_the_pages_own_request() {
        let flow = steps(
            r#"
            [[report]]
            goto = "/#/orders/{order}"
            [[report]]
            reported_if = ".reported-chip"
            [[report]]
            submit = "button.save"
            [[report]]
            wait_for = ".snackbar"
            [[report]]
            click = ".snackbar-close"
            [[report]]
            confirm = { request = "put /api/orders/{order}/report", status = 200 }
            [[report]]
            wait_gone = ".snackbar"
            "#,
        )
        .unwrap();
        let Step::Confirm {
            target: None,
            request: Some(request),
            ..
        } = &flow.steps[5]
        else {
            panic!("{:?}", flow.steps[5])
        };
        assert_eq!(request.method, "PUT");
        assert_eq!(request.status, Some(200));
        assert_eq!(
            flow.describe(5),
            "portal.report step 6 (confirm `PUT /api/orders/{order}/report`)"
        );
        assert_eq!(
            flow.describe(6),
            "portal.report step 7 (wait_gone `.snackbar`)"
        );
    }

    #[test]
    fn a_confirm_without_an_element_or_a_request_and_a_fill_after_submit_are_refused() {
        let base = "[[report]]\ngoto = \"/o/{order}\"\n[[report]]\nreported_if = \"a\"\n[[report]]\nsubmit = \"b\"\n";
        let err = steps(&format!(
            "{base}[[report]]\nconfirm = {{ error = \".e\" }}\n"
        ))
        .unwrap_err();
        assert!(err.1.contains("request"), "{err:?}");
        let err = steps(&format!(
            "{base}[[report]]\nconfirm = {{ request = \"PUT\" }}\n"
        ))
        .unwrap_err();
        assert!(err.1.contains("METHOD and path"), "{err:?}");
        let err = steps(&format!(
            "{base}[[report]]\nconfirm = {{ request = \"PUT /a\", state = 1 }}\n"
        ))
        .unwrap_err();
        assert!(err.1.contains("unknown field `state`"), "{err:?}");
        let err = steps(&format!(
            "{base}[[report]]\nfill = {{ selector = \"c\", value = \"x\" }}\n"
        ))
        .unwrap_err();
        assert_eq!(err.0, "portal.report[4]");
        assert!(err.1.contains("cannot follow submit"), "{err:?}");
    }

    #[test]
    fn a_report_of_two_forms_has_two_parts_each_with_its_own_reported_if() {
        let flow = steps(
            r#"
            [[report]]
            goto = "/o/{order}"
            [[report]]
            reported_if = ".disputed"
            [[report]]
            check = "input[name=dispute]"
            [[report]]
            submit = "button.open-dispute"
            [[report]]
            confirm = ".flash"
            [[report]]
            goto = "/o/{order}/reason"
            [[report]]
            reported_if = ".reason-given"
            [[report]]
            fill = { selector = "textarea", value = "{comment}" }
            [[report]]
            submit = "button.send-reason"
            [[report]]
            confirm = { request = "POST /o/{order}/reason" }
            [[report]]
            click_if_present = ".close"
            "#,
        )
        .unwrap();
        let parts = flow.parts();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].from, parts[0].reported_if, parts[0].submit),
            (0, 1, 3)
        );
        assert_eq!((parts[0].confirm, parts[0].next), (Some(4), 5));
        assert_eq!(
            (parts[1].from, parts[1].reported_if, parts[1].submit),
            (5, 6, 8)
        );
        assert_eq!((parts[1].confirm, parts[1].next), (Some(9), 10));

        let err = steps(
            "[[report]]\ngoto = \"/o/{order}\"\n[[report]]\nreported_if = \"a\"\n[[report]]\nsubmit = \"b\"\n[[report]]\nsubmit = \"c\"\n",
        )
        .unwrap_err();
        assert_eq!(err.0, "portal.report[4]");
        assert!(err.1.contains("its own reported_if"), "{err:?}");
    }
}
