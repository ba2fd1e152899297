//! Which part of a recording is the login, the export and the report.

use std::ops::RangeInclusive;

use super::side::Recorded;

/// The commands (indexes) of each flow.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sections {
    pub login: Option<RangeInclusive<usize>>,
    pub export: Option<RangeInclusive<usize>>,
    pub report: Option<RangeInclusive<usize>>,
}

fn is_open(c: &Recorded) -> bool {
    c.command == "open"
}

/// A command that sends a form or follows a link.
fn is_click(c: &Recorded) -> bool {
    matches!(c.command.as_str(), "click" | "clickAt")
        || (c.command == "sendKeys" && c.value.contains("${KEY_ENTER}"))
}

/// A command that looks at the page without changing it.
fn is_wait(c: &Recorded) -> bool {
    c.command.starts_with("waitFor")
        || c.command.starts_with("assert")
        || c.command.starts_with("verify")
        || c.command == "pause"
}

fn mentions_export(c: &Recorded) -> bool {
    c.locators().iter().any(|l| {
        let l = l.to_lowercase();
        l.contains("export") || l.contains("download") || l.contains(".csv")
    })
}

/// The proposal: the login from the `open` before the password up to the
/// click that sends it and the waits on the page after; the export from the
/// next `open` to the click on the export; the report from the next `open`
/// (the order's page) to the end.
pub fn propose(commands: &[Recorded], password_at: Option<usize>) -> Sections {
    let mut sections = Sections::default();
    let mut next = 0;
    if let Some(pw) = password_at {
        let start = (0..=pw).rev().find(|&i| is_open(&commands[i])).unwrap_or(0);
        let mut end = (pw..commands.len())
            .find(|&i| is_click(&commands[i]))
            .unwrap_or(pw);
        while end + 1 < commands.len() && is_wait(&commands[end + 1]) {
            end += 1;
        }
        sections.login = Some(start..=end);
        next = end + 1;
    }
    if let Some(click) =
        (next..commands.len()).find(|&i| is_click(&commands[i]) && mentions_export(&commands[i]))
    {
        let start = (next..=click)
            .rev()
            .find(|&i| is_open(&commands[i]))
            .unwrap_or(next);
        sections.export = Some(start..=click);
        next = click + 1;
    }
    if let Some(open) = (next..commands.len()).find(|&i| is_open(&commands[i])) {
        sections.report = Some(open..=commands.len() - 1);
    }
    sections
}
