//! Bad input gets one line that says what to do, exit 2, and no change.

use crate::support::Sandbox;

fn with_alice() -> Sandbox {
    let sb = Sandbox::new();
    sb.run(&["users", "add", "alice", "--monthly-orders", "10"])
        .ok();
    sb
}

#[test]
fn an_unknown_user_is_refused_by_every_command_that_names_one() {
    let sb = with_alice();
    let msg = "user `zoe` does not exist; add it with `reporter users add zoe` or see `reporter users list`";
    sb.refused_unchanged(&["reserve", "zoe", "--hour", "3"], msg);
    sb.refused_unchanged(&["cancel", "zoe"], msg);
    sb.refused_unchanged(&["reservations", "zoe"], msg);
    sb.refused_unchanged(&["users", "remove", "zoe"], msg);
}

#[test]
fn a_duplicate_user_is_refused() {
    let sb = with_alice();
    sb.refused_unchanged(
        &["users", "add", "alice"],
        "user `alice` already exists; see `reporter users list`",
    );
}

#[test]
fn a_bad_user_name_is_refused() {
    let sb = with_alice();
    sb.refused_unchanged(
        &["users", "add", "a b"],
        "user name `a b` is not valid; use 1 to 128 letters, digits and . _ @ + -",
    );
}

#[test]
fn an_hour_outside_the_day_is_refused() {
    let sb = with_alice();
    for hour in ["24", "-1"] {
        let msg = format!("hour {hour} is outside 0-23; give the hour of the day the slot starts");
        sb.refused_unchanged(&["reserve", "alice", "--hour", hour], &msg);
        sb.refused_unchanged(&["slots", "set", hour, "--max-users", "3"], &msg);
    }
}

#[test]
fn a_negative_or_absurd_estimate_is_refused() {
    let sb = with_alice();
    for n in ["-5", "10000001"] {
        let msg = format!(
            "monthly orders estimate {n} is not valid; give a whole number from 0 to 10000000"
        );
        sb.refused_unchanged(
            &["reserve", "alice", "--hour", "3", "--monthly-orders", n],
            &msg,
        );
        sb.refused_unchanged(&["users", "add", "bob", "--monthly-orders", n], &msg);
    }
}

#[test]
fn a_full_slot_is_refused() {
    let sb = with_alice();
    sb.run(&["slots", "set", "6", "--max-users", "0"]).ok();
    sb.refused_unchanged(
        &["reserve", "alice", "--hour", "6"],
        "slot 6 is full (0 of 0); pick another hour with `reporter slots`",
    );
}

#[test]
fn a_negative_capacity_is_refused() {
    let sb = with_alice();
    sb.refused_unchanged(
        &["slots", "set", "6", "--max-users", "-1"],
        "capacity -1 is not valid; give a whole number from 0 to 100000",
    );
}

#[test]
fn cancelling_without_a_reservation_is_refused() {
    let sb = with_alice();
    sb.refused_unchanged(
        &["cancel", "alice"],
        "user `alice` holds no reservation; nothing to cancel (see `reporter reservations`)",
    );
}

#[test]
fn a_missing_argument_is_one_line_that_points_at_help() {
    let sb = with_alice();
    sb.refused_unchanged(
        &["reserve", "alice"],
        "the following required arguments were not provided: --hour <HOUR>; see `reporter reserve --help`",
    );
}

#[test]
fn an_unreadable_database_path_is_refused() {
    let mut sb = Sandbox::new();
    sb.set_env("REPORTER_DB", "/nonexistent-dir/reporter.db");
    let run = sb.run(&["slots"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with("error: cannot use database `/nonexistent-dir/reporter.db`: unable to open database file"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.trim_end().ends_with("or pass --db FILE"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let sb = Sandbox::new();
    std::fs::write(&sb.db, "not a database, just text\n".repeat(100)).unwrap();
    let run = sb.run(&["slots"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("file is not a database"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&sb.db).unwrap(),
        "not a database, just text\n".repeat(100)
    );
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let sb = with_alice();
    sb.conn().pragma_update(None, "user_version", 99).unwrap();
    let msg = format!(
        "database `{}` has schema version 99, newer than this reporter knows (4); upgrade reporter",
        sb.db.display()
    );
    sb.refused_unchanged(&["slots"], &msg);
    sb.refused_unchanged(&["reserve", "alice", "--hour", "1"], &msg);
}

#[test]
fn help_teaches_with_examples() {
    let sb = Sandbox::new();
    let out = sb.run(&["reserve", "--help"]).ok();
    assert!(
        out.stdout
            .contains("Example: reporter reserve alice --hour 10"),
        "{}",
        out.stdout
    );
    let out = sb.run(&["--help"]).ok();
    assert!(out.stdout.contains("Exit status"), "{}", out.stdout);
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let sb = with_alice();
    let mut child = sb
        .command(&["slots"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
