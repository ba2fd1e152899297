//! `reporter serve [--listen ADDR]`: the HTTP API, until SIGTERM or SIGINT.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Args;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::api::{self, Api, listener};
use crate::config::check_listen;
use crate::context::Context;
use crate::error::refuse;
use crate::notify::Notifier;

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  reporter serve                         \
    # 127.0.0.1:8080, or serve.listen from the config\n  \
    reporter serve --listen 0.0.0.0:8080\n\n\
    Under systemd (reporter-api.socket) the listening socket comes from systemd and \
    --listen is ignored. Every /api/reporter/ request needs `Authorization: Bearer TOKEN` \
    (`reporter tokens add USER`). On SIGTERM or SIGINT it stops accepting, answers the \
    requests in flight and exits 0.")]
pub struct ServeArgs {
    /// Address to listen on, IP:PORT [default: serve.listen, else 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

pub fn run(args: &ServeArgs, ctx: &Context) -> Result<ExitCode> {
    let address = match &args.listen {
        Some(v) => check_listen(v).map_err(|why| refuse(format!("--listen `{v}`: {why}")))?,
        None => ctx.config.serve_listen,
    };
    let inherited = listener::from_systemd()?;
    let api = Api::open(&ctx.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = match inherited {
            Some(socket) => {
                TcpListener::from_std(socket).context("cannot use the socket from systemd")?
            }
            None => TcpListener::bind(address).await.with_context(|| {
                format!(
                    "cannot listen on {address}; pick a free address with --listen or serve.listen"
                )
            })?,
        };
        serve(listener, api).await
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(listener: TcpListener, api: Arc<Api>) -> Result<()> {
    let address = listener.local_addr()?;
    // Listen before READY=1 is sent: a SIGTERM right after it must drain, not kill.
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let notifier = Arc::new(Notifier::from_env());
    if let Some(every) = notifier.watchdog_interval() {
        let notifier = notifier.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            loop {
                ticker.tick().await;
                notifier.watchdog();
            }
        });
    }
    tracing::info!(%address, "listening");
    notifier.status(&format!("listening on {address}"));
    notifier.ready();
    let stopping = notifier.clone();
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received; answering the requests in flight"),
            _ = int.recv() => tracing::info!("SIGINT received; answering the requests in flight"),
        }
        stopping.stopping();
    };
    api::serve(listener, api, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
