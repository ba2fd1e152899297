//! A Selenium IDE project (`.side`, the JSON that IDE 3.x and 4.x save):
//! its base URL and its tests, each a list of recorded commands.

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::error::refuse;

#[derive(Debug, Deserialize)]
pub struct Project {
    /// The base URL the recording started from.
    #[serde(default)]
    pub url: String,
    pub tests: Vec<Test>,
}

#[derive(Debug, Deserialize)]
pub struct Test {
    #[serde(default)]
    pub name: String,
    pub commands: Vec<SideCommand>,
}

#[derive(Debug, Deserialize)]
pub struct SideCommand {
    pub command: String,
    #[serde(default)]
    pub target: String,
    /// Every locator the IDE found for the element: `[locator, kind]`.
    #[serde(default)]
    pub targets: Vec<Vec<String>>,
    #[serde(default)]
    pub value: String,
}

/// One recorded command and where it stands in the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub test: String,
    /// 1-based, within its test.
    pub number: usize,
    pub command: String,
    pub target: String,
    pub targets: Vec<String>,
    pub value: String,
}

impl Recorded {
    /// `command 4 of test "sign in"`.
    pub fn position(&self) -> String {
        format!("command {} of test \"{}\"", self.number, self.test)
    }

    /// The recorded locators: the chosen `target` first, then the others.
    pub fn locators(&self) -> Vec<&str> {
        let mut all: Vec<&str> = Vec::new();
        for text in std::iter::once(&self.target).chain(&self.targets) {
            if !text.trim().is_empty() && !all.contains(&text.as_str()) {
                all.push(text);
            }
        }
        all
    }
}

impl Project {
    pub fn parse(text: &str, file: &str) -> Result<Project> {
        serde_json::from_str(text).map_err(|err| {
            refuse(format!(
                "`{file}` is not a Selenium IDE project ({err}); save the recording with \"Save project\" in Selenium IDE"
            ))
        })
    }

    pub fn read(path: &std::path::Path) -> Result<Project> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))
            .map_err(|err| refuse(format!("{err:#}; give the .side file Selenium IDE saved")))?;
        Project::parse(&text, &path.display().to_string())
    }

    /// The commands of the test named `test`, or of every test in order.
    pub fn commands(&self, test: Option<&str>) -> Result<Vec<Recorded>> {
        let tests: Vec<&Test> = match test {
            Some(name) => {
                let found: Vec<&Test> = self.tests.iter().filter(|t| t.name == name).collect();
                if found.is_empty() {
                    let names: Vec<String> = self
                        .tests
                        .iter()
                        .map(|t| format!("\"{}\"", t.name))
                        .collect();
                    return Err(refuse(format!(
                        "the project has no test \"{name}\"; its tests: {}",
                        names.join(", ")
                    )));
                }
                found
            }
            None => self.tests.iter().collect(),
        };
        let commands: Vec<Recorded> = tests
            .iter()
            .flat_map(|t| {
                t.commands.iter().enumerate().map(|(i, c)| Recorded {
                    test: t.name.clone(),
                    number: i + 1,
                    command: c.command.trim().to_string(),
                    target: c.target.clone(),
                    targets: c
                        .targets
                        .iter()
                        .filter_map(|t| t.first().cloned())
                        .collect(),
                    value: c.value.clone(),
                })
            })
            // Selenium IDE saves an empty command for a blank line.
            .filter(|c| !c.command.is_empty())
            .collect();
        if commands.is_empty() {
            return Err(refuse(
                "the recording holds no command; record the login and one report in Selenium IDE",
            ));
        }
        Ok(commands)
    }
}
