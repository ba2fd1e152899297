//! `reporter portal import`: a Selenium IDE recording made into the
//! config's flow steps. Pure: a project and options in, TOML text and notes
//! out; the command reads and writes the files.

mod config_file;
mod locator;
mod mapping;
mod side;
mod split;
mod toml_out;
mod values;

pub use config_file::{ExportForm, replace_flows};
pub use side::Project;
pub use toml_out::{flow_toml, flows_toml, header};

use std::ops::RangeInclusive;

use mapping::{Commented, Mapped};
use side::Recorded;
use values::Values;

use crate::flow::{Flow, FlowName, Locator, Step};

/// What the operator tells the importer.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub test: Option<String>,
    /// One flow from the whole recording; without it, the proposed split.
    pub flow: Option<FlowName>,
    pub login: Option<String>,
    pub order: Option<String>,
    /// The report's reason and comment (given, or the config's).
    pub reason: Option<String>,
    pub comment: Option<String>,
    /// The element an order's page shows once it has a report.
    pub reported_if: Option<Locator>,
    /// Extra bases whose URLs become paths (the config's `base_url`).
    pub bases: Vec<String>,
}

/// One step as written: a step, or (`None`) a marked placeholder.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedStep {
    pub step: Option<Step>,
    pub comments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportedFlow {
    pub name: FlowName,
    pub steps: Vec<ImportedStep>,
    /// Which commands it came from, for people.
    pub source: String,
}

impl ImportedFlow {
    /// The flow as the config check sees it (placeholders left out).
    pub fn check(&self) -> Result<Flow, String> {
        let steps = self.steps.iter().filter_map(|s| s.step.clone()).collect();
        Flow::check(self.name, steps).map_err(|(key, why)| format!("{key}: {why}"))
    }
}

#[derive(Debug, Default)]
pub struct Import {
    pub flows: Vec<ImportedFlow>,
    /// Said on stderr: what became what, what was left out on purpose.
    pub notes: Vec<String>,
    /// Commands left out that nothing maps: refused unless allowed.
    pub dropped: Vec<String>,
}

impl Import {
    pub fn flow(&self, name: FlowName) -> Option<&ImportedFlow> {
        self.flows.iter().find(|f| f.name == name)
    }
}

/// The password: typed into a field whose locators say so.
fn find_password(commands: &[Recorded]) -> Option<(usize, String)> {
    commands.iter().enumerate().find_map(|(i, c)| {
        let typed = matches!(c.command.as_str(), "type" | "sendKeys");
        let field = c.locators().iter().any(|l| {
            let l = l.to_lowercase();
            l.contains("pass") || l.contains("pwd")
        });
        let value = c.value.split("${").next().unwrap_or("");
        (typed && field && !value.is_empty()).then(|| (i, value.to_string()))
    })
}

/// In a login without a field named as a password: the value typed last
/// before the first click or Enter that sends the form.
fn typed_before_send(commands: &[Recorded]) -> Option<(usize, String)> {
    let send = commands.iter().position(|c| {
        matches!(c.command.as_str(), "click" | "clickAt")
            || (c.command == "sendKeys" && c.value.contains("${KEY_ENTER}"))
    })?;
    (0..=send).rev().find_map(|i| {
        let c = &commands[i];
        let value = c.value.split("${").next().unwrap_or("");
        (matches!(c.command.as_str(), "type" | "sendKeys") && !value.is_empty())
            .then(|| (i, value.to_string()))
    })
}

/// The login: the last value typed before the password.
fn find_login(commands: &[Recorded], password_at: usize) -> Option<String> {
    commands[..password_at]
        .iter()
        .rev()
        .find(|c| c.command == "type" && !c.value.is_empty())
        .map(|c| c.value.clone())
}

/// Turns a recording into flows.
pub fn import(project: &Project, options: &Options) -> anyhow::Result<Import> {
    let commands = project.commands(options.test.as_deref())?;
    let mut password = find_password(&commands);
    if password.is_none() && options.flow == Some(FlowName::Login) {
        password = typed_before_send(&commands);
    }
    let mut values = Values {
        login: options.login.clone(),
        password: password.as_ref().map(|(_, p)| p.clone()),
        order: options.order.clone(),
        reason: options.reason.clone(),
        comment: options.comment.clone(),
        bases: std::iter::once(project.url.clone())
            .chain(options.bases.iter().cloned())
            .collect(),
    };
    let mut out = Import::default();
    if let Some((at, _)) = &password {
        if values.login.is_none() {
            values.login = find_login(&commands, *at);
        }
        out.notes.push(format!(
            "the password typed at {} was replaced by {{password}}; it is written nowhere",
            commands[*at].position()
        ));
    }
    if password.is_none() && options.flow.is_none() {
        out.notes.push(
            "no password typed into a field named as one (pass, pwd): no login flow proposed; give --flow login to read a login".into(),
        );
    }
    let everything = 0..=commands.len() - 1;
    let sections: Vec<(FlowName, RangeInclusive<usize>)> = match options.flow {
        Some(name) => vec![(name, everything)],
        None => {
            let proposed = split::propose(&commands, password.as_ref().map(|(i, _)| *i));
            [
                (FlowName::Login, proposed.login),
                (FlowName::Export, proposed.export),
                (FlowName::Report, proposed.report),
            ]
            .into_iter()
            .filter_map(|(name, range)| range.map(|r| (name, r)))
            .collect()
        }
    };
    if values.order.is_none() {
        let report = sections.iter().find(|(n, _)| *n == FlowName::Report);
        values.order = report.and_then(|(_, range)| {
            range
                .clone()
                .filter(|&i| commands[i].command == "open")
                .find_map(|i| values::order_in_url(&commands[i].target))
        });
        if let Some(order) = &values.order {
            out.notes.push(format!(
                "the order id `{order}` seen in the order page's URL became {{order}}; give --order ID if that is not the order"
            ));
        }
    }
    for (i, command) in commands.iter().enumerate() {
        if !sections.iter().any(|(_, r)| r.contains(&i)) {
            out.notes.push(format!(
                "{} `{}` is in no flow (not part of the login, the export or the report)",
                command.position(),
                command.command
            ));
        }
    }
    for (name, range) in sections {
        let first = &commands[*range.start()];
        let last = &commands[*range.end()];
        let source = if first.test == last.test {
            format!(
                "commands {}-{} of test \"{}\"",
                first.number, last.number, first.test
            )
        } else {
            format!("{} to {}", first.position(), last.position())
        };
        let mut steps = Vec::new();
        for i in range.clone() {
            if let Some(why) = idle_click(&commands, i, &range) {
                out.notes.push(format!(
                    "{} `{}` on `{}`: dropped, {why}",
                    commands[i].position(),
                    commands[i].command,
                    commands[i].target
                ));
                continue;
            }
            match mapping::map(&commands[i], &values) {
                Mapped::Steps(mapped) => steps.extend(mapped),
                Mapped::Skipped(note) => out.notes.push(note),
                Mapped::Dropped(why) => out.dropped.push(why),
            }
        }
        let steps = match name {
            FlowName::Login => steps.into_iter().map(imported).collect(),
            FlowName::Export => export_steps(steps, &mut out.notes),
            FlowName::Report => report_steps(steps, options, &mut out.notes),
        };
        out.notes.push(format!("{}: {source}", name.key()));
        out.flows.push(ImportedFlow {
            name,
            steps,
            source,
        });
    }
    if out.flows.is_empty() {
        return Err(crate::error::refuse(
            "no login, export or report found in the recording; say which flow it is with --flow login|export|report",
        ));
    }
    Ok(out)
}

/// Why a recorded click does nothing a flow needs, if it does not: Selenium
/// IDE records a click into each field before typing into it, and clicks on
/// the page's body; each would cost a WebDriver command per order.
fn idle_click(
    commands: &[Recorded],
    i: usize,
    range: &RangeInclusive<usize>,
) -> Option<&'static str> {
    let click = &commands[i];
    if !matches!(click.command.as_str(), "click" | "clickAt") {
        return None;
    }
    let container = [
        "css=body",
        "css=html",
        "css=main",
        "xpath=/html",
        "xpath=/html/body",
        "xpath=//body",
        "xpath=//html",
        "tagName=body",
        "tagName=html",
    ];
    if container.contains(&click.target.trim()) {
        return Some("a click on the page itself");
    }
    let next = commands.get(i + 1).filter(|_| range.contains(&(i + 1)))?;
    (matches!(next.command.as_str(), "type" | "sendKeys" | "select") && next.target == click.target)
        .then_some("the field is worked by the command after it")
}

fn imported(c: Commented) -> ImportedStep {
    ImportedStep {
        step: Some(c.step),
        comments: c.comments,
    }
}

/// The headline of a step's comments (where it came from).
fn origin(c: &Commented) -> &str {
    c.comments.first().map(String::as_str).unwrap_or("a step")
}

/// The last click is the download; nothing follows it.
fn export_steps(mut steps: Vec<Commented>, notes: &mut Vec<String>) -> Vec<ImportedStep> {
    if let Some(at) = steps.iter().rposition(|c| matches!(c.step, Step::Click(_))) {
        for after in steps.drain(at + 1..) {
            notes.push(format!(
                "{} left out: the export flow ends with its download",
                origin(&after)
            ));
        }
        if let Step::Click(target) = &steps[at].step {
            steps[at].step = Step::Download(target.clone());
            steps[at]
                .comments
                .push("the export link: fetched as the export".into());
        }
    }
    steps.into_iter().map(imported).collect()
}

/// The last click is the submit, the first wait after it the confirmation;
/// the probe for an order already reported goes after the page opens.
fn report_steps(
    mut steps: Vec<Commented>,
    options: &Options,
    notes: &mut Vec<String>,
) -> Vec<ImportedStep> {
    if let Some(at) = steps.iter().rposition(|c| matches!(c.step, Step::Click(_))) {
        let after: Vec<Commented> = steps.drain(at + 1..).collect();
        if let Step::Click(target) = &steps[at].step {
            steps[at].step = Step::Submit(target.clone());
            steps[at]
                .comments
                .push("the button that sends the report".into());
        }
        let mut confirmed = false;
        for c in after {
            match (&c.step, confirmed) {
                (Step::WaitFor { target, text }, false) => {
                    let mut c = c.clone();
                    if text.is_some() {
                        c.comments
                            .push("the recorded text is not checked by confirm".into());
                    }
                    c.step = Step::Confirm {
                        target: Some(target.clone()),
                        error: None,
                        request: None,
                    };
                    c.comments.push("shown once the report is received".into());
                    steps.push(c);
                    confirmed = true;
                }
                _ => notes.push(format!(
                    "{} left out: after the submit only the confirmation is read",
                    origin(&c)
                )),
            }
        }
    }
    let mut out: Vec<ImportedStep> = steps.into_iter().map(imported).collect();
    let probe_at = 1 + out
        .iter()
        .skip(1)
        .take_while(|s| matches!(s.step, Some(Step::ClickIfPresent(_))))
        .count();
    let probe = match &options.reported_if {
        Some(target) => ImportedStep {
            step: Some(Step::ReportedIf(target.clone())),
            comments: vec![
                "given with --reported-if: an order showing it is not reported again".into(),
            ],
        },
        None => {
            notes.push(
                "the report flow needs the element an order's page shows once it has a report, which a recording cannot show: give it with --reported-if SELECTOR (the config check refuses the flow until it is there)".into(),
            );
            ImportedStep {
                step: None,
                comments: vec![
                    "TODO: the element an order's page shows once it has a report;".into(),
                    "the config check refuses this flow until it is written here, e.g.".into(),
                    "reported_if = \"#already-reported\"".into(),
                ],
            }
        }
    };
    out.insert(probe_at.min(out.len()), probe);
    out
}

#[cfg(test)]
mod tests;
