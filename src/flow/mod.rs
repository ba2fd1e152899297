//! The flow language: the login, the export and the report, each an ordered
//! list of steps (go to a page, fill, select, click, wait, download, submit,
//! confirm), with the locators that find elements and the templates that fill
//! values in. `config` reads them from TOML; `portal` runs them.

mod locator;
mod template;

pub use locator::{Locator, LocatorKind};
pub use template::{Piece, Template, percent_encode};

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
            FlowName::Login => &["user", "login", "password", "totp"],
            FlowName::Export => &["user", "login"],
            FlowName::Report => &["user", "login", "order", "reason", "comment"],
        }
    }
}

/// How a `select` step picks its option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Value(Template),
    Text(Template),
    Index(u32),
}

/// What `confirm = { request = "METHOD /path" }` waits for: the page's own
/// request, answered with `status` (any 2xx when not given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPattern {
    /// Upper case: `PUT`, `POST`, ...
    pub method: String,
    /// A path under `base_url` or a full URL; with a `?`, the query counts too.
    pub path: Template,
    pub status: Option<u16>,
}

impl RequestPattern {
    /// Reads `"METHOD /path/{order}"`.
    pub fn parse(text: &str, status: Option<u16>) -> Result<RequestPattern, String> {
        let mut words = text.split_whitespace();
        let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!(
                "`{text}` is not a request; write it as METHOD and path, e.g. request = \"PUT /api/orders/{{order}}\""
            ));
        };
        let method = method.to_ascii_uppercase();
        if !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "`{method}` is not an HTTP method (GET, POST, PUT, PATCH, DELETE)"
            ));
        }
        if !(path.starts_with('/') || path.starts_with("http://") || path.starts_with("https://")) {
            return Err(format!(
                "the request's path `{path}` starts with `/` (or is a full http(s) URL)"
            ));
        }
        if let Some(code) = status
            && !(100..=599).contains(&code)
        {
            return Err(format!("status {code} is not an HTTP status (100 to 599)"));
        }
        Ok(RequestPattern {
            method,
            path: Template(path.to_string()),
            status,
        })
    }
}

impl std::fmt::Display for RequestPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path.0)
    }
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
    /// Waits until the element is gone or hidden (a spinner, a message).
    WaitGone(Locator),
    /// Export flow, last step: the link or form button of the export, which
    /// is fetched by the page itself (so it works where the browser's disk is
    /// not the worker's); or any other element, clicked, whose file (a Blob
    /// the page builds, or a download it starts) is taken from the page.
    Download(Locator),
    /// Report flow: the element shown when the order already has a report.
    ReportedIf(Locator),
    /// Report flow: the button that sends the report.
    Submit(Locator),
    /// Report flow, after `submit`: the element that confirms the report,
    /// the page's own request that must be answered, or both; and the element
    /// that shows a form error.
    Confirm {
        target: Option<Locator>,
        error: Option<Locator>,
        request: Option<RequestPattern>,
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
            Step::WaitGone(_) => "wait_gone",
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
            | Step::WaitFor { target, .. } => Some(target),
            Step::Confirm { target, .. } => target.as_ref(),
            Step::Click(target)
            | Step::WaitGone(target)
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
            Step::Confirm {
                request: Some(r), ..
            } => vec![&r.path],
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
        if let Step::Confirm {
            target: None,
            request: Some(request),
            ..
        } = step
        {
            return format!(
                "{} step {} (confirm `{request}`)",
                self.name.key(),
                index + 1
            );
        }
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
        // A one-time code's field is part of the login form too: while it
        // shows, the login is not done.
        for step in &self.steps {
            if let Step::Fill { target, value, .. } = step
                && value.placeholders().contains(&"totp")
                && !form.contains(target)
            {
                form.push(target.clone());
            }
        }
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

    /// Whether the flow types a one-time code (`{totp}`).
    pub fn uses_totp(&self) -> bool {
        self.steps.iter().any(|step| {
            matches!(step, Step::Fill { value, .. } if value.placeholders().contains(&"totp"))
        })
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
                    if (p == "password" || p == "totp") && !matches!(step, Step::Fill { .. }) {
                        return Err((
                            at(i),
                            format!(
                                "`{{{p}}}` may only be typed into a field (`fill`), never put in a URL or a wait"
                            ),
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
                if position("reported_if").is_none() || position("submit").is_none() {
                    return Err((
                        key.into(),
                        "the report flow needs reported_if = \"<shown once an order has a report>\" (asked before every submit, so nothing is sent twice) and submit = \"<the send button>\"".into(),
                    ));
                }
                check_parts(&steps, &at)?;
            }
        }
        Ok(Flow { name, steps })
    }
}

/// One part of a report flow: its own `reported_if`, then its `submit`,
/// then the steps up to its answer. A report of two forms has two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Where the part's steps begin (its page, its `reported_if`, its form).
    pub from: usize,
    pub reported_if: usize,
    pub submit: usize,
    /// Its `confirm`, if it has one.
    pub confirm: Option<usize>,
    /// Where the steps between the submit and the answer end (the confirm,
    /// or the next part's first step).
    pub answer_at: usize,
    /// Where the next part (or, after the last, the closing steps) begins.
    pub next: usize,
}

impl Flow {
    /// The report flow's parts (checked at load).
    pub fn parts(&self) -> Vec<Part> {
        let mut parts = Vec::new();
        let mut from = 0;
        let mut probe = None;
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::ReportedIf(_) => probe = Some(i),
                Step::Submit(_) => {
                    let after = &self.steps[i + 1..];
                    let end = after
                        .iter()
                        .position(|s| matches!(s, Step::ReportedIf(_) | Step::Goto(_)))
                        .map_or(self.steps.len(), |n| i + 1 + n);
                    let confirm = self.steps[i + 1..end]
                        .iter()
                        .position(|s| matches!(s, Step::Confirm { .. }))
                        .map(|n| i + 1 + n);
                    // The next part begins at its navigation, if any, right
                    // after this part's answer.
                    let next_probe = after
                        .iter()
                        .position(|s| matches!(s, Step::ReportedIf(_)))
                        .map(|n| i + 1 + n);
                    let next = match (confirm, next_probe) {
                        (Some(c), Some(_)) => c + 1,
                        (None, Some(_)) => end,
                        (_, None) => confirm.map_or(self.steps.len(), |c| c + 1),
                    };
                    parts.push(Part {
                        from,
                        reported_if: probe.expect("checked at load: reported_if before submit"),
                        submit: i,
                        confirm,
                        answer_at: confirm.unwrap_or(end),
                        next,
                    });
                    from = next;
                }
                _ => {}
            }
        }
        parts
    }
}

/// Checks the parts of a report flow: each `submit` after its own
/// `reported_if`; after a submit only what waits for or closes its answer
/// (and, before the next part, a `goto`); one `confirm` per part.
fn check_parts(steps: &[Step], at: &dyn Fn(usize) -> String) -> Result<(), (String, String)> {
    let mut probe: Option<usize> = None;
    let mut submitted: Option<usize> = None;
    let mut confirmed = false;
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::ReportedIf(_) if probe.is_some() => {
                return Err((
                    at(i),
                    "each part of the report has one reported_if, then its submit".into(),
                ));
            }
            Step::ReportedIf(_) => {
                probe = Some(i);
                submitted = None;
                confirmed = false;
            }
            Step::Submit(_) if probe.is_none() => {
                return Err((
                    at(i),
                    "a submit needs its own reported_if before it (asked before the submit, so nothing is sent twice)".into(),
                ));
            }
            Step::Submit(_) => {
                probe = None;
                submitted = Some(i);
            }
            Step::Confirm { .. } if submitted.is_none() || confirmed => {
                return Err((at(i), "one confirm step follows each submit".into()));
            }
            Step::Confirm { .. } => confirmed = true,
            Step::Click(_) | Step::ClickIfPresent(_) | Step::WaitFor { .. } | Step::WaitGone(_) => {
            }
            Step::Goto(_)
                if submitted.is_some()
                    && steps[i..].iter().any(|s| matches!(s, Step::ReportedIf(_))) => {}
            other if submitted.is_some() => {
                return Err((
                    at(i),
                    format!(
                        "`{}` cannot follow submit: after it come only click, click_if_present, wait_for, wait_gone and one confirm (and, before the next part's reported_if, a goto)",
                        other.action()
                    ),
                ));
            }
            _ => {}
        }
    }
    if probe.is_some() {
        return Err((
            at(steps.len() - 1),
            "the last reported_if has no submit after it".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_only_ever_typed_into_a_field() {
        let goto = vec![Step::Goto(Template("/login?p={password}".into()))];
        let err = Flow::check(FlowName::Login, goto).unwrap_err();
        assert!(err.1.contains("only be typed"), "{err:?}");
    }
}
