//! `reporter portal import FILE.side`: a Selenium IDE recording made into
//! the config's login, export and report flows, printed as TOML or written
//! into the config file. The recorded password is replaced by `{password}`
//! and written nowhere.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};

use crate::config::{Config, Overrides, PortalConfig};
use crate::error::refuse;
use crate::flow::{FlowName, Locator};
use crate::portal::import::{self, ExportForm, Import, Options, Project};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FlowArg {
    Login,
    Export,
    Report,
}

impl From<FlowArg> for FlowName {
    fn from(flow: FlowArg) -> FlowName {
        match flow {
            FlowArg::Login => FlowName::Login,
            FlowArg::Export => FlowName::Export,
            FlowArg::Report => FlowName::Report,
        }
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The project Selenium IDE saved (`.side`)
    pub file: PathBuf,
    /// The test of the project to read [default: every test, in order]
    #[arg(long, value_name = "NAME")]
    pub test: Option<String>,
    /// Read the whole recording as this one flow [default: propose the split]
    #[arg(long, value_enum, value_name = "FLOW")]
    pub flow: Option<FlowArg>,
    /// Add the flows to the config file given with --config (replacing its flows of the same name)
    #[arg(long)]
    pub write: bool,
    /// Leave out the recorded commands that no step maps, instead of refusing
    #[arg(long)]
    pub allow_dropped: bool,
    /// The login typed in the recording, made {login} [default: the value typed before the password]
    #[arg(long, value_name = "LOGIN")]
    pub login: Option<String>,
    /// The order id in the recording, made {order} [default: the last segment of the order page's URL]
    #[arg(long, value_name = "ID")]
    pub order: Option<String>,
    /// The reason chosen in the recording, made {reason} [default: the config's report_reason]
    #[arg(long, value_name = "VALUE")]
    pub reason: Option<String>,
    /// The comment typed in the recording, made {comment} [default: the config's report_comment]
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// The element an order's page shows once it has a report (a recording cannot show it)
    #[arg(long, value_name = "SELECTOR")]
    pub reported_if: Option<String>,
}

impl ImportArgs {
    pub fn run(&self, global: &Overrides, quiet: bool) -> Result<ExitCode> {
        let project = Project::read(&self.file)?;
        let reported_if = self
            .reported_if
            .as_deref()
            .map(|text| {
                Locator::parse(text).map_err(|why| refuse(format!("--reported-if `{text}`: {why}")))
            })
            .transpose()?;
        let config = match Config::load(global) {
            Ok(config) => Some(config),
            Err(err) if self.write => return Err(err),
            Err(err) => {
                eprintln!(
                    "note: the config was not read ({err:#}); reason and comment come from the flags only"
                );
                None
            }
        };
        let web = config.as_ref().and_then(|c| match &c.portal {
            PortalConfig::Web(web) => Some(web),
            PortalConfig::Simulated(_) => None,
        });
        let options = Options {
            test: self.test.clone(),
            flow: self.flow.map(FlowName::from),
            login: self.login.clone(),
            order: self.order.clone(),
            reason: self
                .reason
                .clone()
                .or_else(|| web.map(|w| w.report_reason.clone())),
            comment: self
                .comment
                .clone()
                .or_else(|| web.map(|w| w.report_comment.clone())),
            reported_if,
            bases: web.map(|w| w.base_url.clone()).into_iter().collect(),
        };
        let imported = import::import(&project, &options)?;
        if !quiet {
            for note in &imported.notes {
                eprintln!("note: {note}");
            }
        }
        for dropped in &imported.dropped {
            eprintln!("dropped: {dropped}");
        }
        if !imported.dropped.is_empty() && !self.allow_dropped {
            return Err(refuse(format!(
                "{} recorded command{} no step (named above); record {} another way, or pass --allow-dropped to leave {} out",
                imported.dropped.len(),
                if imported.dropped.len() == 1 {
                    " has"
                } else {
                    "s have"
                },
                if imported.dropped.len() == 1 {
                    "it"
                } else {
                    "them"
                },
                if imported.dropped.len() == 1 {
                    "it"
                } else {
                    "them"
                },
            )));
        }
        let config_path = config.as_ref().and_then(|c| c.source.clone());
        let config_text = match &config_path {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?,
            None => String::new(),
        };
        let export = ExportForm::of(&config_text);
        if self.write {
            // Never the default file found by itself: the one named by the operator.
            let named = global.config.is_some()
                || std::env::var_os("REPORTER_CONFIG").is_some_and(|v| !v.is_empty());
            let Some(path) = config_path.filter(|_| named) else {
                return Err(refuse(
                    "give the config file to add the flows to with --config FILE",
                ));
            };
            self.write_into(&path, &config_text, &imported, export)?;
            return Ok(ExitCode::SUCCESS);
        }
        for flow in &imported.flows {
            if let Err(why) = flow.check() {
                eprintln!("warning: the config check refuses this {why}");
            }
        }
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(import::flows_toml(&imported.flows, export).as_bytes())?;
        stdout.flush()?;
        Ok(ExitCode::SUCCESS)
    }

    /// Replaces the config's flows by the imported ones, if the result loads.
    fn write_into(
        &self,
        path: &Path,
        text: &str,
        imported: &Import,
        export: ExportForm,
    ) -> Result<()> {
        if imported.flow(FlowName::Report).is_some() && self.reported_if.is_none() {
            return Err(refuse(
                "the report flow needs --reported-if SELECTOR, the element an order's page shows once it has a report (a recording cannot show it); the config is unchanged",
            ));
        }
        let blocks: Vec<(String, String)> = imported
            .flows
            .iter()
            .map(|flow| {
                (
                    import::header(flow, export),
                    // A blank line after each flow, wherever it lands.
                    import::flow_toml(flow, export) + "\n",
                )
            })
            .collect();
        let updated = format!("{}\n", import::replace_flows(text, &blocks).trim_end());
        let mut check = Config::default();
        check.apply_file(&updated, path).map_err(|err| {
            refuse(format!(
                "with the imported flows the config would not load, so it is unchanged: {err:#}"
            ))
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config".into());
        let temporary = path.with_file_name(format!(".{name}.import"));
        std::fs::write(&temporary, &updated)
            .with_context(|| format!("cannot write `{}`", temporary.display()))?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&temporary, meta.permissions())
                .with_context(|| format!("cannot set the mode of `{}`", temporary.display()))?;
        }
        std::fs::rename(&temporary, path)
            .with_context(|| format!("cannot replace `{}`", path.display()))?;
        let names: Vec<&str> = imported.flows.iter().map(|f| f.name.key()).collect();
        eprintln!(
            "Wrote {} into `{}`; try them with `reporter portal try USER`.",
            names.join(", "),
            path.display()
        );
        Ok(())
    }
}
