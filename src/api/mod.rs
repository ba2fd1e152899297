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
/// At the limit the oldest that never sent a request is closed.
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

/// The connections being served, oldest first, and whether each has sent a
/// request yet: at the limit, the oldest that never sent one is closed to
/// make room, as nginx closes idle keep-alive connections, so that a flood of
/// connections that send nothing cannot shut a normal client out.
#[derive(Default)]
struct Connections {
    open: std::sync::Mutex<std::collections::BTreeMap<u64, Open>>,
}

struct Open {
    asked: Arc<std::sync::atomic::AtomicBool>,
    close: tokio::sync::oneshot::Sender<()>,
}

impl Connections {
    fn len(&self) -> usize {
        self.open.lock().expect("connections").len()
    }

    fn add(
        &self,
        id: u64,
        asked: Arc<std::sync::atomic::AtomicBool>,
    ) -> tokio::sync::oneshot::Receiver<()> {
        let (close, closed) = tokio::sync::oneshot::channel();
        self.open
            .lock()
            .expect("connections")
            .insert(id, Open { asked, close });
        closed
    }

    fn remove(&self, id: u64) {
        self.open.lock().expect("connections").remove(&id);
    }

    /// Closes the oldest connection that has not sent a request; `false`
    /// when every one has.
    fn close_oldest_silent(&self) -> bool {
        let mut open = self.open.lock().expect("connections");
        let silent = open
            .iter()
            .find(|(_, c)| !c.asked.load(std::sync::atomic::Ordering::Relaxed))
            .map(|(id, _)| *id);
        match silent.and_then(|id| open.remove(&id)) {
            Some(connection) => {
                let _ = connection.close.send(());
                true
            }
            None => false,
        }
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
    let connections = Arc::new(Connections::default());
    let ended = Arc::new(tokio::sync::Notify::new());
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    loop {
        // At the limit, make room by closing a connection that never sent a
        // request; if every one has, new connections wait in the backlog.
        while connections.len() >= MAX_CONNECTIONS && !connections.close_oldest_silent() {
            tokio::select! {
                () = ended.notified() => {}
                () = &mut shutdown => return drain(listener, graceful).await,
            }
        }
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
                let id = next_id;
                next_id += 1;
                let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let closed = connections.add(id, asked.clone());
                let api = api.clone();
                let service = service_fn(move |request| {
                    asked.store(true, std::sync::atomic::Ordering::Relaxed);
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(routes::respond(&api, request).await) }
                });
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                let (connections, ended) = (connections.clone(), ended.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        served = connection => if let Err(err) = served {
                            tracing::debug!(error = %err, "connection ended with an error");
                        },
                        // Closed to make room: it never sent a request.
                        _ = closed => {}
                    }
                    connections.remove(id);
                    ended.notify_one();
                });
            }
            () = &mut shutdown => break,
        }
    }
    drain(listener, graceful).await
}

/// Stops accepting and lets the requests in flight finish (up to
/// `DRAIN_TIMEOUT`).
async fn drain(listener: TcpListener, graceful: GracefulShutdown) -> Result<()> {
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("every request answered"),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!(seconds = DRAIN_TIMEOUT.as_secs(), "requests still open after the drain timeout; closing them");
        }
    }
    Ok(())
}
