//! `reporter work [--concurrency N] [--until-idle] [--worker-id ID]`

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::PortalConfig;
use crate::context::Context;
use crate::error::refuse;
use crate::portal::Portal;
use crate::portal::simulated::Simulated;
use crate::portal::web::Web;
use crate::worker::{Worker, WorkerOptions, hostname};

/// How long a stopping worker waits for its slots to hand back their work.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  reporter work                        # until SIGTERM or Ctrl-C\n  \
    reporter work --until-idle           # exit 0 once no job is queued, retrying or running anywhere\n  \
    reporter work --concurrency 4 --worker-id host-a-1\n\n\
    Each slot takes a browser permit before it claims a job, so no job waits for a browser. \
    On SIGTERM or SIGINT the worker stops claiming, hands back what it holds, releases its \
    permits and locks and exits 0."
)]
pub struct WorkArgs {
    /// Jobs run at once by this process [default: max_active_browsers]
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Exit once no job is queued, retrying or running anywhere
    #[arg(long)]
    pub until_idle: bool,
    /// Name of this worker in `status` and permit holders [default: HOST-PID]
    #[arg(long, value_name = "ID")]
    pub worker_id: Option<String>,
}

pub fn run(args: &WorkArgs, ctx: &Context) -> Result<ExitCode> {
    let concurrency = args
        .concurrency
        .unwrap_or(ctx.config.max_active_browsers as usize);
    if !(1..=256).contains(&concurrency) {
        return Err(refuse(format!(
            "--concurrency {concurrency} is not valid; give a number from 1 to 256"
        )));
    }
    let options = WorkerOptions {
        id: args
            .worker_id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id())),
        concurrency,
        until_idle: args.until_idle,
    };
    let conn = ctx.db()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match &ctx.config.portal {
        PortalConfig::Simulated(settings) => {
            let portal = Simulated::new(settings.clone(), ctx.config.estimated_pending_factor)?;
            runtime.block_on(drive(ctx, conn, portal, &options))
        }
        PortalConfig::Web(settings) => {
            let artifacts = ctx
                .config
                .database
                .parent()
                .unwrap_or(Path::new("."))
                .join("artifacts");
            let portal = Web::new(settings, &ctx.config.browser, &ctx.config.retry, artifacts)?;
            let stats = portal.stats.clone();
            let result = runtime.block_on(drive(ctx, conn, portal, &options));
            let (browsers, logins, commands, reports) = stats.summary();
            tracing::info!(
                worker = %options.id, browsers, logins, webdriver_commands = commands, reports,
                "browser totals"
            );
            result
        }
    }
}

/// Runs the worker until it is asked to stop (or, with `--until-idle`, until
/// no work is left anywhere).
async fn drive<P: Portal>(
    ctx: &Context,
    conn: rusqlite::Connection,
    portal: P,
    options: &WorkerOptions,
) -> Result<ExitCode> {
    let coord = ctx.coordinator().await?;
    let worker = Worker::new(ctx.config.clone(), conn, coord, portal, options.id.clone())?;
    // Listen before READY=1 is sent: a SIGTERM right after it must drain, not kill.
    let term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    tokio::spawn(stop_on_signal(worker.clone(), term, int));
    tracing::info!(worker = %options.id, concurrency = options.concurrency, until_idle = options.until_idle, "worker started");
    worker.run(options, DRAIN_TIMEOUT).await?;
    tracing::info!(worker = %options.id, jobs = worker.jobs_done.load(Ordering::Relaxed), "worker stopped");
    Ok(ExitCode::SUCCESS)
}

async fn stop_on_signal<P: Portal>(worker: Arc<Worker<P>>, mut term: Signal, mut int: Signal) {
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    worker.shut_down();
}
