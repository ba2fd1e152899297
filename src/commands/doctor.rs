//! `reporter doctor`: checks what a host needs before the timer and workers can
//! run, one line per check, and exits 1 if any check fails. It loads the
//! config itself, so a broken config is a failed check, not a refusal.

mod browser;
mod database;
mod permits;

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::config::{Config, Overrides, PortalConfig};
use crate::output::{print_json, println_out};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  reporter doctor\n  \
    sudo reporter doctor --json   # as root: the credentials directory is root's\n\n\
    Exit status: 0 when every check passes, 1 when any fails.")]
pub struct DoctorArgs {}

/// The outcome of one check, as printed and as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub ok: bool,
    /// Passed, but with something the operator should know (it does not
    /// change the exit status).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
    /// What was found; for a failure or a warning, also what to do.
    pub detail: String,
}

impl Check {
    pub fn pass(check: &'static str, detail: impl Into<String>) -> Check {
        Check {
            check,
            ok: true,
            warning: false,
            detail: detail.into(),
        }
    }

    pub fn warn(check: &'static str, detail: impl Into<String>) -> Check {
        Check {
            check,
            ok: true,
            warning: true,
            detail: detail.into(),
        }
    }

    pub fn fail(check: &'static str, detail: impl Into<String>) -> Check {
        Check {
            check,
            ok: false,
            warning: false,
            detail: detail.into(),
        }
    }

    /// `ok   config: ...`, `WARN webdriver: ...` or `FAIL redis: ...`.
    fn line(&self) -> String {
        let verdict = match (self.ok, self.warning) {
            (false, _) => "FAIL",
            (true, true) => "WARN",
            (true, false) => "ok",
        };
        format!("{verdict:<4} {}: {}", self.check, self.detail)
    }
}

impl DoctorArgs {
    pub fn run(&self, flags: &Overrides, json: bool) -> Result<ExitCode> {
        let checks = checks(flags);
        if json {
            print_json(&checks)?;
        } else {
            for check in &checks {
                println_out(&check.line())?;
            }
        }
        Ok(if checks.iter().all(|c| c.ok) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// Every check, in the order a host is set up; those that need the config
/// or the database are left out when it cannot be read.
fn checks(flags: &Overrides) -> Vec<Check> {
    let config = match Config::load(flags) {
        Ok(config) => config,
        Err(err) => return vec![Check::fail("config", format!("{err:#}"))],
    };
    let mut checks = vec![
        Check::pass("config", config_source(&config)),
        database::sqlite(),
    ];
    let (database, conn) = database::check(&config.database);
    checks.push(database);
    checks.extend(permits::check(&config, conn.as_ref()));
    if let PortalConfig::Web(web) = &config.portal {
        checks.extend(browser::checks(
            &config.browser,
            config.max_active_browsers,
            web,
            conn.as_ref(),
        ));
    }
    checks
}

fn config_source(config: &Config) -> String {
    match &config.source {
        Some(path) => format!("{} loads", path.display()),
        None => format!(
            "built-in defaults (no {}, --config or REPORTER_CONFIG)",
            crate::config::DEFAULT_CONFIG_PATH
        ),
    }
}
