//! `reporter status`: browser permits and their holders, the queue, live workers.

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::context::Context;
use crate::coord::Holder;
use crate::db::workers;
use crate::output::{print_json, print_table, println_out};
use crate::queue::{self, QueueCounts};
use crate::time::{ms_to_rfc3339, now_ms};

#[derive(Debug, Args)]
#[command(after_help = "Example: reporter status --json")]
pub struct StatusArgs {}

#[derive(Debug, Serialize)]
struct Status {
    permits: Permits,
    queue: QueueCounts,
    workers: Vec<LiveWorker>,
}

#[derive(Debug, Serialize)]
struct Permits {
    limit: u32,
    held: usize,
    holders: Vec<Holder>,
    /// Seconds before any permit is granted again, after Redis lost its
    /// holders (0 when grants are not held back).
    held_back_s: f64,
}

#[derive(Debug, Serialize)]
struct LiveWorker {
    id: String,
    host: String,
    pid: i64,
    concurrency: i64,
    last_seen: String,
}

impl StatusArgs {
    pub fn run(&self, ctx: &Context) -> Result<()> {
        let conn = ctx.db()?;
        let queue = queue::counts(&conn)?;
        let seen_after = workers::live_after(now_ms(), ctx.config.lease_ttl);
        let workers = workers::seen_since(&conn, seen_after)?
            .into_iter()
            .map(|w| LiveWorker {
                id: w.id,
                host: w.host,
                pid: w.pid,
                concurrency: w.concurrency,
                last_seen: ms_to_rfc3339(w.last_seen),
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (holders, held_back) = runtime.block_on(async {
            let coord = ctx.coordinator().await?;
            anyhow::Ok((coord.holders().await?, coord.held_back().await?))
        })?;
        let status = Status {
            permits: Permits {
                limit: ctx.config.max_active_browsers,
                held: holders.len(),
                holders,
                held_back_s: held_back.as_secs_f64(),
            },
            queue,
            workers,
        };
        if ctx.json {
            return print_json(&status);
        }
        println_out(&format!(
            "browser permits: {} of {} held",
            status.permits.held, status.permits.limit
        ))?;
        if !held_back.is_zero() {
            println_out(&format!(
                "no permit is granted for {:.1} s more: Redis lost its holders (restart, failover or flush) and waits one lease for any it forgot to stop",
                held_back.as_secs_f64()
            ))?;
        }
        if !status.permits.holders.is_empty() {
            print_holders(&status.permits.holders)?;
        }
        let q = &status.queue;
        println_out(&format!(
            "jobs: {} queued, {} running, {} retrying, {} failed, {} done",
            q.queued, q.running, q.retrying, q.failed, q.done
        ))?;
        println_out(&format!("live workers: {}", status.workers.len()))?;
        if !status.workers.is_empty() {
            let rows = status
                .workers
                .iter()
                .map(|w| {
                    vec![
                        w.id.clone(),
                        w.host.clone(),
                        w.pid.to_string(),
                        w.concurrency.to_string(),
                        w.last_seen.clone(),
                    ]
                })
                .collect();
            print_table(&["worker", "host", "pid", "concurrency", "last seen"], rows)?;
        }
        Ok(())
    }
}

/// The permit holders as a table, for `status` and `reset-semaphore`.
pub fn print_holders(holders: &[Holder]) -> Result<()> {
    let rows = holders
        .iter()
        .map(|h| {
            vec![
                h.worker.clone(),
                h.job.clone().unwrap_or_else(|| "-".into()),
                h.since.clone(),
                h.expires_at.clone(),
            ]
        })
        .collect();
    print_table(&["worker", "job", "since", "lease expires"], rows)
}
