//! `reporter metrics`: the Prometheus text format, read back by a strict parser.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use crate::support::cluster::{Cluster, Setup};
use crate::support::prometheus::{Page, parse};
use crate::support::{Sandbox, to_run, wait_for};

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn metrics(sandbox: &Sandbox) -> Page {
    parse(&sandbox.run(&["metrics"]).ok().stdout)
}

/// A sandbox whose Redis URL points at a port nothing listens on.
fn sandbox_without_redis() -> Sandbox {
    let mut sandbox = Sandbox::new();
    sandbox.set_env("REPORTER_REDIS_URL", "redis://127.0.0.1:1/");
    sandbox
}

/// The same command run through `sh` with `umask 077` first.
fn with_umask_077(command: Command) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("umask 077 && exec \"$0\" \"$@\"")
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => sh.env(key, value),
            None => sh.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        sh.current_dir(dir);
    }
    sh
}

#[test]
fn after_a_drained_run_metrics_count_its_jobs_and_orders() {
    let mut cluster = Cluster::start(Setup {
        pending_orders: Some(150),
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0), ("bob", 0)]);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    assert_eq!(cluster.wait_worker(worker, Duration::from_secs(60)), 0);

    let page = metrics(&cluster.sandbox);
    assert_eq!(page.value("reporter_redis_up", &[]), 1.0);
    assert_eq!(page.value("reporter_browser_permits_limit", &[]), 6.0);
    assert_eq!(page.value("reporter_browser_permits_held", &[]), 0.0);
    // Two downloads and two ranges (100 + 50) per user.
    for (state, n) in [
        ("queued", 0.0),
        ("running", 0.0),
        ("retrying", 0.0),
        ("failed", 0.0),
        ("done", 6.0),
    ] {
        assert_eq!(
            page.value("reporter_jobs", &[("state", state)]),
            n,
            "{state}"
        );
    }
    let run_labels = [("run_id", run.to_string()), ("hour", "10".to_string())];
    let run_labels: Vec<(&str, &str)> = run_labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        page.value("reporter_run_orders_reported", &run_labels),
        300.0
    );
    assert_eq!(page.value("reporter_run_orders_failed", &run_labels), 0.0);
    let duration = page.value("reporter_last_run_duration_seconds", &[]);
    assert!(duration > 0.0 && duration < 60.0, "duration {duration}");
    let finished = page.value("reporter_last_run_finished_timestamp_seconds", &[]);
    assert!(
        (now_seconds() - finished).abs() < 60.0,
        "finished at {finished}"
    );
    assert!(
        page.named("reporter_worker_last_seen_timestamp_seconds")
            .is_empty(),
        "a worker that exited has no heartbeat"
    );
    assert_eq!(page.types["reporter_jobs"], "gauge");
    assert!(page.helps.contains_key("reporter_run_orders_failed"));
}

#[test]
fn an_unfinished_run_shows_its_hour_until_it_is_done_and_the_metrics_say_when_they_were_made() {
    let mut cluster = Cluster::start(Setup {
        pending_orders: Some(20),
        ..Setup::default()
    });
    let run = cluster.run_with_users(7, &[("alice", 0)]);
    let scheduled_at: i64 = cluster
        .sandbox
        .conn()
        .query_row("SELECT scheduled_at FROM runs WHERE id = ?1", [run], |r| {
            r.get(0)
        })
        .unwrap();
    let page = metrics(&cluster.sandbox);
    assert_eq!(
        page.value(
            "reporter_oldest_unfinished_run_scheduled_timestamp_seconds",
            &[]
        ),
        scheduled_at as f64 / 1000.0
    );
    let made = page.value("reporter_metrics_timestamp_seconds", &[]);
    assert!((now_seconds() - made).abs() < 60.0, "made at {made}");

    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    assert_eq!(cluster.wait_worker(worker, Duration::from_secs(60)), 0);
    let page = metrics(&cluster.sandbox);
    assert!(
        page.named("reporter_oldest_unfinished_run_scheduled_timestamp_seconds")
            .is_empty(),
        "no unfinished run once the run is done"
    );
}

#[test]
fn failed_orders_of_a_run_match_what_progress_records() {
    let mut cluster = Cluster::start(Setup {
        pending_orders: Some(60),
        failure_rate: 0.3,
        report_retries: 0,
        ..Setup::default()
    });
    let run = cluster.run_with_users(3, &[("alice", 0), ("bob", 0), ("carol", 0)]);
    let worker = cluster.spawn_worker("w", &["--until-idle"]);
    assert_eq!(cluster.wait_worker(worker, Duration::from_secs(60)), 0);
    let progress = cluster.progress(run);
    let sum = |key: &str| -> f64 {
        progress["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u[key].as_f64().unwrap())
            .sum()
    };
    let page = metrics(&cluster.sandbox);
    let run = run.to_string();
    let labels = [("run_id", run.as_str()), ("hour", "3")];
    assert_eq!(
        page.value("reporter_run_orders_reported", &labels),
        sum("orders_reported")
    );
    assert_eq!(
        page.value("reporter_run_orders_failed", &labels),
        sum("orders_failed")
    );
}

#[test]
fn a_running_worker_has_a_recent_heartbeat_under_its_escaped_id() {
    let mut cluster = Cluster::start(Setup::default());
    let id = "host \"a\"\\1";
    cluster.spawn_worker(id, &[]);
    wait_for("the worker to register", Duration::from_secs(30), || {
        (cluster.status()["workers"][0]["id"] == id).then_some(())
    });
    let text = cluster.sandbox.run(&["metrics"]).ok().stdout;
    assert!(
        text.contains(r#"{worker="host \"a\"\\1"}"#),
        "label value escaped: {text}"
    );
    let seen = parse(&text).value(
        "reporter_worker_last_seen_timestamp_seconds",
        &[("worker", id)],
    );
    assert!((now_seconds() - seen).abs() < 30.0, "last seen {seen}");
}

#[test]
fn with_redis_down_metrics_still_print_the_database_and_redis_up_0() {
    let sandbox = sandbox_without_redis();
    let page = metrics(&sandbox);
    assert_eq!(page.value("reporter_redis_up", &[]), 0.0);
    assert!(page.named("reporter_browser_permits_held").is_empty());
    assert_eq!(page.value("reporter_browser_permits_limit", &[]), 6.0);
    assert_eq!(page.value("reporter_jobs", &[("state", "queued")]), 0.0);
}

#[test]
fn textfile_is_replaced_whole_with_mode_0644_and_no_temporary_file_left() {
    let sandbox = sandbox_without_redis();
    let dir = sandbox.path("textfile");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("reporter.prom"), "old\n").unwrap();
    // As under the systemd unit: a umask that would make new files private.
    for _ in 0..2 {
        let output =
            with_umask_077(sandbox.command(&["metrics", "--textfile", dir.to_str().unwrap()]))
                .output()
                .unwrap();
        let run = to_run(output).ok();
        assert_eq!(run.stdout, "", "nothing on stdout with --textfile");
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["reporter.prom"]);
    let file = dir.join("reporter.prom");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "mode {mode:o}");
    let page = parse(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(page.value("reporter_redis_up", &[]), 0.0);
}

#[test]
fn a_missing_textfile_directory_is_refused_in_one_line() {
    let sandbox = sandbox_without_redis();
    let dir = sandbox.path("no-such-dir");
    sandbox.run(&["metrics", "--textfile", dir.to_str().unwrap()]).refused(&format!(
        "metrics directory `{}` does not exist; create it or point --textfile at the node exporter's textfile directory",
        dir.display()
    ));
}

#[test]
fn an_optional_textfile_directory_that_is_missing_writes_nothing_and_says_nothing() {
    let sandbox = sandbox_without_redis();
    let dir = sandbox.path("no-node-exporter");
    let run = sandbox.run(&["metrics", "--textfile", dir.to_str().unwrap(), "--optional"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("error"), "{}", run.stderr);
    assert!(!run.stderr.contains("does not exist"), "{}", run.stderr);
    assert!(!dir.exists());
}
