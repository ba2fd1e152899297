//! The Redis checks: the server answers, and no browser permit is held by a
//! worker that stopped heartbeating (a live lease of a dead worker keeps a
//! browser's worth of capacity away until it expires).

use chrono::DateTime;
use rusqlite::Connection;

use super::Check;
use crate::config::Config;
use crate::coord::{Coordinator, Holder, redacted};
use crate::db::workers;
use crate::time::now_ms;

/// `redis`, and `permits` when Redis answers and the database can be read.
pub fn check(config: &Config, conn: Option<&Connection>) -> Vec<Check> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return vec![Check::fail("redis", format!("cannot start: {err}"))],
    };
    let url = redacted(&config.redis_url);
    let coordinator = match runtime.block_on(Coordinator::connect(config)) {
        Ok(coordinator) => coordinator,
        Err(err) => {
            return vec![Check::fail("redis", format!("{err:#}"))];
        }
    };
    let mut checks = vec![Check::pass(
        "redis",
        format!("{url} answers, key prefix `{}`", config.key_prefix),
    )];
    match (runtime.block_on(coordinator.holders()), conn) {
        (Ok(holders), Some(conn)) => checks.push(permits(config, conn, &holders)),
        (Ok(_), None) => {}
        (Err(err), _) => checks.push(Check::fail(
            "permits",
            format!(
                "cannot read the permit holders under `{}:permits`: {err:#}; check that no other program uses the key prefix",
                config.key_prefix
            ),
        )),
    }
    checks
}

fn permits(config: &Config, conn: &Connection, holders: &[Holder]) -> Check {
    let now = now_ms();
    let live = match workers::seen_since(conn, workers::live_after(now, config.lease_ttl)) {
        Ok(live) => live,
        Err(err) => {
            return Check::fail(
                "permits",
                format!("cannot read the workers from the database: {err:#}"),
            );
        }
    };
    // An expired holder is dropped by the next acquire: it holds nothing.
    let held: Vec<(&Holder, i64)> = holders
        .iter()
        .map(|h| (h, lease_left(h, now)))
        .filter(|(_, left)| *left > 0)
        .collect();
    let stranded: Vec<&(&Holder, i64)> = held
        .iter()
        .filter(|(h, _)| !live.iter().any(|w| w.id == h.worker))
        .collect();
    let limit = config.max_active_browsers;
    if stranded.is_empty() {
        let by = if held.is_empty() {
            ""
        } else {
            ", all by live workers"
        };
        return Check::pass(
            "permits",
            format!("{} of {limit} browser permits held{by}", held.len()),
        );
    }
    let mut workers: Vec<&str> = stranded.iter().map(|(h, _)| h.worker.as_str()).collect();
    workers.sort_unstable();
    workers.dedup();
    let longest = stranded.iter().map(|(_, left)| *left).max().unwrap_or(0);
    Check::fail(
        "permits",
        format!(
            "{} of {limit} browser permits held by workers that no longer heartbeat ({}); \
             wait for their leases to end (within {} s) or run `reporter reset-semaphore`",
            stranded.len(),
            workers.join(", "),
            (longest + 999) / 1000
        ),
    )
}

/// Milliseconds left on a holder's lease (Redis time, read on this host's clock).
fn lease_left(holder: &Holder, now: i64) -> i64 {
    DateTime::parse_from_rfc3339(&holder.expires_at)
        .map_or(i64::MAX, |t| t.timestamp_millis() - now)
}
