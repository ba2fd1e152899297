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
        "database `{}` has schema version 99, newer than this reporter knows (7); upgrade reporter",
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

#[test]
fn a_newer_database_in_rollback_journal_mode_is_refused_with_not_one_byte_changed() {
    let sb = with_alice();
    {
        let conn = sb.conn();
        conn.pragma_update(None, "user_version", 99).unwrap();
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
    }
    let before = std::fs::read(&sb.db).unwrap();
    let run = sb.run(&["slots"]);
    assert_eq!(
        run.stderr,
        format!(
            "error: database `{}` has schema version 99, newer than this reporter knows (7); upgrade reporter\n",
            sb.db.display()
        )
    );
    assert_eq!(run.code, 2);
    assert!(
        std::fs::read(&sb.db).unwrap() == before,
        "the database file changed"
    );
}

#[test]
fn a_database_of_another_program_is_refused_with_not_one_byte_changed() {
    let sb = Sandbox::new();
    {
        let conn = sb.conn();
        conn.execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);")
            .unwrap();
    }
    let before = std::fs::read(&sb.db).unwrap();
    let run = sb.run(&["slots"]);
    assert_eq!(
        run.stderr,
        format!(
            "error: database `{}` holds tables but no reporter schema: it belongs to another program; pass --db with a reporter database or a new file\n",
            sb.db.display()
        )
    );
    assert_eq!(run.code, 2);
    assert!(
        std::fs::read(&sb.db).unwrap() == before,
        "the database file changed"
    );
}

#[test]
fn json_into_a_closed_pipe_is_not_an_error() {
    let sb = with_alice();
    for args in [&["slots", "--json"][..], &["users", "list", "--json"]] {
        let mut child = sb
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "`{}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn control_characters_in_input_are_escaped_and_the_error_stays_one_line() {
    let sb = with_alice();
    sb.refused_unchanged(
        &["users", "add", "eve\nerror: forged"],
        "user name `eve\\nerror: forged` is not valid; use 1 to 128 letters, digits and . _ @ + -",
    );
    sb.refused_unchanged(
        &["reserve", "\u{1b}[31mred", "--hour", "3"],
        "user `\\u{1b}[31mred` does not exist; add it with `reporter users add \\u{1b}[31mred` or see `reporter users list`",
    );
}

#[test]
fn a_name_that_reads_as_a_flag_or_a_directory_is_refused() {
    let sb = with_alice();
    for name in ["--json", "-x", ".", "..", "..x"] {
        sb.refused_unchanged(
            &["users", "add", "--", name],
            &format!(
                "user name `{name}` is not valid; it must not start with `-` or `..`, or be `.`"
            ),
        );
    }
    sb.run(&["users", "add", "x..y"]).ok();
}

#[test]
fn the_name_length_limit_counts_characters_not_bytes() {
    let sb = with_alice();
    let longest = "é".repeat(128);
    sb.run(&["users", "add", &longest]).ok();
    let too_long = "é".repeat(129);
    sb.refused_unchanged(
        &["users", "add", &too_long],
        &format!("user name `{too_long}` is not valid; use 1 to 128 letters, digits and . _ @ + -"),
    );
}

#[test]
fn a_mistyped_command_keeps_claps_suggestion_on_the_one_line() {
    let sb = with_alice();
    let run = sb.run(&["resrve", "alice"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("error: unrecognized subcommand 'resrve'; ")
            && run.stderr.contains("'reserve'")
            && run.stderr.ends_with("; see `reporter --help`\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn metrics_refuses_json_rather_than_printing_text() {
    let sb = with_alice();
    sb.refused_unchanged(
        &["metrics", "--json"],
        "`metrics` prints the Prometheus text format only; drop --json, or use `reporter status --json` for JSON",
    );
}

#[test]
fn run_slot_wants_a_four_digit_year_and_a_date_within_a_day_of_today_unless_forced() {
    let sb = with_alice();
    sb.run(&["reserve", "alice", "--hour", "3"]).ok();
    let now = "2026-11-27T10:30:00Z";
    sb.refused_unchanged(
        &[
            "run-slot", "--hour", "3", "--date", "26-01-05", "--now", now,
        ],
        "date `26-01-05` is not valid; use YYYY-MM-DD, e.g. 2026-11-27",
    );
    for (date, days) in [("2027-11-27", 365), ("2026-11-25", 2)] {
        sb.refused_unchanged(
            &["run-slot", "--hour", "3", "--date", date, "--now", now],
            &format!(
                "date {date} is {days} days away from today (2026-11-27); pass --force to create a run that far from today"
            ),
        );
    }
    for date in ["2026-11-26", "2026-11-28"] {
        let run = sb
            .run(&[
                "run-slot", "--hour", "3", "--date", date, "--now", now, "--json",
            ])
            .ok()
            .json();
        assert_eq!(run["created"], true);
    }
    let forced = sb
        .run(&[
            "run-slot",
            "--hour",
            "3",
            "--date",
            "2027-11-27",
            "--now",
            now,
            "--force",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(forced["created"], true);
}

#[test]
fn a_setting_out_of_line_with_another_names_both_and_where_each_came_from() {
    let mut sb = with_alice();
    sb.set_env("REPORTER_LEASE_TTL", "100000");
    sb.refused_unchanged(
        &["slots"],
        "`range_lock_ttl` = 3000 s (from the default) must be at least `lease_ttl` = 100000 s (from environment variable `REPORTER_LEASE_TTL`); lower one or raise the other",
    );
}

#[test]
fn an_empty_environment_variable_counts_as_unset() {
    let mut sb = with_alice();
    let db = sb.db.display().to_string();
    sb.set_env("REPORTER_CONFIG", "");
    sb.set_env("REPORTER_REDIS_URL", "");
    sb.run(&["slots"]).ok();
    // The database from the config file, not from an empty REPORTER_DB.
    sb.config(&format!("database = \"{db}\"\n"));
    sb.set_env("REPORTER_DB", "");
    let users = sb.run(&["users", "list", "--json"]).ok().json();
    assert_eq!(users[0]["name"], "alice");
}

#[test]
fn redis_errors_give_their_cause_once_and_the_hint_that_fits() {
    use std::io::{Read, Write};
    let mut sb = with_alice();
    // Something that is not Redis: an HTTP server answering every request.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    sb.set_env("REPORTER_REDIS_URL", &format!("redis://127.0.0.1:{http}/"));
    let run = sb.run(&["status"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with(&format!(
            "error: redis://127.0.0.1:{http}/ answers, but not as Redis ("
        )) && run.stderr.ends_with(
            "); point `redis_url` in the config, --redis or REPORTER_REDIS_URL at a Redis server\n"
        ),
        "{}",
        run.stderr
    );

    // Port 1 is never a Redis; a socket file that is not there, never one either.
    sb.set_env("REPORTER_REDIS_URL", "redis://127.0.0.1:1/");
    let run = sb.run(&["status"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "error: cannot reach Redis at redis://127.0.0.1:1/: Connection refused (os error 111); start redis-server or fix `redis_url` in the config, --redis or REPORTER_REDIS_URL\n"
    );
    let missing = format!("redis+unix://{}", sb.path("redis.sock").display());
    sb.set_env("REPORTER_REDIS_URL", &missing);
    let run = sb.run(&["status"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot reach Redis at {missing}: No such file or directory (os error 2); start redis-server or fix `redis_url` in the config, --redis or REPORTER_REDIS_URL\n"
        )
    );

    // A database the server lacks, named in either form of URL.
    let redis = crate::support::redis_server::RedisServer::start_tcp();
    for url in [
        format!("{}99", redis.url()),
        format!("{}?db=99", redis.socket_url()),
    ] {
        sb.set_env("REPORTER_REDIS_URL", &url);
        let run = sb.run(&["status"]);
        assert_eq!(run.code, 1);
        assert_eq!(
            run.stderr,
            format!(
                "error: Redis at {url} has no such database (DB index is out of range); use a database number the server has (0 to 15 unless its `databases` is set) in `redis_url` in the config, --redis or REPORTER_REDIS_URL\n"
            )
        );
    }
}

#[test]
fn a_command_that_waits_out_the_busy_timeout_names_the_workers_that_may_hold_the_lock() {
    let sb = with_alice();
    let holder = sb.conn();
    let seen = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 90_000;
    holder
        .execute(
            "INSERT INTO workers (id, host, pid, concurrency, started_at, last_seen)
             VALUES ('paused', 'host-a', 4242, 2, 0, ?1)",
            [seen],
        )
        .unwrap();
    // Another process holds the write lock past the 15 s busy timeout, as a
    // worker stopped in the middle of a write would.
    holder
        .execute_batch("BEGIN IMMEDIATE; UPDATE workers SET concurrency = 3;")
        .unwrap();
    let run = sb.run(&["reserve", "alice", "--hour", "3"]);
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(
        run.stderr.starts_with(
            "error: another process held the database's write lock for longer than the 15 s busy timeout; \
             workers running: `paused` on host-a (pid 4242, seen "
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "a worker stopped mid-write (SIGSTOP, a debugger) holds it until it resumes or is killed"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("database is locked"), "{}", run.stderr);
    let reservations: i64 = sb
        .conn()
        .query_row("SELECT COUNT(*) FROM reservations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(reservations, 0);
}
