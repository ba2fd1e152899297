//! One recorded command as flow steps, or why it has none.

use super::locator;
use super::side::Recorded;
use super::values::Values;
use crate::flow::{Choice, Locator, Step, Template};

/// A step with the comments written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Commented {
    pub step: Step,
    pub comments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mapped {
    Steps(Vec<Commented>),
    /// Left out on purpose, with a note (a pause, a window size).
    Skipped(String),
    /// Left out because nothing maps it: refused unless `--allow-dropped`.
    Dropped(String),
}

/// The text before the first `${KEY_...}` and the keys pressed.
fn split_keys(value: &str) -> (&str, Vec<&str>) {
    let text = value.split("${").next().unwrap_or("");
    let keys = value
        .split("${")
        .skip(1)
        .filter_map(|k| k.split('}').next())
        .collect();
    (text, keys)
}

/// A click on this closes a consent or cookie overlay, which a fresh
/// browser shows and a later page may not.
fn is_overlay(recorded: &Recorded) -> bool {
    recorded.locators().iter().any(|l| {
        let l = l.to_lowercase();
        l.contains("consent") || l.contains("cookie")
    })
}

pub fn map(recorded: &Recorded, values: &Values) -> Mapped {
    let name = recorded.command.as_str();
    let at = recorded.position();
    let headline = format!("{}: {} {}", at, name, values.redact(recorded.target.trim()))
        .trim_end()
        .to_string();
    let chosen = locator::choose(&recorded.locators(), |t| values.has_password(t));
    let with_target = |build: &dyn Fn(Locator) -> Step, extra: Option<String>| match &chosen {
        Some((target, others)) => {
            let mut comments = vec![headline.clone()];
            comments.extend(extra);
            if !others.is_empty() {
                comments.push(format!("also recorded: {}", others.join(" | ")));
            }
            Mapped::Steps(vec![Commented {
                step: build(target.clone()),
                comments,
            }])
        }
        None => Mapped::Dropped(format!(
            "{at} `{name}` has no locator that reporter reads (css=, xpath=, id=, name=, linkText=, partialLinkText=)"
        )),
    };
    let typed = |value: &str| -> Result<(Template, Option<String>), Mapped> {
        let (text, placeholder) = values.typed(value);
        if placeholder != Some("password") && values.has_password(value) {
            return Err(Mapped::Dropped(format!(
                "{at} `{name}` holds the password among other text; record the password on its own"
            )));
        }
        let said = match placeholder {
            Some("password") => "the recorded password was replaced by {password}".to_string(),
            Some(p) => format!("the recorded value became {{{p}}}"),
            None => String::new(),
        };
        Ok((Template(text), Some(said).filter(|s| !s.is_empty())))
    };
    match name {
        "open" => {
            if values.has_password(&recorded.target) {
                return Mapped::Dropped(format!(
                    "{at} `open` has the password in its URL; a URL never holds it"
                ));
            }
            let (path, used) = values.url(&recorded.target);
            let mut comments = vec![headline];
            if !used.is_empty() {
                let names: Vec<String> = used.iter().map(|p| format!("{{{p}}}")).collect();
                comments.push(format!("the recorded URL now uses {}", names.join(", ")));
            }
            Mapped::Steps(vec![Commented {
                step: Step::Goto(Template(path)),
                comments,
            }])
        }
        "type" | "sendKeys" => {
            let (text, keys) = split_keys(&recorded.value);
            let mut steps = Vec::new();
            if name == "type" || !text.is_empty() {
                let (value, said) = match typed(text) {
                    Ok(t) => t,
                    Err(dropped) => return dropped,
                };
                match with_target(
                    &|target| Step::Fill {
                        target,
                        value: value.clone(),
                        optional: false,
                    },
                    said,
                ) {
                    Mapped::Steps(fill) => steps.extend(fill),
                    other => return other,
                }
            }
            for key in keys {
                if key != "KEY_ENTER" {
                    return Mapped::Dropped(format!(
                        "{at} `sendKeys` presses ${{{key}}}, which no step does; only ${{KEY_ENTER}} (the form's submit) is read"
                    ));
                }
                let Some(submit) = locator::form_submit(&recorded.locators()) else {
                    return Mapped::Dropped(format!(
                        "{at} `sendKeys` presses Enter in a field found by no id, name or XPath; record a click on the form's button instead"
                    ));
                };
                steps.push(Commented {
                    step: Step::Click(submit),
                    comments: vec![
                        headline.clone(),
                        "Enter in the field: a click on its form's submit button".into(),
                    ],
                });
            }
            Mapped::Steps(steps)
        }
        "click" | "clickAt" => {
            let extra = (name == "clickAt").then(|| "the click's offset is not kept".to_string());
            if is_overlay(recorded) {
                let said = "a consent overlay: clicked only when the page shows it".to_string();
                with_target(&Step::ClickIfPresent, Some(said))
            } else {
                with_target(&Step::Click, extra)
            }
        }
        "check" | "uncheck" => with_target(
            &|target| Step::Check {
                target,
                checked: name == "check",
            },
            None,
        ),
        "select" => {
            let option = recorded.value.trim();
            let (choice, said) = if let Some(index) = option.strip_prefix("index=") {
                match index.trim().parse() {
                    Ok(i) => (Choice::Index(i), None),
                    Err(_) => {
                        return Mapped::Dropped(format!(
                            "{at} `select` has the index `{index}`, not a number"
                        ));
                    }
                }
            } else {
                let (by_value, text) = match option.strip_prefix("value=") {
                    Some(v) => (true, v),
                    None => (false, option.strip_prefix("label=").unwrap_or(option)),
                };
                let (template, said) = match typed(text) {
                    Ok(t) => t,
                    Err(dropped) => return dropped,
                };
                let choice = if by_value {
                    Choice::Value(template)
                } else {
                    Choice::Text(template)
                };
                (choice, said)
            };
            with_target(
                &|target| Step::Select {
                    target,
                    choice: choice.clone(),
                },
                said,
            )
        }
        "waitForElementPresent"
        | "waitForElementVisible"
        | "assertElementPresent"
        | "verifyElementPresent" => with_target(
            &|target| Step::WaitFor { target, text: None },
            (!name.starts_with("waitFor"))
                .then(|| "a check that the element is there, made a wait".to_string()),
        ),
        "waitForText" | "assertText" | "verifyText" => match typed(&recorded.value) {
            Ok((text, said)) if !recorded.value.is_empty() => with_target(
                &|target| Step::WaitFor {
                    target,
                    text: Some(text.clone()),
                },
                said,
            ),
            Ok(_) => with_target(&|target| Step::WaitFor { target, text: None }, None),
            Err(dropped) => dropped,
        },
        "pause" => Mapped::Skipped(format!(
            "{at} `pause` left out: every step already waits for its element (up to page_timeout)"
        )),
        "setWindowSize" => Mapped::Skipped(format!(
            "{at} `setWindowSize` left out: the workers' browser has its own size"
        )),
        "mouseOver" | "mouseOut" => Mapped::Skipped(format!(
            "{at} `{name}` left out: steps click and type, they do not hover"
        )),
        "runScript" | "executeScript" | "executeAsyncScript" => Mapped::Dropped(format!(
            "{at} `{name}` left out: flows run no scripts; if the page needs it, the flow will not work as recorded"
        )),
        other => Mapped::Dropped(format!("{at} `{other}` has no step")),
    }
}
