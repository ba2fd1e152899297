//! The metrics page: permits, the database's disk, jobs, runs and worker
//! heartbeats as Prometheus gauges, shared by `reporter metrics` and the
//! API's `/metrics`. Redis being down is a metric, not a failure.

mod exposition;

use anyhow::Result;
use rusqlite::Connection;

use crate::config::Config;
use crate::coord::{Coordinator, WriteFault};
use crate::db::{health, runs, workers};
use crate::queue;
use crate::time::now_ms;

use exposition::Exposition;

/// Runs whose orders are exported, newest first.
const RECENT_RUNS: i64 = 48;

/// What the metrics learn from Redis: the permits held, and the database
/// writes that workers see failing (which the database cannot tell).
pub struct RedisState {
    pub permits_held: usize,
    pub write_faults: Vec<WriteFault>,
}

impl RedisState {
    pub async fn read(coord: &Coordinator) -> Result<RedisState> {
        let (holders, write_faults) = tokio::join!(coord.holders(), coord.write_faults());
        Ok(RedisState {
            permits_held: holders?.len(),
            write_faults: write_faults?,
        })
    }
}

/// What Redis holds for the metrics, or `None` when it cannot be reached.
pub async fn redis_state(config: &Config) -> Option<RedisState> {
    let state = async { RedisState::read(&Coordinator::connect(config).await?).await }.await;
    answered(state)
}

/// The state, or `None` (with a warning) when Redis failed.
pub fn answered(state: Result<RedisState>) -> Option<RedisState> {
    match state {
        Ok(state) => Some(state),
        Err(err) => {
            tracing::warn!(error = %format!("{err:#}"), "browser permits and database write faults left out of the metrics");
            None
        }
    }
}

/// The whole page, as `reporter metrics` prints it and `serve` answers `/metrics`.
pub fn render(config: &Config, conn: &Connection, redis: Option<&RedisState>) -> Result<String> {
    let mut page = Exposition::default();
    page.gauge(
        "reporter_metrics_timestamp_seconds",
        "When these metrics were computed, Unix time: the moment the other gauges describe.",
    )
    .sample("reporter_metrics_timestamp_seconds", &[], seconds(now_ms()));
    permits(&mut page, config, redis.map(|r| r.permits_held));
    database(&mut page, config, redis.map(|r| r.write_faults.as_slice()));
    jobs(&mut page, conn)?;
    run_orders(&mut page, conn)?;
    last_run(&mut page, conn)?;
    oldest_unfinished_run(&mut page, conn)?;
    worker_heartbeats(&mut page, conn)?;
    Ok(page.into_text())
}

/// The database's disk: its free bytes, and how many live workers see
/// their writes fail (a full disk), which Redis tells.
fn database(page: &mut Exposition, config: &Config, write_faults: Option<&[WriteFault]>) {
    let path = config.database.display().to_string();
    if let Some(free) = health::free_bytes(&config.database) {
        let name = "reporter_database_free_bytes";
        page.gauge(
            name,
            "Bytes free for the database on its file system (the WAL grows into them).",
        )
        .sample(name, &[("path", &path)], free as f64);
    }
    if let Some(faults) = write_faults {
        let name = "reporter_database_writes_failing";
        page.gauge(
            name,
            "Live workers whose database writes fail now (a full disk, an I/O error); each keeps its outcomes and retries.",
        )
        .sample(name, &[("path", &path)], faults.len() as f64);
    }
}

fn permits(page: &mut Exposition, config: &Config, held: Option<usize>) {
    page.gauge(
        "reporter_redis_up",
        "Whether Redis answered (1) or not (0).",
    )
    .sample(
        "reporter_redis_up",
        &[],
        if held.is_some() { 1.0 } else { 0.0 },
    );
    page.gauge(
        "reporter_browser_permits_limit",
        "Most browsers open at once across every worker sharing the Redis (max_active_browsers).",
    )
    .sample(
        "reporter_browser_permits_limit",
        &[],
        f64::from(config.max_active_browsers),
    );
    if let Some(held) = held {
        page.gauge(
            "reporter_browser_permits_held",
            "Browser permits held now, by every worker.",
        )
        .sample("reporter_browser_permits_held", &[], held as f64);
    }
}

fn jobs(page: &mut Exposition, conn: &Connection) -> Result<()> {
    let jobs = queue::counts(conn)?;
    page.gauge("reporter_jobs", "Jobs in the queue by state.");
    for (state, n) in [
        ("queued", jobs.queued),
        ("running", jobs.running),
        ("retrying", jobs.retrying),
        ("failed", jobs.failed),
        ("done", jobs.done),
    ] {
        page.sample("reporter_jobs", &[("state", state)], n as f64);
    }
    Ok(())
}

/// Orders of one recent run, summed over its users.
struct RunOrders {
    run_id: String,
    hour: String,
    reported: i64,
    failed: i64,
}

fn run_orders(page: &mut Exposition, conn: &Connection) -> Result<()> {
    let mut orders = Vec::new();
    for run in runs::recent(conn, RECENT_RUNS)? {
        let users = runs::progress(conn, run.run_id)?;
        orders.push(RunOrders {
            run_id: run.run_id.to_string(),
            hour: run.hour.to_string(),
            reported: users.iter().map(|u| u.orders_reported).sum(),
            failed: users.iter().map(|u| u.orders_failed).sum(),
        });
    }
    per_run(
        page,
        "reporter_run_orders_reported",
        "Orders reported in each of the last 48 runs.",
        &orders,
        |o| o.reported,
    );
    per_run(
        page,
        "reporter_run_orders_failed",
        "Orders recorded as failed in each of the last 48 runs.",
        &orders,
        |o| o.failed,
    );
    Ok(())
}

/// A gauge family with one sample per run, labelled by run id and hour.
fn per_run(
    page: &mut Exposition,
    name: &str,
    help: &str,
    orders: &[RunOrders],
    count: fn(&RunOrders) -> i64,
) {
    page.gauge(name, help);
    for run in orders {
        let labels = [("run_id", run.run_id.as_str()), ("hour", run.hour.as_str())];
        page.sample(name, &labels, count(run) as f64);
    }
}

fn last_run(page: &mut Exposition, conn: &Connection) -> Result<()> {
    let Some((duration_ms, finished_at)) = runs::last_finished(conn)? else {
        return Ok(());
    };
    page.gauge(
        "reporter_last_run_duration_seconds",
        "Time from creating the last finished run to its last job ending.",
    )
    .sample(
        "reporter_last_run_duration_seconds",
        &[],
        seconds(duration_ms),
    );
    page.gauge(
        "reporter_last_run_finished_timestamp_seconds",
        "When the last finished run ended, Unix time.",
    )
    .sample(
        "reporter_last_run_finished_timestamp_seconds",
        &[],
        seconds(finished_at),
    );
    Ok(())
}

/// The hour of the oldest run not finished yet; absent when every run is. An
/// alert compares it with the metrics' own timestamp: more than an hour apart,
/// and a run is still going when the next one has started.
fn oldest_unfinished_run(page: &mut Exposition, conn: &Connection) -> Result<()> {
    let Some(scheduled_at) = runs::oldest_unfinished_scheduled_at(conn)? else {
        return Ok(());
    };
    let name = "reporter_oldest_unfinished_run_scheduled_timestamp_seconds";
    page.gauge(
        name,
        "Start of the hour of the oldest run not finished yet, Unix time.",
    )
    .sample(name, &[], seconds(scheduled_at));
    Ok(())
}

fn worker_heartbeats(page: &mut Exposition, conn: &Connection) -> Result<()> {
    let name = "reporter_worker_last_seen_timestamp_seconds";
    page.gauge(
        name,
        "Last heartbeat of each worker not stopped (seen in the last 24 hours), Unix time.",
    );
    let seen_after = now_ms() - workers::WORKER_MEMORY.as_millis() as i64;
    for worker in workers::seen_since(conn, seen_after)? {
        page.sample(name, &[("worker", &worker.id)], seconds(worker.last_seen));
    }
    Ok(())
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
