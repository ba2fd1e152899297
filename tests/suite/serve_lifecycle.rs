//! `reporter serve` as systemd runs it: a socket handed over, the notify
//! protocol, SIGTERM answering what is in flight, slow clients cut off, and
//! request logs without tokens.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::api::{ApiServer, read_reply, user_with_token};
use crate::support::free_port;
use crate::support::{Sandbox, on_path, wait_for};

/// Reads notify datagrams until `want` arrives; returns everything read.
fn read_until(socket: &UnixDatagram, want: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = message == want;
            seen.push(message);
            if done {
                return seen;
            }
        }
    }
    panic!("timed out waiting for {want}; received {seen:?}");
}

#[test]
fn serve_pings_the_watchdog_and_on_sigterm_answers_the_request_in_flight_then_exits_0() {
    let mut sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let notify = sb.path("notify.sock");
    let socket = UnixDatagram::bind(&notify).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    sb.set_env("NOTIFY_SOCKET", notify.to_str().unwrap());
    sb.set_env("WATCHDOG_USEC", "400000");
    sb.set_env("RUST_LOG", "reporter=debug");
    let mut api = ApiServer::start(&sb);
    let ready = read_until(&socket, "READY=1");
    assert!(
        ready
            .iter()
            .any(|m| m.starts_with("STATUS=listening on 127.0.0.1:")),
        "{ready:?}"
    );
    read_until(&socket, "WATCHDOG=1");
    // Head and half the body now; the rest after SIGTERM.
    let body = r#"{"slot_id": 6}"#;
    let mut stream = api.connect();
    write!(
        stream,
        "POST /api/reporter/reservations/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..5]
    )
    .unwrap();
    wait_for(
        "the server to read the body",
        Duration::from_secs(20),
        || {
            api.logged()
                .contains("reading the request body")
                .then_some(())
        },
    );
    api.signal("TERM");
    read_until(&socket, "STOPPING=1");
    stream.write_all(&body.as_bytes()[5..]).unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(
        api.wait_exit(Duration::from_secs(30)),
        0,
        "{}",
        api.logged()
    );
    assert_eq!(
        sb.run(&["reservations", "alice", "--json"]).ok().json()[0]["hour"],
        6
    );
}

#[test]
fn started_by_socket_activation_it_serves_on_the_socket_systemd_passed() {
    assert!(
        on_path("systemd-socket-activate"),
        "systemd-socket-activate is missing; install it with `apt-get install systemd`"
    );
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let port = free_port();
    // systemd-socket-activate passes on only the environment given with -E.
    let mut command = Command::new("systemd-socket-activate");
    command.args(["-l", &format!("127.0.0.1:{port}")]);
    for (key, value) in sb.command(&[]).get_envs() {
        if let Some(value) = value {
            let pair = format!("{}={}", key.to_string_lossy(), value.to_string_lossy());
            command.args(["-E", &pair]);
        }
    }
    command.args([crate::support::binary(), "serve", "--listen", "127.0.0.1:1"]);
    let mut api = ApiServer::spawn(&mut command, port, sb.path("activated.log"));
    api.wait_until_accepting();
    let slots = api.get("/api/reporter/slots/", &alice).expect(200);
    assert_eq!(slots.as_array().unwrap().len(), 24);
    api.signal("TERM");
    assert_eq!(
        api.wait_exit(Duration::from_secs(30)),
        0,
        "{}",
        api.logged()
    );
}

#[test]
fn a_client_that_never_finishes_its_request_head_is_cut_off_while_others_are_served() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let api = ApiServer::start(&sb);
    let mut stuck = api.connect();
    stuck
        .write_all(b"GET /api/reporter/slots/ HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    api.get("/api/reporter/slots/", &alice).expect(200);
    // The server closes the connection (with or without a 408) once the head timeout passes.
    let mut rest = Vec::new();
    let closed = std::io::Read::read_to_end(&mut stuck, &mut rest);
    assert!(
        closed.is_ok(),
        "the stuck connection was never closed: {closed:?}"
    );
    let said = String::from_utf8_lossy(&rest);
    assert!(
        said.is_empty() || said.starts_with("HTTP/1.1 408"),
        "{said}"
    );
}

#[test]
fn request_logs_name_the_user_and_never_the_token() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let api = ApiServer::start(&sb);
    api.get("/api/reporter/reservations/", &alice).expect(200);
    api.get("/api/reporter/reservations/", "rpt_wrong")
        .error(401);
    let logged = wait_for("two request lines", Duration::from_secs(10), || {
        let logged = api.logged();
        (logged.matches("request").count() >= 2).then_some(logged)
    });
    assert!(
        logged.contains("path=\"/api/reporter/reservations/\""),
        "{logged}"
    );
    assert!(
        logged.contains("status=200") && logged.contains("user=\"alice\""),
        "{logged}"
    );
    assert!(
        logged.contains("status=401") && logged.contains("duration_ms="),
        "{logged}"
    );
    assert!(
        !logged.contains(&alice) && !logged.contains("rpt_"),
        "{logged}"
    );
}

#[test]
fn a_bad_listen_address_is_refused_naming_the_flag_or_the_key() {
    let mut sb = Sandbox::new();
    sb.refused_unchanged(
        &["serve", "--listen", "localhost"],
        "--listen `localhost`: give an IP address and port, like 127.0.0.1:8080 or [::1]:8080",
    );
    let config = sb.config("[serve]\nlisten = \"8080\"\n");
    sb.refused_unchanged(
        &["serve"],
        &format!(
            "config file `{}`: `serve.listen` = 8080 is not valid: give an IP address and port, like 127.0.0.1:8080 or [::1]:8080",
            config.display()
        ),
    );
}

#[test]
fn an_address_already_in_use_fails_saying_how_to_pick_another() {
    let sb = Sandbox::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = sb.run(&["serve", "--listen", &address]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(&format!(
            "error: cannot listen on {address}; pick a free address with --listen or serve.listen"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn a_flood_of_connections_that_send_nothing_does_not_shut_a_normal_client_out() {
    let mut sb = Sandbox::new();
    sb.set_env("REPORTER_REDIS_URL", "redis://127.0.0.1:1/");
    let api = ApiServer::start(&sb);
    // More idle connections than the server serves at once (512).
    let idle: Vec<_> = (0..700).map(|_| api.connect()).collect();
    // Let the server accept what it will of them.
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let mut stream = api.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(
            b"GET /api/reporter/slots/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!(reply.status, 401, "an answer, not a hang: {}", reply.body);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "answered after {:?} behind {} idle connections",
        asked.elapsed(),
        idle.len()
    );
    drop(idle);
}
