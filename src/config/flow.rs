//! Portal flows: the login, the export and the report, each an ordered list
//! of steps in the config (`[[portal.login]]`, `[[portal.export]]`,
//! `[[portal.report]]`), so a new portal needs a config, not a release.
//! Without them, the flat `[portal.paths]` and `[portal.selectors]` give the
//! default flows, written as the same steps.

use std::fmt;

use serde::Deserialize;

use super::web::{PortalPaths, PortalSelectors};

/// Which flow a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowName {
    Login,
    Export,
    Report,
}

impl FlowName {
    pub fn key(self) -> &'static str {
        match self {
            FlowName::Login => "portal.login",
            FlowName::Export => "portal.export",
            FlowName::Report => "portal.report",
        }
    }

    /// The placeholders its steps may use (besides `{column:NAME}` in the report).
    fn placeholders(self) -> &'static [&'static str] {
        match self {
            FlowName::Login => &["user", "login", "password"],
            FlowName::Export => &["user", "login"],
            FlowName::Report => &["user", "login", "order", "reason", "comment"],
        }
    }
}

/// How an element is found: CSS by default, or `xpath=`, `id=`, `name=`,
/// `linkText=`, `partialLinkText=` (and `css=`), as Selenium IDE writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locator {
    pub kind: LocatorKind,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocatorKind {
    Css,
    XPath,
    Id,
    Name,
    LinkText,
    PartialLinkText,
}

impl LocatorKind {
    /// The name the page scripts use.
    pub fn script_name(self) -> &'static str {
        match self {
            LocatorKind::Css => "css",
            LocatorKind::XPath => "xpath",
            LocatorKind::Id => "id",
            LocatorKind::Name => "name",
            LocatorKind::LinkText => "linkText",
            LocatorKind::PartialLinkText => "partialLinkText",
        }
    }
}

impl Locator {
    pub fn css(selector: &str) -> Locator {
        Locator {
            kind: LocatorKind::Css,
            value: selector.to_string(),
        }
    }

    pub fn parse(text: &str) -> Result<Locator, String> {
        let prefixes = [
            ("css=", LocatorKind::Css),
            ("xpath=", LocatorKind::XPath),
            ("id=", LocatorKind::Id),
            ("name=", LocatorKind::Name),
            ("linkText=", LocatorKind::LinkText),
            ("partialLinkText=", LocatorKind::PartialLinkText),
        ];
        let (kind, value) = prefixes
            .iter()
            .find_map(|(prefix, kind)| text.strip_prefix(prefix).map(|rest| (*kind, rest)))
            .unwrap_or((LocatorKind::Css, text));
        let kind = if kind == LocatorKind::Css && value.starts_with("//") {
            LocatorKind::XPath
        } else {
            kind
        };
        if value.trim().is_empty() {
            return Err("give a selector, e.g. \"#login\" or \"xpath=//button\"".into());
        }
        Ok(Locator {
            kind,
            value: value.to_string(),
        })
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            LocatorKind::Css => write!(f, "{}", self.value),
            kind => write!(f, "{}={}", kind.script_name(), self.value),
        }
    }
}

/// A text with placeholders such as `{order}` or `{column:Reference}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(pub String);

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

impl Template {
    /// Its pieces; `{{` and `}}` are literal braces.
    pub fn pieces(&self) -> Result<Vec<Piece<'_>>, String> {
        let text = self.0.as_str();
        let mut pieces = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("{{") {
                pieces.push(Piece::Text("{"));
                rest = after;
            } else if let Some(after) = rest.strip_prefix("}}") {
                pieces.push(Piece::Text("}"));
                rest = after;
            } else if let Some(after) = rest.strip_prefix('{') {
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("`{text}` has a `{{` without its `}}`"))?;
                pieces.push(Piece::Placeholder(&after[..end]));
                rest = &after[end + 1..];
            } else if rest.starts_with('}') {
                return Err(format!(
                    "`{text}` has a `}}` without its `{{` (write `}}}}` for a brace)"
                ));
            } else {
                let end = rest.find(['{', '}']).unwrap_or(rest.len());
                pieces.push(Piece::Text(&rest[..end]));
                rest = &rest[end..];
            }
        }
        Ok(pieces)
    }

    /// The placeholders it uses.
    pub fn placeholders(&self) -> Vec<&str> {
        self.pieces()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match p {
                Piece::Placeholder(name) => Some(name),
                Piece::Text(_) => None,
            })
            .collect()
    }

    /// Fills the placeholders with `value`, each passed through `encode`.
    pub fn render(
        &self,
        value: impl Fn(&str) -> Option<String>,
        encode: impl Fn(&str) -> String,
    ) -> Result<String, String> {
        let mut out = String::new();
        for piece in self.pieces()? {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Placeholder(name) => {
                    let v = value(name).ok_or_else(|| format!("no value for `{{{name}}}`"))?;
                    out.push_str(&encode(&v));
                }
            }
        }
        Ok(out)
    }
}

/// How a `select` step picks its option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Value(Template),
    Text(Template),
    Index(u32),
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Opens a path under `base_url` (or a full URL); each placeholder is
    /// percent-encoded.
    Goto(Template),
    /// Sets a field's value (with the input and change events a person's
    /// typing fires). `optional`: skipped when the field is absent.
    Fill {
        target: Locator,
        value: Template,
        optional: bool,
    },
    Select {
        target: Locator,
        choice: Choice,
    },
    /// Checks a checkbox or radio button (or unchecks a checkbox).
    Check {
        target: Locator,
        checked: bool,
    },
    /// A real click (the browser refuses it when something covers the element).
    Click(Locator),
    /// Clicks the element if the page shows it: cookie banners, pop-ups.
    ClickIfPresent(Locator),
    /// Waits until the element is shown (and holds the text, if given).
    WaitFor {
        target: Locator,
        text: Option<Template>,
    },
    /// Export flow, last step: the link or form button of the export, which
    /// is fetched by the page itself (so it works where the browser's disk is
    /// not the worker's).
    Download(Locator),
    /// Report flow: the element shown when the order already has a report.
    ReportedIf(Locator),
    /// Report flow: the button that sends the report.
    Submit(Locator),
    /// Report flow, after `submit`: the element that confirms the report, and
    /// the one that shows a form error.
    Confirm {
        target: Locator,
        error: Option<Locator>,
    },
}

impl Step {
    /// The action's name, as written in the config.
    pub fn action(&self) -> &'static str {
        match self {
            Step::Goto(_) => "goto",
            Step::Fill { .. } => "fill",
            Step::Select { .. } => "select",
            Step::Check { checked: true, .. } => "check",
            Step::Check { checked: false, .. } => "uncheck",
            Step::Click(_) => "click",
            Step::ClickIfPresent(_) => "click_if_present",
            Step::WaitFor { .. } => "wait_for",
            Step::Download(_) => "download",
            Step::ReportedIf(_) => "reported_if",
            Step::Submit(_) => "submit",
            Step::Confirm { .. } => "confirm",
        }
    }

    /// The element the step works on, if any.
    pub fn target(&self) -> Option<&Locator> {
        match self {
            Step::Goto(_) => None,
            Step::Fill { target, .. }
            | Step::Select { target, .. }
            | Step::Check { target, .. }
            | Step::WaitFor { target, .. }
            | Step::Confirm { target, .. } => Some(target),
            Step::Click(target)
            | Step::ClickIfPresent(target)
            | Step::Download(target)
            | Step::ReportedIf(target)
            | Step::Submit(target) => Some(target),
        }
    }

    fn templates(&self) -> Vec<&Template> {
        match self {
            Step::Goto(t) | Step::Fill { value: t, .. } => vec![t],
            Step::Select {
                choice: Choice::Value(t) | Choice::Text(t),
                ..
            } => vec![t],
            Step::WaitFor { text: Some(t), .. } => vec![t],
            _ => vec![],
        }
    }
}

/// A flow: its name and its steps, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub name: FlowName,
    pub steps: Vec<Step>,
}

impl Flow {
    /// How step `index` (0-based) is named in errors and evidence files:
    /// `portal.report step 4 (fill textarea[name=details])`.
    pub fn describe(&self, index: usize) -> String {
        let step = &self.steps[index];
        match step.target() {
            Some(target) => format!(
                "{} step {} ({} `{target}`)",
                self.name.key(),
                index + 1,
                step.action()
            ),
            None => format!("{} step {} ({})", self.name.key(), index + 1, step.action()),
        }
    }

    /// The export columns its templates use through `{column:NAME}`.
    pub fn columns(&self) -> Vec<String> {
        let mut columns: Vec<String> = self
            .steps
            .iter()
            .flat_map(Step::templates)
            .flat_map(Template::placeholders)
            .filter_map(|p| p.strip_prefix("column:"))
            .map(str::to_string)
            .collect();
        columns.sort();
        columns.dedup();
        columns
    }

    /// What shows the login form: the password field, and in a two-step
    /// login (a click between the first field and the password) the first
    /// field too, since the first page has no password field.
    pub fn login_form(&self) -> Vec<Locator> {
        let fills: Vec<(usize, &Locator)> = self
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, step)| match step {
                Step::Fill { target, .. } => Some((i, target)),
                _ => None,
            })
            .collect();
        let Some(password) = self.password_field() else {
            return Vec::new();
        };
        let mut form = vec![password.clone()];
        let at = |target: &Locator| self.steps.iter().position(|s| s.target() == Some(target));
        if let (Some((first_at, first)), Some(password_at)) = (fills.first(), at(password))
            && *first_at < password_at
            && self.steps[*first_at..password_at]
                .iter()
                .any(|s| matches!(s, Step::Click(_)))
        {
            form.push((*first).clone());
        }
        form
    }

    /// The login form's password field: the target of the `fill` that types
    /// `{password}`.
    pub fn password_field(&self) -> Option<&Locator> {
        self.steps.iter().find_map(|step| match step {
            Step::Fill { target, value, .. } if value.placeholders().contains(&"password") => {
                Some(target)
            }
            _ => None,
        })
    }

    /// Checks a flow as written; the error names the step (`portal.report[3]`).
    pub fn check(name: FlowName, steps: Vec<Step>) -> Result<Flow, (String, String)> {
        let key = name.key();
        let at = |i: usize| format!("{key}[{}]", i + 1);
        if steps.is_empty() {
            return Err((key.into(), "give at least one step".into()));
        }
        if !matches!(steps[0], Step::Goto(_)) {
            return Err((
                at(0),
                "the first step opens a page: goto = \"/path\"".into(),
            ));
        }
        for (i, step) in steps.iter().enumerate() {
            let allowed = match step {
                Step::Download(_) => name == FlowName::Export,
                Step::ReportedIf(_) | Step::Submit(_) | Step::Confirm { .. } => {
                    name == FlowName::Report
                }
                _ => true,
            };
            if !allowed {
                return Err((
                    at(i),
                    format!("`{}` belongs to another flow", step.action()),
                ));
            }
            for template in step.templates() {
                for placeholder in template.pieces().map_err(|why| (at(i), why))? {
                    let Piece::Placeholder(p) = placeholder else {
                        continue;
                    };
                    let known = name.placeholders().contains(&p)
                        || (name == FlowName::Report
                            && p.strip_prefix("column:").is_some_and(|c| !c.is_empty()));
                    if !known {
                        let mut names: Vec<String> = name
                            .placeholders()
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect();
                        if name == FlowName::Report {
                            names.push("{column:NAME}".into());
                        }
                        return Err((
                            at(i),
                            format!(
                                "unknown placeholder `{{{p}}}`; this flow knows {}",
                                names.join(", ")
                            ),
                        ));
                    }
                    if p == "password" && !matches!(step, Step::Fill { .. }) {
                        return Err((
                            at(i),
                            "`{password}` may only be typed into a field (`fill`), never put in a URL or a wait".into(),
                        ));
                    }
                }
            }
        }
        let count = |action: &str| steps.iter().filter(|s| s.action() == action).count();
        let position = |action: &str| steps.iter().position(|s| s.action() == action);
        match name {
            FlowName::Login => {
                if !steps.iter().any(|s| {
                    matches!(s, Step::Fill { value, .. } if value.placeholders().contains(&"password"))
                }) {
                    return Err((
                        key.into(),
                        "no step types the password: add fill = { selector = \"...\", value = \"{password}\" }".into(),
                    ));
                }
            }
            FlowName::Export => {
                if count("download") != 1 || !matches!(steps.last(), Some(Step::Download(_))) {
                    return Err((
                        key.into(),
                        "the last step, and only it, is download = \"<the export link or button>\"".into(),
                    ));
                }
            }
            FlowName::Report => {
                let uses_order = steps
                    .iter()
                    .flat_map(Step::templates)
                    .any(|t| t.placeholders().contains(&"order"));
                if !uses_order {
                    return Err((
                        key.into(),
                        "no step uses `{order}`: open the order's page, e.g. goto = \"/orders/{order}\"".into(),
                    ));
                }
                let (Some(probe), Some(submit)) = (position("reported_if"), position("submit"))
                else {
                    return Err((
                        key.into(),
                        "the report flow needs reported_if = \"<shown once an order has a report>\" (asked before every submit, so nothing is sent twice) and submit = \"<the send button>\"".into(),
                    ));
                };
                if count("reported_if") != 1 || count("submit") != 1 || probe > submit {
                    return Err((
                        key.into(),
                        "give one reported_if step, then one submit step".into(),
                    ));
                }
                let after: Vec<&Step> = steps[submit + 1..].iter().collect();
                if !matches!(after.as_slice(), [] | [Step::Confirm { .. }]) {
                    return Err((
                        at(submit + 1),
                        "after submit only a confirm step may follow".into(),
                    ));
                }
                if count("confirm") > 1 || position("confirm").is_some_and(|c| c < submit) {
                    return Err((key.into(), "a confirm step follows the submit".into()));
                }
            }
        }
        Ok(Flow { name, steps })
    }
}

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
        target: css(&s.confirmation)?,
        error: s.form_error.as_deref().map(css).transpose()?,
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

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FileConfirm {
    Selector(String),
    Table {
        selector: String,
        #[serde(default)]
        error: Option<String>,
    },
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
            let (selector, error) = match v {
                FileConfirm::Selector(s) => (s, None),
                FileConfirm::Table { selector, error } => (selector, error),
            };
            steps.push(Step::Confirm {
                target: Locator::parse(&selector)?,
                error: error.as_deref().map(Locator::parse).transpose()?,
            });
        }
        match steps.len() {
            1 => Ok(steps.remove(0)),
            0 => Err("a step needs one action: goto, fill, select, check, uncheck, click, click_if_present, wait_for, download, reported_if, submit or confirm".into()),
            _ => Err("a step has exactly one action; split it into one [[...]] table per action".into()),
        }
    }
}

/// Percent-encodes a value for a URL: everything but unreserved characters.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(toml_text: &str) -> Result<Flow, (String, String)> {
        #[derive(Deserialize)]
        struct File {
            report: Vec<FileStep>,
        }
        let file: File = toml::from_str(toml_text).unwrap();
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
    fn the_password_is_only_ever_typed_into_a_field() {
        let goto = vec![Step::Goto(Template("/login?p={password}".into()))];
        let err = Flow::check(FlowName::Login, goto).unwrap_err();
        assert!(err.1.contains("only be typed"), "{err:?}");
    }

    #[test]
    fn placeholders_are_filled_and_percent_encoded_in_urls() {
        let url = Template("/orders/{order}?x={{y}}".into())
            .render(|_| Some("SO/2026#1 &ü".into()), percent_encode)
            .unwrap();
        assert_eq!(url, "/orders/SO%2F2026%231%20%26%C3%BC?x={y}");
        assert!(Template("/a/{order".into()).pieces().is_err());
    }

    #[test]
    fn locators_take_the_selenium_prefixes() {
        assert_eq!(Locator::parse("#a").unwrap().kind, LocatorKind::Css);
        assert_eq!(Locator::parse("//a").unwrap().kind, LocatorKind::XPath);
        let link = Locator::parse("linkText=Sign in").unwrap();
        assert_eq!(
            (link.kind, link.value.as_str()),
            (LocatorKind::LinkText, "Sign in")
        );
        assert!(Locator::parse("id=").is_err());
    }
}
