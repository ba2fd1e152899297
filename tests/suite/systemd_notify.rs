//! `work` speaks the systemd notify protocol to a socket the test opens.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::support::cluster::{Cluster, Setup};

/// Reads datagrams until one satisfies `want`, returning everything read.
fn read_until(
    socket: &UnixDatagram,
    limit: Duration,
    mut want: impl FnMut(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = want(&message);
            seen.push(message);
            if done {
                return seen;
            }
        }
    }
    panic!("timed out; received {seen:?}");
}

#[test]
fn work_sends_ready_watchdog_pings_status_and_stopping_on_sigterm() {
    let mut cluster = Cluster::start(Setup::default());
    let path = cluster.sandbox.path("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    cluster
        .sandbox
        .set_env("NOTIFY_SOCKET", path.to_str().unwrap());
    cluster.sandbox.set_env("WATCHDOG_USEC", "400000");
    let worker = cluster.spawn_worker("notified", &["--concurrency", "2"]);
    // Generous windows: on a loaded machine a new worker can take seconds to
    // start, and the test asks only that the messages come.
    let first = read_until(&socket, Duration::from_secs(30), |m| m == "READY=1");
    assert_eq!(first.last().unwrap(), "READY=1");
    let mut pings = 0;
    let seen = read_until(&socket, Duration::from_secs(30), |m| {
        if m == "WATCHDOG=1" {
            pings += 1;
        }
        pings >= 3
    });
    let status = seen
        .iter()
        .find(|m| m.starts_with("STATUS="))
        .expect("a STATUS= line");
    assert!(status.contains("of 6 browser permits held"), "{status}");
    cluster.signal(worker, "TERM");
    read_until(&socket, Duration::from_secs(30), |m| m == "STOPPING=1");
    assert_eq!(cluster.wait_worker(worker, Duration::from_secs(30)), 0);
}
