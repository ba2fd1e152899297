//! The HTTP API of `reporter serve`: the original system's six endpoints under
//! `/api/reporter/`, plus `/healthz` and `/metrics`, over the same database
//! functions as the CLI. hyper speaks HTTP/1.1; routing is one `match`.

mod body;
mod caller;
mod database;
mod health;
pub mod listener;
mod reply;
mod reservations;
mod routes;
mod runs;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::coord::Coordinator;

pub use database::Database;

/// A client must send its whole request head within this time.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// ...and its body within this time once the head is in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request body read; a reservation is about 60 bytes.
pub const BODY_LIMIT: usize = 16 * 1024;
/// Connections served at once; each holds a file descriptor and a few KiB.
pub const MAX_CONNECTIONS: usize = 512;
/// How long requests in flight may take to finish after SIGTERM.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// What every request handler shares.
pub struct Api {
    pub config: Config,
    pub db: Database,
    /// Redis, connected on first use (health and metrics only).
    redis: tokio::sync::Mutex<Option<Coordinator>>,
}

impl Api {
    /// Opens the database (creating and migrating it if needed).
    pub fn open(config: &Config) -> Result<Arc<Api>> {
        Ok(Arc::new(Api {
            db: Database::open(&config.database, config.estimated_pending_factor)?,
            config: config.clone(),
            redis: tokio::sync::Mutex::new(None),
        }))
    }

    /// The Redis connection, made now if there is none yet.
    async fn coordinator(&self) -> Result<Coordinator> {
        let mut slot = self.redis.lock().await;
        if let Some(coord) = slot.as_ref() {
            return Ok(coord.clone());
        }
        let coord = Coordinator::connect(&self.config).await?;
        *slot = Some(coord.clone());
        Ok(coord)
    }
}

/// Serves connections until `shutdown` completes, then stops accepting and
/// lets the requests in flight finish (up to `DRAIN_TIMEOUT`).
pub async fn serve(
    listener: TcpListener,
    api: Arc<Api>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024);
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        // At the limit, new connections wait in the listen backlog.
        let slot = tokio::select! {
            slot = open.clone().acquire_owned() => slot.expect("never closed"),
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors, or a connection reset before
                        // it was accepted: wait a little rather than spin.
                        tracing::warn!(error = %err, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let api = api.clone();
                let service = service_fn(move |request| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(routes::respond(&api, request).await) }
                });
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                    drop(slot);
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("every request answered"),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!(seconds = DRAIN_TIMEOUT.as_secs(), "requests still open after the drain timeout; closing them");
        }
    }
    Ok(())
}
