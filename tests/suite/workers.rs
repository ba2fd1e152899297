//! Workers against a real Redis: the permit limit, dead and paused workers,
//! a Redis restart, retries and shutdown.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::cluster::{Cluster, Setup};
use crate::support::wait_for;

const USERS: &[(&str, u32)] = &[
    ("alice", 3000),
    ("bob", 2500),
    ("carol", 1250),
    ("dave", 4000),
    ("erin", 600),
    ("frank", 2000),
];

#[test]
fn three_workers_never_hold_more_permits_than_the_limit() {
    let mut cluster = Cluster::start(Setup {
        report_ms: 3,
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, USERS);
    let mut redis = cluster.redis.connection();
    let workers: Vec<u32> = (1..=3)
        .map(|i| cluster.spawn_worker(&format!("w{i}"), &["--concurrency", "4", "--until-idle"]))
        .collect();
    let (mut samples, mut peak, mut peak_running) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    while cluster.progress(run)["status"] != "done" {
        let held: i64 = redis::cmd("ZCARD")
            .arg("test:permits")
            .query(&mut redis)
            .unwrap();
        let running = cluster.count("SELECT COUNT(*) FROM jobs WHERE status = 'running'");
        peak = peak.max(held);
        peak_running = peak_running.max(running);
        samples += 1;
        assert!(held <= 6, "{held} permits held at once");
        // No bound on `running` rows: a worker process stalled past its lease
        // keeps its row 'running' until it wakes and hands it back, while the
        // others go on. Jobs at once are bounded below, by their records.
        assert!(Instant::now() < deadline, "the run did not finish");
    }
    for pid in workers {
        assert_eq!(cluster.wait_worker(pid, Duration::from_secs(30)), 0);
    }
    assert!(samples > 10, "too few samples ({samples}) to mean anything");
    assert!(
        peak >= 4,
        "the workers should use the permits (peak {peak})"
    );
    assert!(peak_running >= 1);
    cluster.assert_each_order_reported_once_or_failed();
    let reported = cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'");
    assert_eq!(reported, 240 + 200 + 100 + 320 + 48 + 160);
    assert!(
        cluster.max_jobs_overlap() <= 6,
        "{} jobs overlapped",
        cluster.max_jobs_overlap()
    );
}

#[test]
fn workers_on_redis_by_socket_and_by_tcp_share_one_browser_limit() {
    let mut cluster = Cluster::start(Setup {
        max_active_browsers: 2,
        report_ms: 20,
        pending_orders: Some(100),
        redis_over_tcp: true,
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0), ("bob", 0), ("carol", 0)]);
    let socket = cluster.redis.socket_url();
    let mut redis = cluster.redis.connection();
    let workers = [
        cluster.spawn_worker("tcp", &["--concurrency", "1", "--until-idle"]),
        cluster.spawn_worker(
            "socket",
            &["--redis", &socket, "--concurrency", "1", "--until-idle"],
        ),
    ];
    let mut holders = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while cluster.progress(run)["status"] != "done" {
        let live = cluster.live_permits(&mut redis);
        assert!(live.len() <= 2, "{live:?} hold permits at once");
        holders.extend(
            live.iter()
                .filter_map(|token| token.split(':').next().map(String::from)),
        );
        assert!(Instant::now() < deadline, "the run did not finish");
    }
    for (pid, id) in workers.into_iter().zip(["tcp", "socket"]) {
        assert_eq!(
            cluster.wait_worker(pid, Duration::from_secs(60)),
            0,
            "{}",
            cluster.worker_log(id)
        );
    }
    assert_eq!(
        holders.into_iter().collect::<Vec<_>>(),
        ["socket", "tcp"],
        "both workers held a permit of the one Redis"
    );
    assert!(cluster.max_jobs_overlap() <= 2);
    cluster.finishes_clean(300);
}

#[test]
fn a_permit_held_across_many_short_jobs_is_renewed_and_never_shared() {
    // Jobs far shorter than a third of the lease, a permit kept for many of
    // them and renewed meanwhile (every second; the reports alone take 2.4 s
    // a permit). A lease of 3 s: a worker that a loaded machine stalls for two
    // thirds of it (2 s) gives its permit up, which is right, but is not what
    // this test is about.
    let lease = Duration::from_secs(3);
    let mut cluster = Cluster::start(Setup {
        max_active_browsers: 2,
        lease_ttl: lease.as_secs_f64(),
        download_ms: 10,
        report_ms: 2,
        pending_orders: Some(300),
        ..Setup::default()
    });
    let users: Vec<(String, u32)> = (0..8).map(|i| (format!("user{i}"), 0)).collect();
    let users: Vec<(&str, u32)> = users.iter().map(|(n, e)| (n.as_str(), *e)).collect();
    let run = cluster.run_with_users(10, &users);
    let mut redis = cluster.redis.connection();
    let worker = cluster.spawn_worker("w", &["--concurrency", "6", "--until-idle"]);
    // The expiry each permit was first seen with: one seen later with a
    // later expiry was renewed (a grant sets it once, each renewal moves it).
    let mut first_expiry: HashMap<String, i64> = HashMap::new();
    let mut renewed = 0;
    let status = wait_for("the run to finish", Duration::from_secs(600), || {
        let live = cluster.live_permit_expiries(&mut redis);
        assert!(live.len() <= 2, "{live:?} hold permits at once");
        for (token, expiry) in live {
            let first = *first_expiry.entry(token).or_insert(expiry);
            if expiry > first {
                renewed += 1;
            }
        }
        let status = cluster.progress(run)["status"].clone();
        (status == "done" || status == "failed").then_some(status)
    });
    assert_eq!(
        cluster.wait_worker(worker, Duration::from_secs(60)),
        0,
        "{}",
        cluster.worker_log("w")
    );
    assert_eq!(status, "done", "{}", cluster.progress(run));
    assert!(
        renewed > 0,
        "no permit was seen renewed ({} permits granted)",
        first_expiry.len()
    );
    // Both permits were used at once, and never more: from the recorded
    // start and end of every job, not from samples.
    assert_eq!(cluster.max_jobs_overlap(), 2, "jobs at once");
    cluster.assert_each_order_reported_once_or_failed();
}

#[test]
fn a_killed_workers_permits_and_range_return_within_one_lease() {
    let mut cluster = Cluster::start(Setup {
        report_ms: 20,
        pending_orders: Some(150),
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0), ("bob", 0)]);
    let mut redis = cluster.redis.connection();
    let doomed = cluster.spawn_worker("doomed", &["--concurrency", "2"]);
    wait_for(
        "the doomed worker to report inside a range",
        Duration::from_secs(30),
        || {
            let mid_range = cluster.count(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'report' AND status = 'running' AND lease_owner = 'doomed'",
        ) > 0
            && cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'") >= 10;
            mid_range.then_some(())
        },
    );
    assert!(!cluster.live_permits(&mut redis).is_empty());
    cluster.signal(doomed, "KILL");
    cluster.wait_worker(doomed, Duration::from_secs(30));
    // Nothing renews them now: by Redis's clock, which expires them, they
    // come back within one lease (2 s) of the kill, however slow this test is
    // to look.
    let killed_at = Cluster::redis_now_ms(&mut redis);
    let returned_after = cluster.last_permit_expiry_ms(&mut redis) - killed_at;
    assert!(
        returned_after <= 2000,
        "permits come back {returned_after} ms after the kill"
    );
    wait_for(
        "the dead worker's permits to expire",
        Duration::from_secs(30),
        || cluster.live_permits(&mut redis).is_empty().then_some(()),
    );
    let survivor = cluster.spawn_worker("survivor", &["--concurrency", "2", "--until-idle"]);
    assert_eq!(
        cluster.wait_worker(survivor, Duration::from_secs(60)),
        0,
        "{}",
        cluster.worker_log("survivor")
    );
    assert_eq!(cluster.progress(run)["status"], "done");
    cluster.finishes_clean(300);
    assert_eq!(
        cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'"),
        300
    );
}

#[test]
fn a_paused_worker_cannot_complete_the_range_it_lost() {
    let mut cluster = Cluster::start(Setup {
        report_ms: 20,
        pending_orders: Some(100),
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0)]);
    let paused = cluster.spawn_worker("paused", &["--concurrency", "1"]);
    wait_for(
        "the worker to report inside its range",
        Duration::from_secs(30),
        || {
            (cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'") >= 10)
                .then_some(())
        },
    );
    pause_outside_a_write(&cluster, paused);
    let sent_before_pause = cluster.reports().len();
    std::thread::sleep(Duration::from_millis(2500)); // longer than the lease: the point of the test
    let taker = cluster.spawn_worker("taker", &["--concurrency", "1", "--until-idle"]);
    assert_eq!(
        cluster.wait_worker(taker, Duration::from_secs(60)),
        0,
        "{}",
        cluster.worker_log("taker")
    );
    assert_eq!(cluster.progress(run)["status"], "done");
    let sent_after_takeover = cluster.reports().len();
    assert_eq!(sent_after_takeover, 100);
    cluster.signal(paused, "CONT");
    wait_for(
        "the resumed worker to notice its lost lease",
        Duration::from_secs(10),
        || {
            let log = cluster.worker_log("paused");
            (log.contains("lease lost") || log.contains("permit lost")).then_some(())
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        cluster.reports().len(),
        100,
        "the resumed worker submitted again"
    );
    assert!(sent_before_pause < 100);
    cluster.assert_each_order_reported_once_or_failed();
    assert_eq!(
        cluster.count("SELECT COUNT(*) FROM jobs WHERE status <> 'done'"),
        0
    );
    cluster.signal(paused, "TERM");
    assert_eq!(cluster.wait_worker(paused, Duration::from_secs(30)), 0);
}

/// Stops a worker (SIGSTOP) at a moment it holds no SQLite write lock: one
/// stopped inside a write transaction stops every other writer with it, which
/// no lease can undo. On a loaded machine a worker spends longer in its
/// transactions, and a single STOP lands in one more often.
fn pause_outside_a_write(cluster: &Cluster, pid: u32) {
    wait_for(
        "the worker to be stopped outside a write transaction",
        Duration::from_secs(60),
        || {
            cluster.signal(pid, "STOP");
            let conn = cluster.sandbox.conn();
            conn.busy_timeout(Duration::from_millis(500)).unwrap();
            if conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK").is_ok() {
                return Some(());
            }
            cluster.signal(pid, "CONT");
            None
        },
    );
}

#[test]
fn a_redis_restart_mid_run_loses_and_repeats_nothing() {
    let mut cluster = Cluster::start(Setup {
        report_ms: 10,
        pending_orders: Some(200),
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0), ("bob", 0), ("carol", 0)]);
    let worker = cluster.spawn_worker("w", &["--concurrency", "3", "--until-idle"]);
    wait_for("reports to start", Duration::from_secs(30), || {
        (cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'") >= 30)
            .then_some(())
    });
    cluster.redis.restart();
    assert_eq!(
        cluster.wait_worker(worker, Duration::from_secs(90)),
        0,
        "{}",
        cluster.worker_log("w")
    );
    assert_eq!(cluster.progress(run)["status"], "done");
    cluster.finishes_clean(600);
}

#[test]
fn run_slot_run_twice_and_concurrently_creates_one_run() {
    let cluster = Cluster::start(Setup::default());
    cluster.sandbox.run(&["users", "add", "alice"]).ok();
    cluster
        .sandbox
        .run(&["reserve", "alice", "--hour", "7"])
        .ok();
    let children: Vec<_> = (0..10)
        .map(|_| {
            cluster
                .sandbox
                .command(&[
                    "run-slot",
                    "--hour",
                    "7",
                    "--date",
                    "2026-11-27",
                    "--force",
                    "--json",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<serde_json::Value> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    assert_eq!(outputs.iter().filter(|o| o["created"] == true).count(), 1);
    assert!(outputs.iter().all(|o| o["run_id"] == outputs[0]["run_id"]));
    let again = cluster.sandbox.run_slot(7, "2026-11-27");
    assert_eq!(again["created"], false);
    assert_eq!(again["users"], 1);
    assert_eq!(cluster.count("SELECT COUNT(*) FROM runs"), 1);
    assert_eq!(cluster.count("SELECT COUNT(*) FROM jobs"), 1);
}

#[test]
fn sigterm_drains_a_busy_worker_within_thirty_seconds() {
    let mut cluster = Cluster::start(Setup {
        report_ms: 50,
        pending_orders: Some(300),
        ..Setup::default()
    });
    cluster.run_with_users(10, &[("alice", 0), ("bob", 0), ("carol", 0)]);
    let mut redis = cluster.redis.connection();
    let worker = cluster.spawn_worker("w", &["--concurrency", "3"]);
    wait_for(
        "the worker to be inside ranges",
        Duration::from_secs(30),
        || {
            (cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'") >= 20)
                .then_some(())
        },
    );
    cluster.signal(worker, "TERM");
    let asked = Instant::now();
    assert_eq!(
        cluster.wait_worker(worker, Duration::from_secs(30)),
        0,
        "{}",
        cluster.worker_log("w")
    );
    assert!(asked.elapsed() < Duration::from_secs(30));
    let held: i64 = redis::cmd("ZCARD")
        .arg("test:permits")
        .query(&mut redis)
        .unwrap();
    assert_eq!(held, 0, "permits released");
    let locks: Vec<String> = redis::cmd("KEYS")
        .arg("test:range:*")
        .query(&mut redis)
        .unwrap();
    assert!(locks.is_empty(), "range locks released: {locks:?}");
    assert_eq!(
        cluster.count("SELECT COUNT(*) FROM jobs WHERE status = 'running'"),
        0,
        "jobs handed back"
    );
    assert!(
        cluster.status()["workers"].as_array().unwrap().is_empty(),
        "the worker is no longer listed"
    );
    cluster.assert_each_order_reported_once_or_failed_so_far();
}

#[test]
fn retries_exhaust_into_failed_with_the_error_shown_by_progress() {
    let mut cluster = Cluster::start(Setup {
        failure_rate: 1.0,
        download_retries: 1,
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 1000)]);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    assert_eq!(
        cluster.wait_worker(worker, Duration::from_secs(60)),
        0,
        "{}",
        cluster.worker_log("w")
    );
    let progress = cluster.progress(run);
    assert_eq!(progress["status"], "failed");
    let alice = &progress["users"][0];
    assert_eq!(alice["status"], "failed");
    assert_eq!(
        alice["error"],
        "simulated portal failure while downloading the orders export"
    );
    assert_eq!(
        cluster.count("SELECT failures FROM jobs"),
        2,
        "one try and one retry"
    );
    let table = cluster
        .sandbox
        .run(&["progress", &run.to_string()])
        .ok()
        .stdout;
    assert!(table.contains("simulated portal failure"), "{table}");
    assert_eq!(cluster.status()["queue"]["failed"], 1);
}

#[test]
fn with_a_quarter_of_steps_failing_every_order_ends_reported_once_or_failed() {
    let mut cluster = Cluster::start(Setup {
        failure_rate: 0.25,
        report_ms: 1,
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, USERS);
    let worker = cluster.spawn_worker("w", &["--concurrency", "6", "--until-idle"]);
    assert_eq!(
        cluster.wait_worker(worker, Duration::from_secs(120)),
        0,
        "{}",
        cluster.worker_log("w")
    );
    let status = cluster.progress(run)["status"].clone();
    assert!(status == "done" || status == "failed", "{status}");
    cluster.assert_each_order_reported_once_or_failed();
    let reported = cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'");
    let failed = cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'failed'");
    let pending: i64 = cluster.count("SELECT COALESCE(SUM(pending_orders), 0) FROM run_users");
    assert_eq!(reported + failed, pending, "no order left unaccounted for");
    assert!(reported > 0);
}

#[test]
fn a_worker_keeps_its_browser_permit_renewed_while_another_process_holds_the_database_write_lock() {
    let mut cluster = Cluster::start(Setup {
        report_ms: 10,
        pending_orders: Some(400),
        ..Setup::default()
    });
    let lease = Duration::from_secs(2);
    let run = cluster.run_with_users(10, &[("alice", 0)]);
    let mut redis = cluster.redis.connection();
    let worker = cluster.spawn_worker("w", &["--concurrency", "1", "--until-idle"]);
    wait_for(
        "the worker to report inside a range",
        Duration::from_secs(30),
        || {
            (cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'") >= 20)
                .then_some(())
        },
    );
    let holders = cluster.live_permits(&mut redis);
    assert_eq!(holders.len(), 1, "one slot, one permit: {holders:?}");
    let expiry = |redis: &mut redis::Connection| -> i64 {
        redis::cmd("ZSCORE")
            .arg("test:permits")
            .arg(&holders[0])
            .query::<Option<i64>>(redis)
            .unwrap()
            .unwrap_or(0)
    };
    // Another process takes the write lock and keeps it for three leases,
    // as a worker stopped in the middle of a write would.
    let locker = cluster.sandbox.conn();
    locker
        .execute_batch("BEGIN IMMEDIATE; UPDATE workers SET last_seen = last_seen;")
        .unwrap();
    let locked_at = Instant::now();
    let mut expiries = Vec::new();
    while locked_at.elapsed() < 3 * lease {
        assert_eq!(
            cluster.live_permits(&mut redis),
            holders,
            "the worker's permit lapsed while the database was locked; {}",
            cluster.worker_log("w")
        );
        expiries.push(expiry(&mut redis));
        std::thread::sleep(Duration::from_millis(50));
    }
    locker.execute_batch("COMMIT").unwrap();
    expiries.dedup();
    assert!(
        expiries.len() >= 5,
        "the permit was renewed only {} times in three leases",
        expiries.len() - 1
    );
    assert_eq!(
        cluster.wait_worker(worker, Duration::from_secs(60)),
        0,
        "{}",
        cluster.worker_log("w")
    );
    assert_eq!(cluster.progress(run)["status"], "done");
    cluster.finishes_clean(400);
}
