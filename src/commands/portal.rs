//! `reporter portal try USER [--order ID]`: walks the configured flows
//! against the live portal (login, export, one order's form) and stops before
//! the submit, saving the page after every step. Nothing is submitted and
//! nothing is written to the database.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use rusqlite::{Connection, OpenFlags};

use crate::config::{PortalConfig, WebPortal};
use crate::context::Context;
use crate::error::refuse;
use crate::orders::{OrderToReport, Pending};
use crate::portal::web::{Trace, Web, WebSession};
use crate::portal::{JobScope, Portal, PortalSession, PortalUser, StepError};

#[derive(Debug, Subcommand)]
pub enum PortalCommand {
    /// Walk the login, the export and one order's report form; never submits
    #[command(after_help = "Examples:\n  reporter portal try alice\n  \
        reporter portal try alice --order SO-2026-00017 --dir /tmp/try-alice\n\n\
        It logs in as the user, downloads and reads the export (printing the columns it used \
        and the orders in a report status), opens one order and fills its report form, and \
        stops before the submit. A screenshot and the HTML of every step go into the \
        directory it names. Exit 1, with the failing step named, when a step fails.")]
    Try(TryArgs),
    /// Turn a Selenium IDE recording (.side) into the login, export and report flows
    #[command(after_help = "Examples:\n  reporter portal import recording.side\n  \
        reporter portal import recording.side --reported-if '#already-reported' --write --config /etc/reporter/reporter.toml\n  \
        reporter portal import signin.side --flow login --login ana@example.com\n\n\
        Without --flow it proposes the split: the login from the `open` before the password up \
        to the page after its submit, the export up to the click on the export link (made its \
        download), the report from the order page's `open` to the confirmation (the last click is \
        the submit). The login, the password, the order id, the reason and the comment become \
        {login}, {password}, {order}, {reason} and {comment}; the password is written nowhere. \
        Of each command's locators the most stable is kept (id, name, CSS, link text, XPath by \
        attributes, positional last), the others as comments. Notes go to stderr, the TOML to \
        stdout. A command that no step maps is named with its position, and the import is \
        refused (exit 2) unless --allow-dropped.")]
    Import(super::portal_import::ImportArgs),
}

#[derive(Debug, Args)]
pub struct TryArgs {
    /// The user to log in as (its credentials file is read as `work` reads it)
    pub user: String,
    /// The order whose form to fill [default: the first order in a report status]
    #[arg(long, value_name = "ID")]
    pub order: Option<String>,
    /// The portal login [default: the user's, from the database]
    #[arg(long, value_name = "LOGIN")]
    pub login: Option<String>,
    /// Where the screenshots and pages go [default: a new directory under the temp dir]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl PortalCommand {
    pub fn run(&self, ctx: &Context) -> Result<ExitCode> {
        match self {
            PortalCommand::Try(args) => args.run(ctx),
            PortalCommand::Import(_) => unreachable!("run before the config is loaded"),
        }
    }
}

impl TryArgs {
    fn run(&self, ctx: &Context) -> Result<ExitCode> {
        let PortalConfig::Web(settings) = &ctx.config.portal else {
            return Err(refuse(
                "the config's portal is `simulated`; `portal try` needs [portal] kind = \"web\"",
            ));
        };
        let login = match &self.login {
            Some(login) => login.clone(),
            None => self.login_from_database(ctx)?,
        };
        let dir = match &self.dir {
            Some(dir) => dir.clone(),
            None => std::env::temp_dir().join(format!(
                "reporter-try-{}-{}",
                crate::portal::web::safe_name(&self.user),
                chrono::Utc::now().format("%Y%m%dT%H%M%S")
            )),
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        let trace = Arc::new(Trace::new(dir.clone()));
        // The evidence of a failed step goes under --dir too, whatever the
        // config's artifacts_dir says (that one is for the workers).
        let mut settings = settings.clone();
        settings.artifacts_dir = Some(dir.join("failed"));
        let web = Web::new(
            &settings,
            &ctx.config.browser,
            &ctx.config.retry,
            dir.join("failed"),
        )?
        .with_trace(trace.clone());
        let user = PortalUser {
            name: self.user.clone(),
            login,
            monthly_orders_estimate: 0,
            run_id: 0,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let outcome = runtime.block_on(self.walk(&web, &settings, &user));
        println!("Pages saved after each step, in {}:", trace.dir().display());
        for line in trace.lines() {
            println!("  {line}");
        }
        match outcome {
            Ok(()) => {
                println!("Nothing was submitted and nothing written to the database.");
                Ok(ExitCode::SUCCESS)
            }
            Err(err) => {
                eprintln!("error: {}", err.message());
                Ok(ExitCode::FAILURE)
            }
        }
    }

    async fn walk(
        &self,
        web: &Web,
        settings: &WebPortal,
        user: &PortalUser,
    ) -> Result<(), StepError> {
        println!("Logging in as `{}` ({})...", user.name, user.login);
        let mut session = web.login(user).await?;
        let result = self.export_and_order(&mut session, settings).await;
        session.close().await;
        result
    }

    async fn export_and_order(
        &self,
        session: &mut WebSession,
        settings: &WebPortal,
    ) -> Result<(), StepError> {
        println!("Logged in. Downloading the export...");
        session.begin_job(JobScope {
            run_id: 0,
            range: None,
        });
        let Pending::Export {
            orders,
            report_statuses,
        } = session.download_pending().await?
        else {
            unreachable!("the web portal reads an export");
        };
        let csv = &settings.csv;
        let read_as = match (csv.kind, &csv.sheet) {
            (Some(crate::config::ExportKind::Xlsx), sheet) | (None, sheet @ Some(_)) => match sheet
            {
                Some(name) => format!("Excel, sheet `{name}`"),
                None => "Excel, first sheet".into(),
            },
            (Some(crate::config::ExportKind::Csv), _) => {
                format!("CSV, delimiter {:?}", csv.delimiter as char)
            }
            (None, None) => format!(
                "CSV with delimiter {:?} or Excel, by its content",
                csv.delimiter as char
            ),
        };
        println!(
            "Export: {} orders; order id from column `{}`, status from `{}`{}; read as {read_as}.",
            orders.len(),
            csv.order_id,
            csv.status,
            csv.url_id
                .as_ref()
                .map(|c| format!(", order page id from `{c}`"))
                .unwrap_or_default(),
        );
        let due: Vec<&crate::orders::ExportedOrder> = orders
            .iter()
            .filter(|o| report_statuses.contains(&o.status))
            .collect();
        println!(
            "{} orders in a report status ({}); the first ones:",
            due.len(),
            report_statuses.join(", ")
        );
        for order in due.iter().take(10) {
            println!("  {} ({})", order.id, order.status);
        }
        let order = match (&self.order, due.first()) {
            (Some(id), _) => orders
                .iter()
                .find(|o| &o.id == id)
                .map(|o| OrderToReport {
                    id: o.id.clone(),
                    fields: o.fields.clone(),
                })
                .unwrap_or_else(|| OrderToReport::new(id.clone())),
            (None, Some(first)) => OrderToReport {
                id: first.id.clone(),
                fields: first.fields.clone(),
            },
            (None, None) => {
                println!("No order to open: give one with --order ID.");
                return Ok(());
            }
        };
        println!(
            "Opening order {} and filling its form (not submitting)...",
            order.id
        );
        session.begin_job(JobScope {
            run_id: 0,
            range: Some((1, 1)),
        });
        if session.fill_without_submitting(&order).await? {
            println!(
                "Order {} already has a report: its form was not filled.",
                order.id
            );
        } else {
            println!(
                "The form of {} is filled and its submit button found.",
                order.id
            );
        }
        Ok(())
    }

    /// The user's login, from the database opened read-only.
    fn login_from_database(&self, ctx: &Context) -> Result<String> {
        let path = &ctx.config.database;
        if !path.exists() {
            return Err(refuse(format!(
                "database `{}` does not exist; give the portal login with --login LOGIN",
                path.display()
            )));
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open `{}`", path.display()))?;
        Ok(crate::db::users::get(&conn, &self.user)?.login)
    }
}
