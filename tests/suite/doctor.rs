//! `reporter doctor`: one line per check, exit 1 on any failure, and each
//! failure names its check and says what to do.

use std::time::Duration;

use crate::support::cluster::{Cluster, Setup};
use crate::support::{Run, Sandbox, wait_for};

/// The checks of a run, as (verdict, check, detail), after asserting that
/// every stdout line has the `ok   name: detail` / `FAIL name: detail` form.
#[track_caller]
fn lines(run: &Run) -> Vec<(String, String, String)> {
    run.stdout
        .lines()
        .map(|line| {
            let (verdict, rest) = if let Some(rest) = line.strip_prefix("ok   ") {
                ("ok", rest)
            } else if let Some(rest) = line.strip_prefix("FAIL ") {
                ("FAIL", rest)
            } else {
                panic!("not a check line: {line:?}")
            };
            let (check, detail) = rest
                .split_once(": ")
                .unwrap_or_else(|| panic!("no `check: detail` in {line:?}"));
            (verdict.into(), check.into(), detail.into())
        })
        .collect()
}

/// The one failing line, asserting exit 1 and that it is the only failure.
#[track_caller]
fn only_failure(run: &Run) -> (String, String) {
    assert_eq!(run.code, 1, "exit status; stdout: {}", run.stdout);
    let failed: Vec<_> = lines(run)
        .into_iter()
        .filter(|(verdict, _, _)| verdict == "FAIL")
        .collect();
    assert_eq!(failed.len(), 1, "one failing check: {}", run.stdout);
    let (_, check, detail) = failed.into_iter().next().unwrap();
    (check, detail)
}

fn checks_named(run: &Run) -> Vec<String> {
    lines(run).into_iter().map(|(_, check, _)| check).collect()
}

#[test]
fn a_healthy_host_passes_every_check() {
    let cluster = Cluster::start(Setup::default());
    cluster.sandbox.run(&["slots"]).ok();
    let run = cluster.sandbox.run(&["doctor"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        checks_named(&run),
        ["config", "database", "redis", "permits"]
    );
    let lines = lines(&run);
    assert!(lines.iter().all(|(verdict, _, _)| verdict == "ok"));
    let config = cluster.sandbox.path("reporter.toml");
    assert_eq!(lines[0].2, format!("{} loads", config.display()));
    assert_eq!(
        lines[1].2,
        format!(
            "{} (schema 2, wal, quick_check ok)",
            cluster.sandbox.db.display()
        )
    );
    assert_eq!(
        lines[2].2,
        format!("{} answers, key prefix `test`", cluster.redis.url())
    );
    assert_eq!(lines[3].2, "0 of 6 browser permits held");

    let json = cluster.sandbox.run(&["doctor", "--json"]).ok().json();
    let checks = json.as_array().unwrap();
    assert_eq!(checks.len(), 4);
    for check in checks {
        assert_eq!(check["ok"], true, "{check}");
        assert!(check["check"].is_string() && check["detail"].is_string());
    }
}

#[test]
fn permits_held_by_a_busy_live_worker_pass() {
    let mut cluster = Cluster::start(Setup {
        report_ms: 50,
        pending_orders: Some(200),
        ..Setup::default()
    });
    cluster.run_with_users(10, &[("alice", 0), ("bob", 0)]);
    cluster.spawn_worker("busy", &["--concurrency", "2"]);
    wait_for("a permit held", Duration::from_secs(30), || {
        (cluster.status()["permits"]["held"].as_u64().unwrap() >= 1).then_some(())
    });
    let run = cluster.sandbox.run(&["doctor"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let permits = lines(&run).pop().unwrap();
    assert_eq!(permits.1, "permits");
    assert!(
        permits
            .2
            .ends_with("browser permits held, all by live workers"),
        "{}",
        permits.2
    );
}

#[test]
fn a_broken_config_fails_the_config_check_with_the_key_and_file() {
    let mut sandbox = Sandbox::new();
    let config = sandbox.config("rnage_size = 100\n");
    let run = sandbox.run(&["doctor"]);
    let (check, detail) = only_failure(&run);
    assert_eq!(check, "config");
    assert!(
        detail.starts_with(&format!(
            "config file `{}` at line 1, column 1: unknown field `rnage_size`",
            config.display()
        )),
        "{detail}"
    );
    assert!(
        detail.ends_with("; see examples/reporter.toml for every key"),
        "{detail}"
    );
    assert_eq!(run.stderr, "", "the failure is a check line, not an error");
    assert!(!sandbox.db.exists(), "nothing is created");
}

#[test]
fn redis_down_fails_the_redis_check_with_what_to_do() {
    let mut sandbox = Sandbox::new();
    sandbox.set_env("REPORTER_REDIS_URL", "redis://127.0.0.1:1/");
    let run = sandbox.run(&["doctor"]);
    let (check, detail) = only_failure(&run);
    assert_eq!(check, "redis");
    assert!(
        detail.starts_with("cannot connect to redis://127.0.0.1:1/: "),
        "{detail}"
    );
    assert!(
        detail.ends_with(
            "; start redis-server or fix `redis_url` in the config, --redis or REPORTER_REDIS_URL"
        ),
        "{detail}"
    );
    assert_eq!(checks_named(&run), ["config", "database", "redis"]);
}

#[test]
fn a_permit_held_by_a_worker_without_heartbeat_fails_with_the_reset_hint() {
    let cluster = Cluster::start(Setup::default());
    cluster.sandbox.run(&["slots"]).ok();
    // A holder whose worker never heartbeats into this database, such as a
    // worker sharing the Redis and key prefix but using another database.
    let mut redis = cluster.redis.connection();
    let (secs, _): (i64, i64) = redis::cmd("TIME").query(&mut redis).unwrap();
    let _: () = redis::cmd("ZADD")
        .arg("test:permits")
        .arg((secs + 600) * 1000)
        .arg("ghost-token")
        .query(&mut redis)
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg("test:permit-holders")
        .arg("ghost-token")
        .arg(r#"{"worker":"ghost","job":null,"since":"2026-01-01T00:00:00Z"}"#)
        .query(&mut redis)
        .unwrap();
    let run = cluster.sandbox.run(&["doctor"]);
    let (check, detail) = only_failure(&run);
    assert_eq!(check, "permits");
    assert!(
        detail.starts_with("1 of 6 browser permits held by workers that no longer heartbeat (ghost); wait for their leases to end (within "),
        "{detail}"
    );
    assert!(
        detail.ends_with(" s) or run `reporter reset-semaphore`"),
        "{detail}"
    );
}

#[test]
fn a_database_in_a_missing_directory_fails_the_database_check() {
    let mut sandbox = Sandbox::new();
    sandbox.set_env("REPORTER_REDIS_URL", "redis://127.0.0.1:1/");
    let db = sandbox.path("no-such-dir/reporter.db");
    sandbox.set_env("REPORTER_DB", db.to_str().unwrap());
    let run = sandbox.run(&["doctor"]);
    let database = lines(&run)
        .into_iter()
        .find(|(_, check, _)| check == "database")
        .unwrap();
    assert_eq!(database.0, "FAIL");
    assert_eq!(
        database.2,
        format!(
            "the directory `{}` of `{}` does not exist; create it (the units' StateDirectory= does) or pass --db FILE",
            sandbox.path("no-such-dir").display(),
            db.display()
        )
    );
}
