//! `reporter status`: browser permits and their holders, the queue, live workers.

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::context::Context;
use crate::coord::{Holder, WriteFault};
use crate::db::{health, workers};
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
    database: Database,
}

/// The database's file and whether writes to it land.
#[derive(Debug, Serialize)]
struct Database {
    path: String,
    /// Bytes free on its file system, if it could be read.
    free_bytes: Option<u64>,
    /// Live workers whose writes fail now (a full disk), with SQLite's words.
    writes_failing: Vec<WriteFault>,
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
        let (holders, held_back, writes_failing) = runtime.block_on(async {
            let coord = ctx.coordinator().await?;
            let (holders, held_back, faults) =
                tokio::join!(coord.holders(), coord.held_back(), coord.write_faults());
            anyhow::Ok((holders?, held_back?, faults?))
        })?;
        let database = Database {
            path: ctx.config.database.display().to_string(),
            free_bytes: health::free_bytes(&ctx.config.database),
            writes_failing,
        };
        let status = Status {
            permits: Permits {
                limit: ctx.config.max_active_browsers,
                held: holders.len(),
                holders,
                held_back_s: held_back.as_secs_f64(),
            },
            queue,
            workers,
            database,
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
        print_database(&status.database)?;
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

/// One line on the database, or one per worker whose writes fail.
fn print_database(database: &Database) -> Result<()> {
    let free = database.free_bytes.map_or_else(
        || "free space unknown".to_string(),
        |b| format!("{} free", bytes(b)),
    );
    if database.writes_failing.is_empty() {
        return println_out(&format!("database: {} ({free})", database.path));
    }
    for fault in &database.writes_failing {
        println_out(&format!(
            "database writes failing: {} on `{}` ({free}), seen by worker {} {:.0} s ago: {}; free space on that disk (the workers keep their outcomes and retry)",
            fault.fault,
            fault.path,
            fault.worker,
            (now_ms() - fault.seen_ms).max(0) as f64 / 1000.0,
            fault.error
        ))?;
    }
    Ok(())
}

/// A byte count for people: 512 B, 3.2 MiB, 41.0 GiB.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
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
