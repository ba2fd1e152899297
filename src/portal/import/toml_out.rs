//! Flows written as the config's TOML: one `[[portal.<flow>]]` table per
//! step, its origin and the other recorded locators as comments.

use super::config_file::ExportForm;
use super::{ImportedFlow, ImportedStep};
use crate::flow::{Choice, Locator, Step, Template};

/// A TOML string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn selector(locator: &Locator) -> String {
    quoted(&locator.to_string())
}

fn text(template: &Template) -> String {
    quoted(&template.0)
}

/// The step's key line, as `FileStep` reads it.
pub fn step_line(step: &Step) -> String {
    match step {
        Step::Goto(t) => format!("goto = {}", text(t)),
        Step::Fill {
            target,
            value,
            optional,
        } => format!(
            "fill = {{ selector = {}, value = {}{} }}",
            selector(target),
            text(value),
            if *optional { ", optional = true" } else { "" }
        ),
        Step::Select { target, choice } => {
            let option = match choice {
                Choice::Value(t) => format!("value = {}", text(t)),
                Choice::Text(t) => format!("text = {}", text(t)),
                Choice::Index(i) => format!("index = {i}"),
            };
            format!("select = {{ selector = {}, {option} }}", selector(target))
        }
        Step::WaitFor {
            target,
            text: Some(t),
        } => format!(
            "wait_for = {{ selector = {}, text = {} }}",
            selector(target),
            text(t)
        ),
        Step::Confirm {
            target,
            error,
            request,
        } if error.is_some() || request.is_some() => {
            let mut keys = Vec::new();
            if let Some(t) = target {
                keys.push(format!("selector = {}", selector(t)));
            }
            if let Some(e) = error {
                keys.push(format!("error = {}", selector(e)));
            }
            if let Some(r) = request {
                keys.push(format!("request = {}", text(&Template(r.to_string()))));
                if let Some(status) = r.status {
                    keys.push(format!("status = {status}"));
                }
            }
            format!("confirm = {{ {} }}", keys.join(", "))
        }
        other => {
            let target = other.target().expect("every other step has a target");
            format!("{} = {}", other.action(), selector(target))
        }
    }
}

fn comment(line: &str) -> String {
    // A comment ends at the line's end: a recorded newline would end it early.
    format!("# {}\n", line.replace(['\n', '\r'], " "))
}

/// The table header of a flow's steps.
pub fn header(flow: &ImportedFlow, export: ExportForm) -> String {
    match (flow.name.key(), export) {
        ("portal.export", ExportForm::Table) => "[[portal.export.steps]]".into(),
        (key, _) => format!("[[{key}]]"),
    }
}

/// One flow's tables. Comments sit inside each table, so replacing the
/// tables later replaces them too.
pub fn flow_toml(flow: &ImportedFlow, export: ExportForm) -> String {
    let header = header(flow, export);
    let mut out = String::new();
    for (i, ImportedStep { step, comments }) in flow.steps.iter().enumerate() {
        match step {
            Some(step) => {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(&header);
                out.push('\n');
                if i == 0 {
                    out.push_str(&comment(&format!(
                        "{}: imported from a Selenium IDE recording ({})",
                        flow.name.key(),
                        flow.source
                    )));
                }
                for line in comments {
                    out.push_str(&comment(line));
                }
                out.push_str(&step_line(step));
                out.push('\n');
            }
            None => {
                for line in comments {
                    out.push_str(&comment(line));
                }
            }
        }
    }
    out
}

/// Every flow, separated by a blank line.
pub fn flows_toml(flows: &[ImportedFlow], export: ExportForm) -> String {
    flows
        .iter()
        .map(|f| flow_toml(f, export))
        .collect::<Vec<_>>()
        .join("\n")
}
