//! What operators look at: progress, status and reset-semaphore.

use std::time::Duration;

use crate::support::cluster::{Cluster, Setup};
use crate::support::wait_for;

#[test]
fn progress_watch_without_a_terminal_prints_plain_lines_until_the_run_ends() {
    let mut cluster = Cluster::start(Setup {
        report_ms: 5,
        pending_orders: Some(120),
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0), ("bob", 0)]);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    let out = cluster
        .sandbox
        .run(&["progress", &run.to_string(), "--watch"])
        .ok();
    assert_eq!(cluster.wait_worker(worker, Duration::from_secs(60)), 0);
    let last = out.stdout.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!("run {run} done: 2/2 users finished, 240/240 orders reported, 0 failed")
    );
    assert!(
        !out.stdout.contains('\u{1b}'),
        "no terminal escapes when stdout is not a terminal"
    );
}

#[test]
fn progress_shows_each_user_with_ranges_and_orders() {
    let mut cluster = Cluster::start(Setup {
        pending_orders: Some(250),
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0)]);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    assert_eq!(cluster.wait_worker(worker, Duration::from_secs(60)), 0);
    let progress = cluster.progress(run);
    assert_eq!(progress["status"], "done");
    let alice = &progress["users"][0];
    for (key, value) in [
        ("user", serde_json::json!("alice")),
        ("status", serde_json::json!("done")),
        ("pending_orders", serde_json::json!(250)),
        ("ranges_total", serde_json::json!(3)),
        ("ranges_completed", serde_json::json!(3)),
        ("orders_reported", serde_json::json!(250)),
        ("orders_failed", serde_json::json!(0)),
        ("error", serde_json::Value::Null),
    ] {
        assert_eq!(alice[key], value, "{key}");
    }
    let runs = cluster.sandbox.run(&["progress", "--json"]).ok().json();
    assert_eq!(runs[0]["run_id"], run);
    assert_eq!(runs[0]["status"], "done");
}

#[test]
fn status_lists_permit_holders_the_queue_and_live_workers() {
    let mut cluster = Cluster::start(Setup {
        report_ms: 50,
        pending_orders: Some(200),
        ..Setup::default()
    });
    cluster.run_with_users(10, &[("alice", 0), ("bob", 0)]);
    cluster.spawn_worker("busy-1", &["--concurrency", "2"]);
    let status = wait_for(
        "two permits held by busy-1",
        Duration::from_secs(30),
        || {
            let status = cluster.status();
            let busy = status["permits"]["holders"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|h| h["job"].is_string())
                .count();
            // Between two jobs a slot keeps its permit: wait for a moment when both are running.
            (busy == 2 && status["queue"]["running"] == 2).then_some(status)
        },
    );
    assert_eq!(status["permits"]["limit"], 6);
    assert_eq!(status["permits"]["held"], 2);
    let holder = &status["permits"]["holders"][0];
    assert_eq!(holder["worker"], "busy-1");
    assert!(
        holder["job"].as_str().unwrap().starts_with("run 1 "),
        "{holder}"
    );
    assert!(holder["since"].is_string());
    assert_eq!(status["queue"]["running"], 2);
    assert_eq!(status["workers"][0]["id"], "busy-1");
    assert!(status["workers"][0]["last_seen"].is_string());
}

#[test]
fn reset_semaphore_asks_first_and_workers_recover_from_it() {
    let mut cluster = Cluster::start(Setup {
        report_ms: 20,
        pending_orders: Some(150),
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0), ("bob", 0)]);
    let worker = cluster.spawn_worker("w", &["--concurrency", "2", "--until-idle"]);
    wait_for("permits held", Duration::from_secs(30), || {
        (cluster.status()["permits"]["held"].as_u64().unwrap() >= 1).then_some(())
    });
    let refused = cluster.sandbox.run(&["reset-semaphore"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert_eq!(
        refused.stderr,
        "error: nothing reset; pass --yes to reset without asking\n"
    );
    assert!(
        refused.stdout.contains("browser permits held"),
        "{}",
        refused.stdout
    );
    let dropped = cluster
        .sandbox
        .run(&["reset-semaphore", "--yes", "--json"])
        .ok()
        .json();
    assert!(!dropped.as_array().unwrap().is_empty());
    assert_eq!(
        cluster.wait_worker(worker, Duration::from_secs(60)),
        0,
        "{}",
        cluster.worker_log("w")
    );
    assert_eq!(cluster.progress(run)["status"], "done");
    cluster.finishes_clean(300);
}

/// Writes a permit holder straight into Redis, its lease ending `ms_from_now`
/// (negative: already ended, as a dead worker leaves it until the next acquire).
fn plant_holder(redis: &mut redis::Connection, token: &str, ms_from_now: i64) {
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query(redis).unwrap();
    let expiry = secs * 1000 + micros / 1000 + ms_from_now;
    let _: () = redis::cmd("ZADD")
        .arg("test:permits")
        .arg(expiry)
        .arg(token)
        .query(redis)
        .unwrap();
    let info = format!(r#"{{"worker":"{token}","job":null,"since":"2026-11-29T05:00:00Z"}}"#);
    let _: () = redis::cmd("HSET")
        .arg("test:permit-holders")
        .arg(token)
        .arg(info)
        .query(redis)
        .unwrap();
}

#[test]
fn status_and_metrics_count_only_holders_whose_lease_is_live() {
    let cluster = Cluster::start(Setup::default());
    let mut redis = cluster.redis.connection();
    plant_holder(&mut redis, "dead-worker", -5_000);
    plant_holder(&mut redis, "live-worker", 60_000);
    let status = cluster.status();
    assert_eq!(status["permits"]["held"], 1, "{status}");
    assert_eq!(status["permits"]["holders"][0]["worker"], "live-worker");
    let metrics = cluster.sandbox.run(&["metrics"]).ok();
    assert!(
        metrics
            .stdout
            .lines()
            .any(|l| l == "reporter_browser_permits_held 1"),
        "{}",
        metrics.stdout
    );
}

#[test]
fn reset_semaphore_clears_permit_keys_no_worker_wrote_and_says_what_it_removed() {
    let cluster = Cluster::start(Setup::default());
    let mut redis = cluster.redis.connection();
    let damaged = [
        (
            vec!["SET", "test:permits", "oops"],
            "`test:permits` is a string, not a sorted set",
        ),
        (
            vec!["ZADD", "test:permits", "inf", "tok"],
            "`test:permits` holds `tok` with score `inf`, not a lease expiry in milliseconds",
        ),
        (
            vec!["SET", "test:permit-holders", "oops"],
            "`test:permit-holders` is a string, not a hash",
        ),
    ];
    for (command, what) in damaged {
        let mut cmd = redis::cmd(command[0]);
        for arg in &command[1..] {
            cmd.arg(*arg);
        }
        let _: () = cmd.query(&mut redis).unwrap();
        let status = cluster.sandbox.run(&["status"]);
        assert_eq!(
            status.stderr,
            format!(
                "error: the browser permit keys are damaged: {what}; clear them with `reporter reset-semaphore --yes`\n"
            )
        );
        assert_eq!(status.code, 1);
        let reset = cluster.sandbox.run(&["reset-semaphore", "--yes"]).ok();
        assert_eq!(
            reset.stderr,
            format!("removed the damaged permit keys: {what}\n")
        );
        assert!(
            reset.stdout.contains("removed the damaged permit keys;"),
            "{}",
            reset.stdout
        );
        let left: i64 = redis::cmd("EXISTS")
            .arg("test:permits")
            .arg("test:permit-holders")
            .query(&mut redis)
            .unwrap();
        assert_eq!(left, 0, "the damaged keys are still there");
        assert_eq!(cluster.status()["permits"]["held"], 0);
    }
}

#[test]
fn orders_found_already_reported_on_the_portal_are_counted_apart_from_those_submitted() {
    use std::io::Write;
    let mut cluster = Cluster::start(Setup {
        pending_orders: Some(10),
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0)]);
    // The portal already holds three of alice's orders.
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&cluster.report_log)
        .unwrap();
    for seq in [3, 4, 5] {
        let line = serde_json::json!({"user": "alice", "order": format!("alice-r{run}-{seq:05}"), "run_id": run});
        writeln!(log, "{line}").unwrap();
    }
    drop(log);
    let worker = cluster.spawn_worker("w1", &["--until-idle"]);
    assert_eq!(cluster.wait_worker(worker, Duration::from_secs(60)), 0);
    cluster.finishes_clean(10);
    let progress = cluster.progress(run);
    let alice = &progress["users"][0];
    assert_eq!(alice["orders_reported"], 10, "{alice}");
    assert_eq!(alice["orders_submitted"], 7, "{alice}");
    assert_eq!(alice["orders_found_reported"], 3, "{alice}");
}
