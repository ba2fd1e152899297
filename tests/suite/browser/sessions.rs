//! A WebDriver server that hands out no session within
//! `browser.session_timeout` (a Grid with every slot taken): the job goes
//! back untried and the slot gives its browser permit back for a while.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::PASSWORDS;
use crate::support::wait_for;
use crate::support::web::{WebCluster, WebSetup};

/// A WebDriver endpoint that takes every `POST /session` and never answers
/// it; anything else gets a 404. Records when each session was asked for.
struct SilentWebDriver {
    url: String,
    asked: Arc<Mutex<Vec<Instant>>>,
}

impl SilentWebDriver {
    fn start() -> SilentWebDriver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let record = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || serve(stream, &record));
            }
        });
        SilentWebDriver { url, asked }
    }

    fn asked(&self) -> Vec<Instant> {
        self.asked.lock().unwrap().clone()
    }
}

/// Reads requests until the client hangs up; holds a new-session request
/// open for as long as the client waits.
fn serve(mut stream: TcpStream, asked: &Mutex<Vec<Instant>>) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
        let text = String::from_utf8_lossy(&request);
        if !text.contains("\r\n\r\n") {
            continue;
        }
        if text.starts_with("POST /session ") {
            asked.lock().unwrap().push(Instant::now());
            // Never answered: wait for the client to give up.
            while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
            return;
        }
        let body = r#"{"value":{"error":"unknown command","message":"","stacktrace":""}}"#;
        let _ = write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        request.clear();
    }
}

#[test]
fn no_session_within_session_timeout_gives_the_permit_back_and_uses_no_retry() {
    let mut cluster = WebCluster::start(WebSetup {
        users: &PASSWORDS[..1],
        portal_flags: &["--orders-per-user", "5"],
        max_active_browsers: 1,
        range_size: 5,
        lease_ttl: 3.0,
        page_timeout: 20.0,
        retries: 1,
    });
    let server = SilentWebDriver::start();
    let session_timeout = Duration::from_secs(2);
    let mut config = std::fs::OpenOptions::new()
        .append(true)
        .open(cluster.sandbox.path("reporter.toml"))
        .unwrap();
    write!(
        config,
        "\n[browser]\nwebdriver_url = \"{}\"\nsession_timeout = {}\n",
        server.url,
        session_timeout.as_secs()
    )
    .unwrap();
    cluster.run_for_users(9);
    let mut redis = cluster.redis.connection();
    let mut held = || {
        redis::cmd("ZCARD")
            .arg("test:permits")
            .query::<i64>(&mut redis)
            .unwrap()
    };
    cluster.spawn_worker("w1", &["--concurrency", "1"]);

    let first = wait_for(
        "the worker to ask for a session",
        Duration::from_secs(60),
        || server.asked().first().copied(),
    );
    assert_eq!(held(), 1, "a session is asked for under a permit");
    wait_for(
        "the permit to be given back",
        session_timeout + Duration::from_secs(5),
        || (held() == 0).then_some(()),
    );
    // The request reaches the fake server a little after the worker's
    // timeout started; on a loaded machine the release takes a moment.
    let released = first.elapsed();
    assert!(
        released >= session_timeout - Duration::from_millis(500)
            && released <= session_timeout + Duration::from_secs(3),
        "the permit was given back {released:?} after the session was asked for"
    );

    // The slot waits a little, then takes a permit and asks again.
    let second = wait_for(
        "the worker to ask for a session again",
        Duration::from_secs(30),
        || server.asked().get(1).copied(),
    );
    assert!(
        second - first >= session_timeout + Duration::from_millis(500),
        "asked again {:?} after the first request",
        second - first
    );
    wait_for("a third request", Duration::from_secs(30), || {
        server.asked().get(2).copied()
    });

    // Three attempts at the job with one retry allowed: none was counted.
    let (failures, failed): (i64, i64) = cluster
        .sandbox
        .conn()
        .query_row(
            "SELECT COALESCE(SUM(failures), 0), COUNT(*) FILTER (WHERE status = 'failed') FROM jobs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((failures, failed), (0, 0), "{}", cluster.worker_log("w1"));
    let log = cluster.worker_log("w1");
    assert!(
        log.contains("no browser session; handing the job back and the browser permit with it"),
        "{log}"
    );
}
