//! `reporter doctor`: one line per check, exit 1 on any failure, and each
//! failure names its check and says what to do.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::support::cluster::{Cluster, Setup};
use crate::support::redis_server::RedisServer;
use crate::support::{Run, Sandbox, on_path, wait_for};

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
            } else if let Some(rest) = line.strip_prefix("WARN ") {
                ("WARN", rest)
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
        ["config", "sqlite", "database", "redis", "permits"]
    );
    let lines = lines(&run);
    assert!(lines.iter().all(|(verdict, _, _)| verdict == "ok"));
    let config = cluster.sandbox.path("reporter.toml");
    assert_eq!(lines[0].2, format!("{} loads", config.display()));
    assert!(lines[1].2.starts_with("SQLite 3."), "{}", lines[1].2);
    let database = &lines[2].2;
    assert!(
        database.starts_with(&format!("{} (schema ", cluster.sandbox.db.display()))
            && database.ends_with(", wal, quick_check ok)"),
        "{database}"
    );
    assert_eq!(
        lines[3].2,
        format!("{} answers, key prefix `test`", cluster.redis.url())
    );
    assert_eq!(lines[4].2, "0 of 6 browser permits held");

    let json = cluster.sandbox.run(&["doctor", "--json"]).ok().json();
    let checks = json.as_array().unwrap();
    assert_eq!(checks.len(), 5);
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
        detail.starts_with("cannot reach Redis at redis://127.0.0.1:1/: "),
        "{detail}"
    );
    assert!(
        detail.ends_with(
            "; start redis-server or fix `redis_url` in the config, --redis or REPORTER_REDIS_URL"
        ),
        "{detail}"
    );
    assert_eq!(
        checks_named(&run),
        ["config", "sqlite", "database", "redis"]
    );
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

/// A host set up for the web portal: Redis, a portal that answers, a user
/// with a private password file, and chromedriver and Chromium as installed.
struct WebHost {
    sandbox: Sandbox,
    redis: RedisServer,
    _portal: PortalStub,
    portal_url: String,
    credentials: PathBuf,
}

impl WebHost {
    fn start() -> WebHost {
        for program in ["chromedriver", "chromium"] {
            assert!(
                on_path(program),
                "{program} is not installed; install it with `apt-get install chromium chromium-driver`"
            );
        }
        let redis = RedisServer::start();
        let portal = PortalStub::start();
        let sandbox = Sandbox::new();
        let credentials = sandbox.path("credentials");
        fs::create_dir(&credentials).unwrap();
        fs::set_permissions(&credentials, fs::Permissions::from_mode(0o700)).unwrap();
        let mut host = WebHost {
            sandbox,
            redis,
            portal_url: portal.url.clone(),
            _portal: portal,
            credentials,
        };
        host.configure("");
        host.sandbox.run(&["users", "add", "alice"]).ok();
        let password = host.credentials.join("alice");
        fs::write(&password, "s3cret\n").unwrap();
        fs::set_permissions(&password, fs::Permissions::from_mode(0o600)).unwrap();
        host
    }

    /// Writes the config, with `browser` as the `[browser]` table's lines.
    fn configure(&mut self, browser: &str) {
        let text = format!(
            "redis_url = \"{}\"\nkey_prefix = \"test\"\n[portal]\nkind = \"web\"\nbase_url = \"{}\"\ncredentials_dir = \"{}\"\n[browser]\n{browser}",
            self.redis.url(),
            self.portal_url,
            self.credentials.display()
        );
        self.sandbox.config(&text);
    }
}

/// An HTTP server on a free loopback port that answers every request with 200.
struct PortalStub {
    url: String,
    server: Arc<tiny_http::Server>,
}

impl PortalStub {
    fn start() -> PortalStub {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let serving = Arc::clone(&server);
        std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                let _ = request.respond(tiny_http::Response::from_string("portal"));
            }
        });
        PortalStub { url, server }
    }
}

impl Drop for PortalStub {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

#[test]
fn a_healthy_web_host_passes_the_browser_credentials_and_portal_checks() {
    let host = WebHost::start();
    let run = host.sandbox.run(&["doctor"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        checks_named(&run),
        [
            "config",
            "sqlite",
            "database",
            "redis",
            "permits",
            "chromedriver",
            "chromium",
            "credentials",
            "portal"
        ]
    );
    let lines = lines(&run);
    assert!(
        lines[6].2.contains(", matches chromedriver "),
        "{}",
        lines[6].2
    );
    assert_eq!(
        lines[7].2,
        format!(
            "1 user, each with a private password file in {}",
            host.credentials.display()
        )
    );
    assert_eq!(lines[8].2, format!("{} answers HTTP 200", host.portal_url));
}

#[test]
fn a_world_readable_credentials_file_fails_naming_the_file_and_the_chmod() {
    let host = WebHost::start();
    let password = host.credentials.join("alice");
    fs::set_permissions(&password, fs::Permissions::from_mode(0o644)).unwrap();
    let run = host.sandbox.run(&["doctor"]);
    let (check, detail) = only_failure(&run);
    assert_eq!(check, "credentials");
    assert_eq!(
        detail,
        format!(
            "credentials file `{0}` has mode 0644, readable beyond its owner; run `chmod 600 {0}`",
            password.display()
        )
    );
    assert!(!run.stdout.contains("s3cret"));
}

#[test]
fn a_missing_chromedriver_fails_naming_the_path_and_the_package() {
    let mut host = WebHost::start();
    host.configure("chromedriver = \"/nonexistent/chromedriver\"\n");
    let run = host.sandbox.run(&["doctor"]);
    let (check, detail) = only_failure(&run);
    assert_eq!(check, "chromedriver");
    assert_eq!(
        detail,
        "cannot find `/nonexistent/chromedriver`; install it (apt-get install chromium-driver) or set browser.chromedriver in the config"
    );
}

#[test]
fn chromium_of_another_major_version_than_chromedriver_fails() {
    let mut host = WebHost::start();
    let fake = host.sandbox.path("old-chromium");
    fs::write(
        &fake,
        "#!/bin/sh\necho 'Chromium 99.0.4844.51 built on Debian'\n",
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    host.configure(&format!("chromium = \"{}\"\n", fake.display()));
    let run = host.sandbox.run(&["doctor"]);
    let (check, detail) = only_failure(&run);
    assert_eq!(check, "chromium");
    assert!(
        detail.starts_with(&format!(
            "{} 99.0.4844.51 does not match chromedriver ",
            fake.display()
        )),
        "{detail}"
    );
    assert!(
        detail.ends_with("; install the chromedriver of the same major version (apt-get install chromium chromium-driver)"),
        "{detail}"
    );
}

#[test]
fn a_portal_that_does_not_answer_fails_the_portal_check() {
    let mut host = WebHost::start();
    host.portal_url = "http://127.0.0.1:1".into();
    host.configure("");
    let run = host.sandbox.run(&["doctor"]);
    let (check, detail) = only_failure(&run);
    assert_eq!(check, "portal");
    assert!(
        detail.starts_with("http://127.0.0.1:1: cannot connect ("),
        "{detail}"
    );
    assert!(
        detail.ends_with("); check the address, the network and that the server runs"),
        "{detail}"
    );
}

/// A WebDriver stub on a free loopback port whose `/status` answers `status`.
fn status_stub(status: serde_json::Value) -> (String, Arc<tiny_http::Server>) {
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let serving = Arc::clone(&server);
    let body = status.to_string();
    std::thread::spawn(move || {
        for request in serving.incoming_requests() {
            let _ = request.respond(tiny_http::Response::from_string(body.clone()));
        }
    });
    (url, server)
}

/// A Grid node's `/status` entry with a slot per browser name; `busy` of
/// them running a session.
fn grid_node(availability: &str, browsers: &[&str], busy: usize) -> serde_json::Value {
    let slots: Vec<serde_json::Value> = browsers
        .iter()
        .enumerate()
        .map(|(i, name)| {
            serde_json::json!({
                "session": if i < busy { serde_json::json!({"sessionId": "s"}) } else { serde_json::Value::Null },
                "stereotype": {"browserName": name, "platformName": "linux"},
            })
        })
        .collect();
    serde_json::json!({"availability": availability, "maxSessions": browsers.len(), "slots": slots})
}

#[test]
fn a_selenium_grid_with_fewer_free_chrome_slots_than_browsers_gets_a_warning_not_a_failure() {
    let mut host = WebHost::start();
    let (url, server) = status_stub(serde_json::json!({"value": {
        "ready": true,
        "message": "Selenium Grid ready.",
        "nodes": [
            grid_node("UP", &["chrome", "chrome", "firefox"], 1),
            grid_node("UP", &["chrome", "chrome"], 0),
            grid_node("DOWN", &["chrome", "chrome"], 0),
        ],
    }}));
    host.configure(&format!("webdriver_url = \"{url}\"\nsession_timeout = 90"));
    let run = host.sandbox.run(&["doctor"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains(" webdriver: "))
        .unwrap()
        .to_string();
    assert_eq!(
        line,
        format!(
            "WARN webdriver: the Selenium Grid at {url} is ready: 3 of 4 `chrome` slots free on 2 of 3 nodes, fewer than max_active_browsers (6); browsers past the free slots wait in the Grid's queue, and fail after browser.session_timeout (90 s): add nodes (--max-sessions) or lower max_active_browsers"
        )
    );
    let json = host.sandbox.run(&["doctor", "--json"]).json();
    let check = json
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "webdriver")
        .unwrap()
        .clone();
    assert_eq!(check["ok"], true);
    assert_eq!(check["warning"], true);
    server.unblock();
}

#[test]
fn a_webdriver_url_is_told_apart_as_chromedriver_or_a_grid_that_is_not_ready() {
    let mut host = WebHost::start();
    let (url, server) = status_stub(serde_json::json!({"value": {
        "ready": true,
        "message": "ChromeDriver ready for new sessions.",
        "build": {"version": "156.0.8078.108"},
    }}));
    host.configure(&format!("webdriver_url = \"{url}\""));
    let run = host.sandbox.run(&["doctor"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "ok   webdriver: {url} is a WebDriver server, ready (version 156.0.8078.108)"
        )),
        "{}",
        run.stdout
    );
    server.unblock();

    let (url, server) = status_stub(serde_json::json!({"value": {
        "ready": false,
        "message": "Selenium Grid not ready.",
        "nodes": [],
    }}));
    host.configure(&format!("webdriver_url = \"{url}\""));
    let run = host.sandbox.run(&["doctor"]);
    let (check, detail) = only_failure(&run);
    assert_eq!(check, "webdriver");
    assert_eq!(
        detail,
        format!(
            "the Selenium Grid at {url} is not ready (\"Selenium Grid not ready.\", 0 nodes); start a node: java -jar selenium-server.jar node --hub {url}"
        )
    );
    server.unblock();
}
