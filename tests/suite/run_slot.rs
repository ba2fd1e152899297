//! `run-slot`: which hour, idempotence, and who takes part.

use crate::support::Sandbox;

fn sandbox_in(zone: &str) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set_env("REPORTER_TIME_ZONE", zone);
    sb.run(&["users", "add", "alice", "--monthly-orders", "100"])
        .ok();
    sb
}

#[test]
fn the_default_hour_is_the_current_hour_in_the_slot_time_zone() {
    let sb = sandbox_in("America/Bogota");
    sb.run(&["reserve", "alice", "--hour", "10"]).ok();
    let run = sb
        .run(&["run-slot", "--now", "2026-11-27T15:59:59Z", "--json"])
        .ok()
        .json();
    assert_eq!(run["hour"], 10);
    assert_eq!(run["scheduled_for"], "2026-11-27T10:00:00-05:00");
    assert_eq!(run["created"], true);
    assert_eq!(run["users"], 1);
}

#[test]
fn an_hour_that_occurs_twice_runs_once() {
    let sb = sandbox_in("Europe/Madrid");
    sb.run(&["reserve", "alice", "--hour", "2"]).ok();
    let first = sb
        .run(&["run-slot", "--now", "2026-10-25T00:00:05Z", "--json"])
        .ok()
        .json();
    let second = sb
        .run(&["run-slot", "--now", "2026-10-25T01:00:05Z", "--json"])
        .ok()
        .json();
    assert_eq!(first["created"], true);
    assert_eq!(second["created"], false);
    assert_eq!(first["run_id"], second["run_id"]);
    assert_eq!(first["scheduled_for"], "2026-10-25T02:00:00+02:00");
}

#[test]
fn an_hour_skipped_by_daylight_saving_runs_with_the_next_hour() {
    let sb = sandbox_in("Europe/Madrid");
    sb.run(&["reserve", "alice", "--hour", "2"]).ok();
    let out = sb
        .run(&["run-slot", "--now", "2026-03-29T01:00:05Z", "--json"])
        .ok();
    assert_eq!(out.json()["hour"], 3);
    assert!(
        out.stderr.contains("hour 2 did not exist today"),
        "{}",
        out.stderr
    );
    let runs = sb.run(&["progress", "--json"]).ok().json();
    let hours: Vec<i64> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["hour"].as_i64().unwrap())
        .collect();
    assert_eq!(hours.len(), 2);
    assert!(hours.contains(&2) && hours.contains(&3));
    let again = sb.run_slot(2, "2026-03-29");
    assert_eq!(again["created"], false);
    assert_eq!(again["users"], 1);
}

#[test]
fn users_reserved_after_the_run_was_created_join_the_next_days_run() {
    let sb = sandbox_in("UTC");
    sb.run(&["reserve", "alice", "--hour", "9"]).ok();
    sb.run_slot(9, "2026-11-27");
    sb.run(&["users", "add", "bob"]).ok();
    sb.run(&["reserve", "bob", "--hour", "9"]).ok();
    let today = sb.run_slot(9, "2026-11-27");
    assert_eq!(today["users"], 1);
    let tomorrow = sb.run_slot(9, "2026-11-28");
    assert_eq!(tomorrow["users"], 2);
}

#[test]
fn users_without_a_reservation_at_that_hour_are_untouched() {
    let sb = sandbox_in("UTC");
    sb.run(&["reserve", "alice", "--hour", "9"]).ok();
    let run = sb.run_slot(8, "2026-11-27");
    assert_eq!(run["users"], 0);
    let progress = sb
        .run(&["progress", &run["run_id"].to_string(), "--json"])
        .ok()
        .json();
    assert_eq!(progress["status"], "done");
    assert_eq!(progress["users"], serde_json::json!([]));
}

#[test]
fn run_slot_refuses_a_bad_hour_or_date() {
    let sb = sandbox_in("UTC");
    sb.refused_unchanged(
        &["run-slot", "--hour", "24"],
        "hour 24 is outside 0-23; give the hour of the day the slot starts",
    );
    sb.refused_unchanged(
        &["run-slot", "--hour", "3", "--date", "2026-02-30"],
        "date `2026-02-30` is not valid; use YYYY-MM-DD, e.g. 2026-11-27",
    );
}

#[test]
fn progress_of_an_unknown_run_is_refused() {
    let sb = sandbox_in("UTC");
    sb.refused_unchanged(
        &["progress", "42"],
        "run 42 does not exist; list runs with `reporter progress`",
    );
}

#[test]
fn work_with_redis_down_fails_with_a_hint() {
    let mut sb = sandbox_in("UTC");
    // A socket nobody listens on: nothing else can take it meanwhile.
    let url = format!("redis+unix://{}", sb.path("redis.sock").display());
    sb.set_env("REPORTER_REDIS_URL", &url);
    let run = sb.run(&["work", "--until-idle"]);
    assert_eq!(run.code, 1);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("error: cannot reach Redis at {url}: ")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_timer_catching_up_a_missed_hour_runs_the_current_hour_once_and_no_hour_twice() {
    let sb = sandbox_in("UTC");
    sb.run(&["reserve", "alice", "--hour", "9"]).ok();
    let nine = sb
        .run(&["run-slot", "--now", "2026-11-27T09:00:20Z", "--json"])
        .ok()
        .json();
    assert_eq!(nine["created"], true);
    // The host was down from 09:30 to 11:10; Persistent=true fires once at boot.
    let again_nine = sb
        .run(&["run-slot", "--now", "2026-11-27T09:59:59Z", "--json"])
        .ok()
        .json();
    assert_eq!(
        again_nine["created"], false,
        "an hour already run is not run again"
    );
    let boot = sb
        .run(&["run-slot", "--now", "2026-11-27T11:10:00Z", "--json"])
        .ok()
        .json();
    assert_eq!(boot["created"], true);
    assert_eq!(boot["hour"], 11);
    let later = sb
        .run(&["run-slot", "--now", "2026-11-27T11:59:00Z", "--json"])
        .ok()
        .json();
    assert_eq!(later["created"], false);
    assert_eq!(
        sb.run(&["progress", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
