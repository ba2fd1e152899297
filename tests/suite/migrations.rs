//! The schema is created by numbered migrations, once, in WAL mode.

use crate::support::Sandbox;

#[test]
fn all_migrations_apply_to_an_empty_file() {
    let sb = Sandbox::new();
    std::fs::write(&sb.db, b"").unwrap();
    sb.run(&["slots", "--json"]).ok();
    let conn = sb.conn();
    let versions: Vec<(i64, String)> = conn
        .prepare("SELECT version, name FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        versions,
        vec![
            (1, "0001_schema.sql".to_string()),
            (2, "0002_slots.sql".to_string()),
            (3, "0003_status_checks.sql".to_string()),
            (4, "0004_lease_expiries.sql".to_string()),
            (5, "0005_order_fields.sql".to_string()),
            (6, "0006_api_tokens.sql".to_string()),
            (7, "0007_found_reported.sql".to_string())
        ]
    );
    let slots: i64 = conn
        .query_row("SELECT COUNT(*) FROM hour_slots", [], |r| r.get(0))
        .unwrap();
    assert_eq!(slots, 24);
    let config: i64 = conn
        .query_row("SELECT COUNT(*) FROM slot_config", [], |r| r.get(0))
        .unwrap();
    assert_eq!(config, 1);
    for table in [
        "users",
        "reservations",
        "runs",
        "run_users",
        "run_orders",
        "ranges",
        "orders",
        "jobs",
        "workers",
    ] {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap_or_else(|e| panic!("table {table}: {e}"));
    }
}

#[test]
fn opening_twice_changes_nothing() {
    let sb = Sandbox::new();
    sb.run(&["slots"]).ok();
    let before = sb.snapshot();
    sb.run(&["slots"]).ok();
    assert_eq!(before, sb.snapshot());
}

#[test]
fn the_journal_mode_reads_back_wal() {
    let sb = Sandbox::new();
    sb.run(&["slots"]).ok();
    let mode: String = sb
        .conn()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn processes_racing_on_a_new_file_migrate_it_once() {
    let sb = Sandbox::new();
    let children: Vec<_> = (0..8)
        .map(|_| {
            sb.command(&["slots", "--json"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let applied: i64 = sb
        .conn()
        .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(applied, 7);
}
