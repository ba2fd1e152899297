//! `reporter serve` through real HTTP: every endpoint, who may see what, and
//! the API and the CLI agreeing on one database.

use std::thread;

use serde_json::json;

use crate::support::Sandbox;
use crate::support::api::{ApiServer, token, user_with_token};
use crate::support::redis_server::RedisServer;

#[test]
fn a_user_lists_the_hours_reserves_one_reads_it_back_and_cancels_it() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let api = ApiServer::start(&sb);
    let slots = api.get("/api/reporter/slots/", &alice).expect(200);
    assert_eq!(slots.as_array().unwrap().len(), 24);
    assert_eq!(
        slots[10],
        json!({"slot_id": 10, "hour": 10, "max_users": 5, "current_users": 0,
               "available": 5, "estimated_pending_orders": 0})
    );
    assert_eq!(
        api.get("/api/reporter/reservations/", &alice).expect(200),
        json!(null)
    );
    let body = r#"{"slot_id": 10, "monthly_orders_estimate": 1200}"#;
    let made = api
        .send(
            "POST",
            "/api/reporter/reservations/",
            Some(&alice),
            Some(body),
        )
        .expect(201);
    assert_eq!(made["slot_id"], 10);
    assert_eq!(made["current_users"], 1);
    assert_eq!(
        api.get("/api/reporter/reservations/", &alice).expect(200),
        json!({"user": "alice", "slot_id": 10, "hour": 10, "monthly_orders_estimate": 1200})
    );
    let slots = api.get("/api/reporter/slots/", &alice).expect(200);
    assert_eq!(slots[10]["current_users"], 1);
    assert_eq!(slots[10]["estimated_pending_orders"], 96);
    let moved = api
        .send(
            "POST",
            "/api/reporter/reservations/",
            Some(&alice),
            Some(r#"{"slot_id": 11}"#),
        )
        .expect(201);
    assert_eq!(moved["moved"], true);
    assert_eq!(moved["previous_hour"], 10);
    api.send("DELETE", "/api/reporter/reservations/", Some(&alice), None)
        .expect(204);
    let again = api.send("DELETE", "/api/reporter/reservations/", Some(&alice), None);
    assert_eq!(
        again.error(404),
        "`alice` holds no reservation; nothing to cancel"
    );
    assert_eq!(sb.run(&["reservations", "--json"]).ok().json(), json!([]));
}

#[test]
fn a_user_follows_their_runs_and_their_progress_in_one() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let api = ApiServer::start(&sb);
    assert_eq!(
        api.get("/api/reporter/runs/", &alice).expect(200),
        json!([])
    );
    api.send(
        "POST",
        "/api/reporter/reservations/",
        Some(&alice),
        Some(r#"{"slot_id": 7}"#),
    )
    .expect(201);
    let run = sb.run_slot(7, "2026-11-27");
    let run_id = run["run_id"].as_i64().unwrap();
    let runs = api.get("/api/reporter/runs/", &alice).expect(200);
    assert_eq!(runs[0]["run_id"], run_id);
    assert_eq!(runs[0]["status"], "queued");
    let progress = api
        .get(&format!("/api/reporter/runs/{run_id}/progress/"), &alice)
        .expect(200);
    assert_eq!(progress["run_id"], run_id);
    assert_eq!(progress["users"].as_array().unwrap().len(), 1);
    let mine = &progress["users"][0];
    assert_eq!(mine["user"], "alice");
    assert_eq!(mine["status"], "queued");
    for key in [
        "ranges_total",
        "ranges_completed",
        "orders_reported",
        "orders_failed",
        "error",
    ] {
        assert!(mine.get(key).is_some(), "{key} missing from {mine}");
    }
    let cli = sb
        .run(&["progress", &run_id.to_string(), "--json"])
        .ok()
        .json();
    assert_eq!(cli["users"][0]["status"], mine["status"]);
    api.get("/api/reporter/runs/999/progress/", &alice)
        .error(404);
    api.get("/api/reporter/runs/x/progress/", &alice).error(404);
}

#[test]
fn a_request_without_a_valid_token_is_answered_401() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let api = ApiServer::start(&sb);
    let none = api.send("GET", "/api/reporter/slots/", None, None);
    assert!(none.error(401).contains("Authorization: Bearer TOKEN"));
    assert_eq!(none.header("www-authenticate").as_deref(), Some("Bearer"));
    let wrong = "rpt_0000000000000000000000000000000000000000000000000000000000000000";
    for path in ["slots/", "reservations/", "runs/", "runs/1/progress/"] {
        api.get(&format!("/api/reporter/{path}"), wrong).error(401);
        // The token is checked before anything else is judged.
        api.get(&format!("/api/reporter/{path}?bad=1"), wrong)
            .error(401);
    }
    api.send(
        "POST",
        "/api/reporter/reservations/?bad=1",
        Some(wrong),
        Some("{"),
    )
    .error(401);
    let basic = api.raw(
        b"GET /api/reporter/slots/ HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6eA==\r\nConnection: close\r\n\r\n",
    );
    basic.error(401);
    // The scheme is case-insensitive (RFC 9110); the token is not.
    let lower = format!(
        "GET /api/reporter/slots/ HTTP/1.1\r\nHost: x\r\nAuthorization: bearer {alice}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(api.raw(lower.as_bytes()).status, 200);
    api.get("/api/reporter/slots/", &alice.to_uppercase())
        .error(401);
}

#[test]
fn a_revoked_token_is_refused_from_the_next_request_on() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let api = ApiServer::start(&sb);
    api.get("/api/reporter/reservations/", &alice).expect(200);
    let listed = sb.run(&["tokens", "list", "--json"]).ok().json();
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    sb.run(&["tokens", "revoke", &id]).ok();
    api.get("/api/reporter/reservations/", &alice).error(401);
}

#[test]
fn a_removed_users_token_is_refused_and_gone_from_the_list() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let api = ApiServer::start(&sb);
    api.get("/api/reporter/reservations/", &alice).expect(200);
    sb.run(&["users", "remove", "alice"]).ok();
    api.get("/api/reporter/reservations/", &alice).error(401);
    assert_eq!(sb.run(&["tokens", "list", "--json"]).ok().json(), json!([]));
}

#[test]
fn a_user_can_neither_read_nor_change_another_users_reservation_or_runs() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let bob = user_with_token(&sb, "bob");
    let api = ApiServer::start(&sb);
    api.send(
        "POST",
        "/api/reporter/reservations/",
        Some(&bob),
        Some(r#"{"slot_id": 3}"#),
    )
    .expect(201);
    let run = sb.run_slot(3, "2026-11-27");
    let before = sb.snapshot();
    let unknown = api
        .get("/api/reporter/reservations/?user=nobody", &alice)
        .error(404);
    let other = api
        .get("/api/reporter/reservations/?user=bob", &alice)
        .error(404);
    assert_eq!(
        other.replace("bob", "X"),
        unknown.replace("nobody", "X"),
        "another user's name must look like one that does not exist"
    );
    api.send(
        "DELETE",
        "/api/reporter/reservations/?user=bob",
        Some(&alice),
        None,
    )
    .error(404);
    api.send(
        "POST",
        "/api/reporter/reservations/?user=bob",
        Some(&alice),
        Some(r#"{"slot_id": 4}"#),
    )
    .error(404);
    api.get("/api/reporter/runs/?user=bob", &alice).error(404);
    assert_eq!(
        api.get("/api/reporter/runs/", &alice).expect(200),
        json!([])
    );
    let progress = format!("/api/reporter/runs/{}/progress/", run["run_id"]);
    api.get(&progress, &alice).error(404);
    assert_eq!(
        api.get(&progress, &bob).expect(200)["users"][0]["user"],
        "bob"
    );
    assert_eq!(before, sb.snapshot(), "alice changed the database");
}

#[test]
fn an_admin_token_acts_for_any_user_and_reads_every_run() {
    let sb = Sandbox::new();
    user_with_token(&sb, "alice");
    sb.run(&["users", "add", "bob"]).ok();
    let admin = token(&sb, &["tokens", "add", "--admin", "ops"]);
    let api = ApiServer::start(&sb);
    let refused = api.get("/api/reporter/reservations/", &admin).error(400);
    assert!(refused.contains("?user=NAME"), "{refused}");
    api.send(
        "POST",
        "/api/reporter/reservations/?user=bob",
        Some(&admin),
        Some(r#"{"slot_id": 5}"#),
    )
    .expect(201);
    assert_eq!(
        api.get("/api/reporter/reservations/?user=bob", &admin)
            .expect(200)["hour"],
        5
    );
    api.get("/api/reporter/reservations/?user=carol", &admin)
        .error(404);
    sb.run_slot(5, "2026-11-27");
    sb.run_slot(6, "2026-11-27");
    assert_eq!(
        api.get("/api/reporter/runs/", &admin)
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        api.get("/api/reporter/runs/?user=bob", &admin)
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get("/api/reporter/runs/?user=alice", &admin)
            .expect(200),
        json!([])
    );
}

#[test]
fn a_full_hour_is_answered_409_with_the_clis_message() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    sb.run(&["users", "add", "bob"]).ok();
    sb.run(&["slots", "set", "4", "--max-users", "1"]).ok();
    sb.run(&["reserve", "bob", "--hour", "4"]).ok();
    let api = ApiServer::start(&sb);
    let before = sb.snapshot();
    let full = api
        .send(
            "POST",
            "/api/reporter/reservations/",
            Some(&alice),
            Some(r#"{"slot_id": 4}"#),
        )
        .error(409);
    assert_eq!(
        full,
        "slot 4 is full (1 of 1); pick another hour with `reporter slots`"
    );
    assert_eq!(before, sb.snapshot());
}

#[test]
fn a_reservation_made_by_the_cli_or_the_api_is_seen_by_the_other() {
    let sb = Sandbox::new();
    let alice = user_with_token(&sb, "alice");
    let bob = user_with_token(&sb, "bob");
    let api = ApiServer::start(&sb);
    sb.run(&["reserve", "alice", "--hour", "8", "--monthly-orders", "500"])
        .ok();
    assert_eq!(
        api.get("/api/reporter/reservations/", &alice).expect(200),
        json!({"user": "alice", "slot_id": 8, "hour": 8, "monthly_orders_estimate": 500})
    );
    assert_eq!(
        api.get("/api/reporter/slots/", &bob).expect(200)[8]["current_users"],
        1
    );
    api.send(
        "POST",
        "/api/reporter/reservations/",
        Some(&bob),
        Some(r#"{"slot_id": 9, "monthly_orders_estimate": 700}"#),
    )
    .expect(201);
    assert_eq!(
        sb.run(&["reservations", "bob", "--json"]).ok().json(),
        json!([{"user": "bob", "hour": 9, "monthly_orders_estimate": 700}])
    );
    sb.run(&["cancel", "alice"]).ok();
    assert_eq!(
        api.get("/api/reporter/reservations/", &alice).expect(200),
        json!(null)
    );
    assert_eq!(
        api.get("/api/reporter/slots/", &bob).expect(200)[8]["current_users"],
        0
    );
}

#[test]
fn fifty_concurrent_posts_fill_an_hour_of_ten_exactly() {
    let sb = Sandbox::new();
    sb.run(&["slots", "set", "10", "--max-users", "10"]).ok();
    let tokens: Vec<String> = (0..50)
        .map(|i| user_with_token(&sb, &format!("user{i}")))
        .collect();
    let api = ApiServer::start(&sb);
    let replies: Vec<_> = thread::scope(|scope| {
        let api = &api;
        let posts: Vec<_> = tokens
            .iter()
            .map(|token| {
                scope.spawn(move || {
                    api.send(
                        "POST",
                        "/api/reporter/reservations/",
                        Some(token),
                        Some(r#"{"slot_id": 10}"#),
                    )
                })
            })
            .collect();
        posts.into_iter().map(|post| post.join().unwrap()).collect()
    });
    let created = replies.iter().filter(|r| r.status == 201).count();
    let full = replies.iter().filter(|r| r.status == 409).count();
    assert_eq!((created, full), (10, 40), "{replies:?}");
    for reply in replies.iter().filter(|r| r.status == 409) {
        assert_eq!(
            reply.error(409),
            "slot 10 is full (10 of 10); pick another hour with `reporter slots`"
        );
    }
    assert!(!api.logged().contains("locked"), "{}", api.logged());
    let slots = api.get("/api/reporter/slots/", &tokens[0]).expect(200);
    assert_eq!(slots[10]["current_users"], 10);
    assert_eq!(slots[10]["available"], 0);
}

#[test]
fn healthz_checks_the_database_and_redis_and_metrics_match_the_cli() {
    let redis = RedisServer::start();
    let mut sb = Sandbox::new();
    sb.set_env("REPORTER_REDIS_URL", &redis.url());
    let api = ApiServer::start(&sb);
    let health = api.send("GET", "/healthz", None, None).expect(200);
    assert_eq!(
        health,
        json!({"status": "ok", "database": "ok", "redis": "ok"})
    );
    let page = api.send("GET", "/metrics", None, None);
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let cli = sb.run(&["metrics"]).ok().stdout;
    // The same page but for the moment each was made (and the free space
    // of a disk that other programs write to).
    let timeless = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with("reporter_metrics_timestamp_seconds "))
            .filter(|l| !l.starts_with("reporter_database_free_bytes{"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(timeless(&page.body), timeless(&cli));
    assert!(page.body.contains("reporter_redis_up 1"), "{}", page.body);
    drop(redis);
    let failing = api.send("GET", "/healthz", None, None).expect(503);
    assert_eq!(failing["database"], "ok");
    assert_ne!(failing["redis"], "ok");
}
