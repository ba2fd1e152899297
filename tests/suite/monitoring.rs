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
    cluster.assert_each_order_reported_once_or_failed();
    assert_eq!(cluster.reports().len(), 300);
}
