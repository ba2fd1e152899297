//! A sandbox with a real Redis and the simulated portal, and helpers to run
//! `reporter work` processes against it and observe them from outside.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::Sandbox;
use super::redis_server::RedisServer;
use super::worker_processes::WorkerProcesses;

pub struct Cluster {
    pub sandbox: Sandbox,
    pub redis: RedisServer,
    pub report_log: PathBuf,
    workers: WorkerProcesses,
}

/// Settings a test varies; the rest are fixed small values.
pub struct Setup {
    pub max_active_browsers: u32,
    pub lease_ttl: f64,
    pub download_ms: u64,
    pub report_ms: u64,
    pub failure_rate: f64,
    pub pending_orders: Option<u32>,
    pub report_retries: u32,
    pub download_retries: u32,
    pub retry_delay: f64,
    /// Redis also on a loopback TCP port, and the config's URL that one
    /// (`redis://`); else only on its unix socket (`redis+unix://`).
    pub redis_over_tcp: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            max_active_browsers: 6,
            lease_ttl: 2.0,
            download_ms: 50,
            report_ms: 2,
            failure_rate: 0.0,
            pending_orders: None,
            report_retries: 2,
            download_retries: 5,
            retry_delay: 0.0,
            redis_over_tcp: false,
        }
    }
}

impl Cluster {
    pub fn start(setup: Setup) -> Cluster {
        let redis = if setup.redis_over_tcp {
            RedisServer::start_tcp()
        } else {
            RedisServer::start()
        };
        let mut sandbox = Sandbox::new();
        let report_log = sandbox.path("reports.jsonl");
        let pending = setup
            .pending_orders
            .map(|n| format!("pending_orders = {n}\n"))
            .unwrap_or_default();
        sandbox.config(&format!(
            "redis_url = \"{}\"\nkey_prefix = \"test\"\nmax_active_browsers = {}\nlease_ttl = {}\nrange_lock_ttl = 600\n\
             [retry]\ndownload_retries = {}\ndownload_delay = {}\nreport_retries = {}\nreport_delay = {}\njitter = 0.0\n\
             [portal]\nkind = \"simulated\"\ndownload_ms = {}\nreport_ms = {}\nfailure_rate = {}\nreport_log = \"{}\"\n{pending}",
            redis.url(),
            setup.max_active_browsers,
            setup.lease_ttl,
            setup.download_retries,
            setup.retry_delay,
            setup.report_retries,
            setup.retry_delay,
            setup.download_ms,
            setup.report_ms,
            setup.failure_rate,
            report_log.display(),
        ));
        Cluster {
            sandbox,
            redis,
            report_log,
            workers: WorkerProcesses::default(),
        }
    }

    /// Adds users with their estimates, all reserved at `hour`, and creates the run.
    pub fn run_with_users(&self, hour: u32, users: &[(&str, u32)]) -> i64 {
        self.sandbox
            .run(&["slots", "set", &hour.to_string(), "--max-users", "1000"])
            .ok();
        for (name, estimate) in users {
            self.sandbox
                .run(&[
                    "users",
                    "add",
                    name,
                    "--monthly-orders",
                    &estimate.to_string(),
                ])
                .ok();
            self.sandbox
                .run(&["reserve", name, "--hour", &hour.to_string()])
                .ok();
        }
        let created = self
            .sandbox
            .run(&["run-slot", "--hour", &hour.to_string(), "--json"])
            .ok()
            .json();
        created["run_id"].as_i64().expect("run id")
    }

    /// Starts `reporter work` with these extra arguments; its stderr goes to `<id>.log`.
    pub fn spawn_worker(&mut self, id: &str, extra: &[&str]) -> u32 {
        self.workers.spawn(&self.sandbox, id, extra)
    }

    /// The log a worker wrote so far.
    pub fn worker_log(&self, id: &str) -> String {
        WorkerProcesses::log(&self.sandbox, id)
    }

    /// Waits for a worker process to exit and returns its exit code.
    #[track_caller]
    pub fn wait_worker(&mut self, pid: u32, limit: Duration) -> i32 {
        self.workers.wait(pid, limit)
    }

    #[track_caller]
    pub fn signal(&self, pid: u32, signal: &str) {
        WorkerProcesses::signal(pid, signal);
    }

    /// Every line of the simulated portal's report log, as (user, order).
    pub fn reports(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.report_log).unwrap_or_default();
        text.lines()
            .map(|line| {
                let v: serde_json::Value =
                    serde_json::from_str(line).expect("report log line is JSON");
                (
                    v["user"].as_str().unwrap().to_string(),
                    v["order"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Reports received per (user, order): every value must be 1.
    pub fn report_counts(&self) -> HashMap<(String, String), usize> {
        let mut counts = HashMap::new();
        for entry in self.reports() {
            *counts.entry(entry).or_insert(0) += 1;
        }
        counts
    }

    /// A single SQL number.
    pub fn count(&self, sql: &str) -> i64 {
        self.sandbox
            .conn()
            .query_row(sql, [], |r| r.get(0))
            .unwrap()
    }

    /// The most jobs that were ever running at once, from their recorded
    /// start and finish times.
    pub fn max_jobs_overlap(&self) -> usize {
        let conn = self.sandbox.conn();
        let mut stmt = conn
            .prepare(
                "SELECT started_at, finished_at FROM jobs WHERE status = 'done' AND attempt = 1",
            )
            .unwrap();
        let mut events: Vec<(i64, i32)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .flat_map(|row: Result<(i64, i64), _>| {
                let (start, end) = row.unwrap();
                [(start, 1), (end, -1)]
            })
            .collect();
        events.sort_by_key(|&(at, change)| (at, change));
        let (mut now, mut most) = (0i32, 0i32);
        for (_, change) in events {
            now += change;
            most = most.max(now);
        }
        most as usize
    }

    /// Redis's own clock, in milliseconds: permits expire by it.
    pub fn redis_now_ms(conn: &mut redis::Connection) -> i64 {
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query(conn).unwrap();
        secs * 1000 + micros / 1000
    }

    /// When the last permit now recorded expires, by Redis's clock (0 for none).
    pub fn last_permit_expiry_ms(&self, conn: &mut redis::Connection) -> i64 {
        let last: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg("test:permits")
            .arg(-1)
            .arg(-1)
            .arg("WITHSCORES")
            .query(conn)
            .unwrap();
        last.first().map_or(0, |(_, expiry)| *expiry as i64)
    }

    /// Holders of a live permit right now with their expiry (Redis time, ms).
    pub fn live_permit_expiries(&self, conn: &mut redis::Connection) -> Vec<(String, i64)> {
        let now_ms = Cluster::redis_now_ms(conn);
        let live: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
            .arg("test:permits")
            .arg(format!("({now_ms}"))
            .arg("+inf")
            .arg("WITHSCORES")
            .query(conn)
            .unwrap();
        live.into_iter()
            .map(|(token, expiry)| (token, expiry as i64))
            .collect()
    }

    /// Holders of a live permit right now, read from Redis directly.
    pub fn live_permits(&self, conn: &mut redis::Connection) -> Vec<String> {
        let now_ms = Cluster::redis_now_ms(conn);
        redis::cmd("ZRANGEBYSCORE")
            .arg("test:permits")
            .arg(format!("({now_ms}"))
            .arg("+inf")
            .query(conn)
            .unwrap()
    }

    /// Runs status --json.
    pub fn status(&self) -> serde_json::Value {
        self.sandbox.run(&["status", "--json"]).ok().json()
    }

    pub fn progress(&self, run_id: i64) -> serde_json::Value {
        self.sandbox
            .run(&["progress", &run_id.to_string(), "--json"])
            .ok()
            .json()
    }

    /// Asserts no order was submitted twice and every submitted one is recorded
    /// as reported (for runs stopped midway).
    #[track_caller]
    pub fn assert_each_order_reported_once_or_failed_so_far(&self) {
        let counts = self.report_counts();
        assert!(
            counts.values().all(|n| *n == 1),
            "an order was submitted more than once"
        );
        let recorded = self.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'");
        assert_eq!(
            recorded as usize,
            counts.len(),
            "submitted and recorded reports differ"
        );
    }

    /// The end check of a drained run: every order ended reported once or
    /// failed with a reason, and the portal received exactly `reports`.
    #[track_caller]
    pub fn finishes_clean(&self, reports: usize) {
        self.assert_each_order_reported_once_or_failed();
        assert_eq!(self.reports().len(), reports, "reports the portal received");
    }

    /// Asserts that every pending order of the run ended reported exactly once
    /// (in the portal and the database) or failed with a reason, and none is left.
    #[track_caller]
    pub fn assert_each_order_reported_once_or_failed(&self) {
        let counts = self.report_counts();
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "orders submitted more than once: {twice:?}"
        );
        let conn = self.sandbox.conn();
        let mut stmt = conn
            .prepare(
                "SELECT u.name, o.order_ref, o.status, o.error FROM run_orders o
                 JOIN run_users ru ON ru.id = o.run_user_id JOIN users u ON u.id = ru.user_id",
            )
            .unwrap();
        let rows: Vec<(String, String, String, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut reported = 0;
        for (user, order, status, error) in &rows {
            let sent = counts
                .get(&(user.clone(), order.clone()))
                .copied()
                .unwrap_or(0);
            match status.as_str() {
                "reported" => {
                    assert_eq!(
                        sent, 1,
                        "{user} {order} is recorded as reported but the portal got it {sent} times"
                    );
                    reported += 1;
                }
                "failed" => {
                    assert!(error.is_some(), "{user} {order} failed without a reason");
                    assert_eq!(
                        sent, 0,
                        "{user} {order} is recorded as failed but the portal got it"
                    );
                }
                other => panic!("{user} {order} ended `{other}`"),
            }
        }
        assert_eq!(
            reported,
            counts.len(),
            "the portal holds reports the database does not know of"
        );
    }
}
