//! Every bad request to `reporter serve` is answered `4xx` with one line
//! saying what to do, and leaves the database as it was.

use crate::support::Sandbox;
use crate::support::api::{ApiServer, user_with_token};

const RESERVATIONS: &str = "/api/reporter/reservations/";

/// A POST with this content type and body, on a connection of its own.
fn post(
    api: &ApiServer,
    token: &str,
    content_type: &str,
    body: &str,
) -> crate::support::api::Reply {
    api.raw(
        format!(
            "POST {RESERVATIONS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

#[test]
fn each_bad_reservation_body_is_answered_4xx_and_changes_nothing() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    sb.run(&["reserve", "alice", "--hour", "2", "--monthly-orders", "300"])
        .ok();
    let api = ApiServer::start(&sb);
    let huge = format!(r#"{{"slot_id": 10, "pad": "{}"}}"#, "x".repeat(20_000));
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        (
            "malformed JSON",
            "application/json",
            r#"{"slot_id": 10"#,
            400,
            "send {",
        ),
        ("not an object", "application/json", "[10]", 400, "send {"),
        ("empty body", "application/json", "", 400, "send {"),
        (
            "unknown field",
            "application/json",
            r#"{"slot_id": 10, "hour": 10}"#,
            400,
            "unknown field `hour`",
        ),
        (
            "missing slot_id",
            "application/json",
            r#"{"monthly_orders_estimate": 5}"#,
            400,
            "missing field `slot_id`",
        ),
        (
            "slot_id as text",
            "application/json",
            r#"{"slot_id": "10"}"#,
            400,
            "invalid type",
        ),
        (
            "slot_id fractional",
            "application/json",
            r#"{"slot_id": 10.5}"#,
            400,
            "invalid type",
        ),
        (
            "estimate as text",
            "application/json",
            r#"{"slot_id": 10, "monthly_orders_estimate": "many"}"#,
            400,
            "invalid type",
        ),
        (
            "hour 24",
            "application/json",
            r#"{"slot_id": 24}"#,
            400,
            "hour 24 is outside 0-23",
        ),
        (
            "hour -1",
            "application/json",
            r#"{"slot_id": -1}"#,
            400,
            "hour -1 is outside 0-23",
        ),
        (
            "negative estimate",
            "application/json",
            r#"{"slot_id": 10, "monthly_orders_estimate": -5}"#,
            400,
            "monthly orders estimate -5 is not valid",
        ),
        (
            "estimate over the limit",
            "application/json",
            r#"{"slot_id": 10, "monthly_orders_estimate": 10000001}"#,
            400,
            "not valid",
        ),
        (
            "estimate beyond 64 bits",
            "application/json",
            r#"{"slot_id": 10, "monthly_orders_estimate": 99999999999999999999999}"#,
            400,
            "send {",
        ),
        (
            "oversized body",
            "application/json",
            &huge,
            413,
            "over 16384 bytes",
        ),
        (
            "plain text",
            "text/plain",
            r#"{"slot_id": 10}"#,
            415,
            "Content-Type: application/json",
        ),
        (
            "form",
            "application/x-www-form-urlencoded",
            "slot_id=10",
            415,
            "Content-Type: application/json",
        ),
    ];
    let before = sb.snapshot();
    for (what, content_type, body, status, says) in cases {
        let reply = post(&api, &alice, content_type, body);
        assert_eq!(reply.status, *status, "{what}: {reply:?}");
        let message = reply.error(*status);
        assert!(
            message.contains(says),
            "{what}: {message:?} should contain {says:?}"
        );
        assert_eq!(before, sb.snapshot(), "{what} changed the database");
    }
    let no_type = api.raw(
        format!(
            "POST {RESERVATIONS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\n\
             Content-Length: 15\r\nConnection: close\r\n\r\n{{\"slot_id\": 10}}"
        )
        .as_bytes(),
    );
    no_type.error(415);
    assert_eq!(
        before,
        sb.snapshot(),
        "a body without a content type changed the database"
    );
    assert!(!api.logged().contains(" 500 ") && !api.logged().contains("status=500"));
}

#[test]
fn unknown_paths_methods_and_query_parameters_are_answered_4xx() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let api = ApiServer::start(&sb);
    let before = sb.snapshot();
    api.get("/api/reporter/nothing/", &alice).error(404);
    api.get("/api/reporter/runs/1/2/", &alice).error(404);
    api.get("/", &alice).error(404);
    let put = api.send("PUT", RESERVATIONS, Some(&alice), Some("{}"));
    assert!(put.error(405).contains("GET, POST, DELETE"));
    assert_eq!(put.header("allow").as_deref(), Some("GET, POST, DELETE"));
    api.send("POST", "/api/reporter/slots/", Some(&alice), Some("{}"))
        .error(405);
    api.send("DELETE", "/healthz", None, None).error(405);
    let unknown = api.get("/api/reporter/slots/?hour=3", &alice).error(400);
    assert!(
        unknown.contains("unknown query parameter `hour`"),
        "{unknown}"
    );
    api.get("/api/reporter/reservations/?user=alice&user=bob", &alice)
        .error(400);
    assert_eq!(before, sb.snapshot());
}

#[test]
fn a_body_that_never_arrives_is_answered_408_and_changes_nothing() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let api = ApiServer::start(&sb);
    let before = sb.snapshot();
    let mut slow = api.connect();
    std::io::Write::write_all(
        &mut slow,
        format!(
            "POST {RESERVATIONS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\n\
             Content-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{{\"slot"
        )
        .as_bytes(),
    )
    .unwrap();
    // Meanwhile others are served.
    api.get("/api/reporter/slots/", &alice).expect(200);
    let reply = crate::support::api::read_reply(&mut slow);
    assert!(reply.error(408).contains("send it at once"), "{reply:?}");
    assert_eq!(before, sb.snapshot());
}
