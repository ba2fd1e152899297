//! End to end with real headless Chromium: the sample portal, chromedriver
//! started by each worker, and `reporter work` processes through the binary.

mod flows;
mod grid;
mod import;
mod portal_demands;
mod sessions;
mod single_page;

use std::time::Duration;

use crate::support::wait_for;
use crate::support::web::{
    SamplePortal, WebCluster, WebSetup, files_under, wait_sampling_browsers,
};

const PASSWORDS: [(&str, &str); 3] = [
    ("alice", "Tr0ub4dor-alice-9q"),
    ("bob", "Tr0ub4dor-bob-7w"),
    ("carol", "Tr0ub4dor-carol-3e"),
];

#[test]
fn three_users_with_250_pending_orders_each_are_reported_once_with_at_most_six_browsers() {
    let mut cluster = WebCluster::start(WebSetup {
        users: &PASSWORDS,
        // A few order pages and submits answer HTTP 500: those steps fail,
        // leave a screenshot, and their ranges resume on retry.
        portal_flags: &[
            "--orders-per-user",
            "250",
            "--error-rate",
            "0.004",
            "--seed",
            "7",
        ],
        max_active_browsers: 6,
        range_size: 100,
        lease_ttl: 5.0,
        page_timeout: 20.0,
        retries: 5,
    });
    let run = cluster.run_for_users(9);
    let first = cluster.spawn_worker("w1", &["--until-idle", "--concurrency", "4"]);
    let second = cluster.spawn_worker("w2", &["--until-idle", "--concurrency", "4"]);
    let (code, most) = wait_sampling_browsers(&mut cluster, first, Duration::from_secs(400));
    assert_eq!(code, 0, "w1 failed: {}", cluster.worker_log("w1"));
    let (code, also) = wait_sampling_browsers(&mut cluster, second, Duration::from_secs(60));
    assert_eq!(code, 0, "w2 failed: {}", cluster.worker_log("w2"));

    let most = if also.len() > most.len() { also } else { most };
    assert!(
        most.len() <= 6,
        "{} Chromium browsers at once: {:#?}",
        most.len(),
        most
    );
    assert!(
        most.len() > 1,
        "the run used {} browser at most",
        most.len()
    );
    cluster.assert_every_order_reported_once(750);
    let progress = cluster.progress(run);
    assert_eq!(progress["status"], "done", "{progress}");
    let logins = cluster.portal.stats()["logins"].as_u64().unwrap();
    assert!(logins <= 6, "{logins} logins for 3 users and 2 workers");

    // Steps that failed saved evidence named by run, user, range and order.
    let artifacts = files_under(&cluster.sandbox.path("artifacts"));
    let errors = cluster.portal.stats()["server_errors"].as_u64().unwrap();
    if errors > 0 {
        assert!(
            artifacts
                .iter()
                .any(|p| p.to_string_lossy().contains("/run-1/")
                    && p.to_string_lossy().contains("-order-ORD-")
                    && p.extension().is_some_and(|x| x == "png")),
            "no screenshot among {artifacts:?}"
        );
    }
    assert_secrets_kept(&cluster, &["w1", "w2"], &artifacts);
}

#[test]
fn a_worker_killed_mid_range_and_sessions_expiring_mid_range_lose_and_repeat_no_order() {
    let mut cluster = WebCluster::start(WebSetup {
        users: &PASSWORDS[..2],
        // Every session ends after 40 reports: ranges of 50 see it expire midway.
        portal_flags: &["--orders-per-user", "150", "--expire-after-reports", "40"],
        max_active_browsers: 6,
        range_size: 50,
        lease_ttl: 3.0,
        page_timeout: 20.0,
        retries: 5,
    });
    cluster.run_for_users(9);
    let doomed = cluster.spawn_worker("doomed", &["--concurrency", "3"]);
    wait_for(
        "the first worker to report 60 orders",
        Duration::from_secs(180),
        || (cluster.portal.stats()["reports"].as_u64()? >= 60).then_some(()),
    );
    cluster.kill9(doomed);
    cluster.kill_leftovers();
    let reported_before = cluster.portal.stats()["reports"].as_u64().unwrap();
    assert!(
        reported_before < 300,
        "the first worker finished before it was killed"
    );

    let rescuer = cluster.spawn_worker("rescuer", &["--until-idle", "--concurrency", "3"]);
    let (code, most) = wait_sampling_browsers(&mut cluster, rescuer, Duration::from_secs(300));
    assert_eq!(code, 0, "rescuer failed: {}", cluster.worker_log("rescuer"));
    assert!(
        most.len() <= 3,
        "{} browsers for one worker with concurrency 3: {most:#?}",
        most.len()
    );
    cluster.assert_every_order_reported_once(300);
    let logins = cluster.portal.stats()["logins"].as_u64().unwrap();
    assert!(
        logins > 4,
        "sessions expired, so users logged in again: {logins} logins"
    );
    assert_secrets_kept(&cluster, &["doomed", "rescuer"], &[]);
}

/// Browsers keep sockets open and idle (preconnects, kept-alive
/// connections): a burst of them must not hold up anyone else's requests.
#[test]
fn the_sample_portal_answers_while_many_connections_sit_idle() {
    let dir = tempfile::tempdir().unwrap();
    let portal = SamplePortal::start(dir.path(), &PASSWORDS[..1], &[]);
    for _ in 0..5 {
        let idle: Vec<_> = (0..40)
            .map(|_| std::net::TcpStream::connect(&portal.address).unwrap())
            .collect();
        for _ in 0..3 {
            assert!(portal.stats()["requests"].as_u64().is_some());
        }
        drop(idle);
    }
}

#[test]
fn a_stuck_page_times_out_and_fails_its_step_with_its_evidence_named_in_progress() {
    let mut cluster = WebCluster::start(WebSetup {
        users: &PASSWORDS[..1],
        portal_flags: &["--orders-per-user", "5", "--slow-ms", "4000"],
        max_active_browsers: 6,
        range_size: 100,
        lease_ttl: 3.0,
        page_timeout: 1.0,
        retries: 0,
    });
    let run = cluster.run_for_users(9);
    let worker = cluster.spawn_worker("w", &["--until-idle", "--concurrency", "1"]);
    let code = wait_for("the worker to give up", Duration::from_secs(120), || {
        cluster.exited(worker)
    });
    assert_eq!(code, 0, "{}", cluster.worker_log("w"));
    let progress = cluster.progress(run);
    assert_eq!(progress["status"], "failed", "{progress}");
    let error = progress["users"][0]["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("timeout") || error.contains("within"),
        "{error}"
    );
    // The evidence is named in the error: a screenshot, or why the stuck
    // renderer could not give one (it may not answer while a page hangs).
    match error.split("(screenshot: ").nth(1) {
        Some(rest) => {
            let screenshot = rest.split(", ").next().unwrap();
            assert!(
                std::path::Path::new(screenshot).is_file(),
                "{screenshot} is not a file"
            );
            assert!(screenshot.contains("/run-1/alice/login-"), "{screenshot}");
        }
        None => assert!(error.contains("(no screenshot: "), "{error}"),
    }
    assert_eq!(cluster.browsers().len(), 0, "a browser outlived its worker");
}

/// No password appears in a log, the database or an artifact's name or content.
#[track_caller]
fn assert_secrets_kept(cluster: &WebCluster, logs: &[&str], artifacts: &[std::path::PathBuf]) {
    assert_passwords_kept(cluster, &PASSWORDS, logs, artifacts);
}

/// No password appears in a worker's log, the database (with its WAL), an
/// evidence file's name or an HTML page saved as evidence.
#[track_caller]
fn assert_passwords_kept(
    cluster: &WebCluster,
    passwords: &[(&str, &str)],
    logs: &[&str],
    artifacts: &[std::path::PathBuf],
) {
    let mut haystacks: Vec<(String, Vec<u8>)> = logs
        .iter()
        .map(|id| (format!("{id}.log"), cluster.worker_log(id).into_bytes()))
        .collect();
    for name in ["reporter.db", "reporter.db-wal"] {
        let bytes = std::fs::read(cluster.sandbox.path(name)).unwrap_or_default();
        haystacks.push((name.into(), bytes));
    }
    for path in artifacts {
        haystacks.push((
            path.display().to_string(),
            path.display().to_string().into_bytes(),
        ));
        if path.extension().is_some_and(|x| x == "html") {
            haystacks.push((path.display().to_string(), std::fs::read(path).unwrap()));
        }
    }
    for (_, password) in passwords {
        for (name, bytes) in &haystacks {
            let found = bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes());
            assert!(!found, "a password appears in {name}");
        }
    }
}
