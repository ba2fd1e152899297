use std::process::Stdio;

use crate::support::{Sandbox, to_run};

#[test]
fn a_reservation_is_made_listed_and_cancelled() {
    let sb = Sandbox::new();
    sb.run(&["users", "add", "alice", "--monthly-orders", "100"])
        .ok();
    let out = sb
        .run(&[
            "reserve",
            "alice",
            "--hour",
            "10",
            "--monthly-orders",
            "1200",
        ])
        .ok();
    assert_eq!(out.stdout, "reserved 10:00 for `alice` (1 of 5 taken)\n");
    assert_eq!(
        sb.run(&["reservations", "alice", "--json"]).ok().json(),
        serde_json::json!([{"user": "alice", "hour": 10, "monthly_orders_estimate": 1200}])
    );
    let out = sb.run(&["cancel", "alice"]).ok();
    assert_eq!(out.stdout, "cancelled `alice`'s reservation of 10:00\n");
    assert_eq!(
        sb.run(&["reservations", "--json"]).ok().json(),
        serde_json::json!([])
    );
}

#[test]
fn reserving_another_hour_moves_the_reservation_and_says_so() {
    let sb = Sandbox::new();
    sb.run(&["users", "add", "alice"]).ok();
    sb.run(&["reserve", "alice", "--hour", "10"]).ok();
    let out = sb.run(&["reserve", "alice", "--hour", "11"]).ok();
    assert_eq!(
        out.stdout,
        "moved `alice` from 10:00 to 11:00 (1 of 5 taken)\n"
    );
    let moved = sb
        .run(&["reserve", "alice", "--hour", "12", "--json"])
        .ok()
        .json();
    assert_eq!(moved["moved"], true);
    assert_eq!(moved["previous_hour"], 11);
    let slots = sb.run(&["slots", "--json"]).ok().json();
    assert_eq!(slots[10]["current_users"], 0);
    assert_eq!(slots[11]["current_users"], 0);
    assert_eq!(slots[12]["current_users"], 1);
}

#[test]
fn a_move_into_a_full_slot_is_refused_and_the_old_reservation_kept() {
    let sb = Sandbox::new();
    sb.run(&["users", "add", "alice"]).ok();
    sb.run(&["users", "add", "bob"]).ok();
    sb.run(&["slots", "set", "4", "--max-users", "1"]).ok();
    sb.run(&["reserve", "alice", "--hour", "4"]).ok();
    sb.run(&["reserve", "bob", "--hour", "5"]).ok();
    sb.refused_unchanged(
        &["reserve", "bob", "--hour", "4"],
        "slot 4 is full (1 of 1); `bob` keeps hour 5; pick another hour with `reporter slots`",
    );
}

#[test]
fn reserving_the_same_hour_again_keeps_it_and_updates_the_estimate() {
    let sb = Sandbox::new();
    sb.run(&["users", "add", "alice"]).ok();
    sb.run(&["slots", "set", "4", "--max-users", "1"]).ok();
    sb.run(&["reserve", "alice", "--hour", "4"]).ok();
    let out = sb
        .run(&["reserve", "alice", "--hour", "4", "--monthly-orders", "50"])
        .ok();
    assert_eq!(out.stdout, "`alice` already holds 04:00 (1 of 1 taken)\n");
    assert_eq!(
        sb.run(&["users", "list", "--json"]).ok().json()[0]["monthly_orders_estimate"],
        50
    );
}

#[test]
fn fifty_racing_reserve_processes_fill_a_slot_of_ten_exactly() {
    let sb = Sandbox::new();
    sb.run(&["slots", "set", "10", "--max-users", "10"]).ok();
    {
        let mut conn = sb.conn();
        let tx = conn.transaction().unwrap();
        for i in 0..50 {
            tx.execute(
                "INSERT INTO users (name, login, monthly_orders_estimate, created_at) VALUES (?1, ?1, 0, 0)",
                [format!("user{i}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let children: Vec<_> = (0..50)
        .map(|i| {
            sb.command(&["reserve", &format!("user{i}"), "--hour", "10"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn reserve")
        })
        .collect();
    let runs: Vec<_> = children
        .into_iter()
        .map(|c| to_run(c.wait_with_output().unwrap()))
        .collect();
    let succeeded = runs.iter().filter(|r| r.code == 0).count();
    assert_eq!(succeeded, 10, "exactly the capacity succeeds");
    for run in runs.iter().filter(|r| r.code != 0) {
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(
            run.stderr.starts_with("error: slot 10 is full (10 of 10)"),
            "{}",
            run.stderr
        );
    }
    assert!(
        runs.iter().all(|r| !r.stderr.contains("locked")),
        "a process saw `database is locked`"
    );
    let count: i64 = sb
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM reservations WHERE hour = 10",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(count, 10);
}
