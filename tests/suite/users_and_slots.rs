use crate::support::Sandbox;

#[test]
fn users_can_be_added_listed_and_removed() {
    let sb = Sandbox::new();
    sb.run(&[
        "users",
        "add",
        "alice",
        "--login",
        "alice@example.com",
        "--monthly-orders",
        "1200",
    ])
    .ok();
    sb.run(&["users", "add", "bob"]).ok();
    let list = sb.run(&["users", "list", "--json"]).ok().json();
    assert_eq!(
        list,
        serde_json::json!([
            {"name": "alice", "login": "alice@example.com", "monthly_orders_estimate": 1200},
            {"name": "bob", "login": "bob", "monthly_orders_estimate": 0}
        ])
    );
    sb.run(&["reserve", "bob", "--hour", "3"]).ok();
    let out = sb.run(&["users", "remove", "bob"]).ok();
    assert!(out.stdout.contains("removed user `bob`"), "{}", out.stdout);
    assert_eq!(
        sb.run(&["users", "list", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        sb.run(&["reservations", "--json"]).ok().json(),
        serde_json::json!([])
    );
}

#[test]
fn the_users_table_shows_every_user() {
    let sb = Sandbox::new();
    sb.run(&["users", "add", "alice", "--monthly-orders", "1200"])
        .ok();
    let out = sb.run(&["users", "list"]).ok();
    assert!(
        out.stdout.contains("alice") && out.stdout.contains("1200"),
        "{}",
        out.stdout
    );
}

#[test]
fn slots_lists_24_hours_with_their_load_and_estimated_pending_orders() {
    let sb = Sandbox::new();
    sb.run(&["users", "add", "alice", "--monthly-orders", "1400"])
        .ok();
    sb.run(&["users", "add", "bob", "--monthly-orders", "816"])
        .ok();
    sb.run(&["reserve", "alice", "--hour", "10"]).ok();
    sb.run(&["reserve", "bob", "--hour", "10"]).ok();
    let slots = sb.run(&["slots", "--json"]).ok().json();
    let slots = slots.as_array().unwrap();
    assert_eq!(slots.len(), 24);
    assert_eq!(
        slots[10],
        serde_json::json!({"hour": 10, "max_users": 5, "current_users": 2, "available": 3,
                           "estimated_pending_orders": 112 + 66})
    );
    assert_eq!(slots[0]["current_users"], 0);
    let table = sb.run(&["slots"]).ok().stdout;
    assert!(table.contains("10:00") && table.contains("178"), "{table}");
}

#[test]
fn the_pending_factor_comes_from_the_environment() {
    let mut sb = Sandbox::new();
    sb.run(&["users", "add", "alice", "--monthly-orders", "1000"])
        .ok();
    sb.run(&["reserve", "alice", "--hour", "1"]).ok();
    sb.set_env("REPORTER_ESTIMATED_PENDING_FACTOR", "0.5");
    let slots = sb.run(&["slots", "--json"]).ok().json();
    assert_eq!(slots[1]["estimated_pending_orders"], 500);
}

#[test]
fn a_slots_capacity_can_be_raised_and_lowered_to_its_current_users() {
    let sb = Sandbox::new();
    sb.run(&["users", "add", "alice"]).ok();
    sb.run(&["reserve", "alice", "--hour", "7"]).ok();
    sb.run(&["slots", "set", "7", "--max-users", "9"]).ok();
    sb.run(&["slots", "set", "7", "--max-users", "1"]).ok();
    let slots = sb.run(&["slots", "--json"]).ok().json();
    assert_eq!(slots[7]["max_users"], 1);
    assert_eq!(slots[7]["available"], 0);
}

#[test]
fn lowering_a_slot_below_its_users_is_refused_with_the_users_to_move() {
    let sb = Sandbox::new();
    for name in ["carol", "alice", "bob"] {
        sb.run(&["users", "add", name]).ok();
        sb.run(&["reserve", name, "--hour", "9"]).ok();
    }
    sb.refused_unchanged(
        &["slots", "set", "9", "--max-users", "1"],
        "slot 9 holds 3 users, more than 1; move or cancel 2 of: alice, bob, carol \
         (`reporter reserve USER --hour H` or `reporter cancel USER`)",
    );
}
