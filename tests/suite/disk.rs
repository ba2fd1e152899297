//! The database's file under damage: a malformed file stops a worker with
//! one line that says what to do, and `doctor` names the damage.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use crate::support::cluster::{Cluster, Setup};

/// Overwrites the root page of `index` with zeros, as a bad sector or a
/// stray write would, after copying the WAL into the file.
pub fn damage_index(db: &Path, index: &str) {
    let (page_size, root): (i64, i64) = {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        let page_size = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        let root = conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [index],
                |r| r.get(0),
            )
            .unwrap();
        (page_size, root)
    };
    let mut file = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    file.seek(SeekFrom::Start(((root - 1) * page_size) as u64))
        .unwrap();
    file.write_all(&vec![0u8; page_size as usize]).unwrap();
    file.sync_all().unwrap();
}

#[test]
fn a_worker_on_a_database_with_a_damaged_index_stops_with_one_line_and_doctor_names_the_damage() {
    let mut cluster = Cluster::start(Setup {
        pending_orders: Some(20),
        ..Setup::default()
    });
    cluster.run_with_users(10, &[("alice", 0), ("bob", 0)]);
    damage_index(&cluster.sandbox.db, "jobs_claimable");

    let worker = cluster.spawn_worker("w1", &["--until-idle"]);
    let code = cluster.wait_worker(worker, Duration::from_secs(30));
    let log = cluster.worker_log("w1");
    assert_eq!(
        code, 3,
        "a malformed database stops the worker with status 3; log:\n{log}"
    );
    let said: Vec<&str> = log.lines().filter(|l| l.contains("malformed")).collect();
    assert_eq!(
        said.len(),
        1,
        "one line says the database is malformed:\n{log}"
    );
    let line = said[0];
    for words in [
        "error: the database `",
        "is malformed (",
        "database disk image is malformed)",
        "this worker stops claiming",
        "reporter doctor",
        "restore the last backup",
        ".recover",
    ] {
        assert!(line.contains(words), "`{words}` missing from: {line}");
    }
    assert!(
        log.lines().count() < 20,
        "the worker stopped instead of retrying:\n{log}"
    );
    assert_eq!(
        cluster.count("SELECT COUNT(*) FROM jobs WHERE status = 'running'"),
        0,
        "nothing was claimed"
    );

    let doctor = cluster.sandbox.run(&["doctor"]);
    assert_eq!(doctor.code, 1, "doctor fails: {}", doctor.stdout);
    let database = doctor
        .stdout
        .lines()
        .find(|l| l.contains(" database: "))
        .unwrap_or_else(|| panic!("a database check: {}", doctor.stdout));
    assert!(database.starts_with("FAIL"), "{database}");
    for words in [
        "is malformed",
        "quick_check finds",
        "jobs_claimable",
        ".recover",
    ] {
        assert!(
            database.contains(words),
            "`{words}` missing from: {database}"
        );
    }
}

#[test]
fn doctor_names_the_sqlite_linked_in_and_passes_it() {
    let cluster = Cluster::start(Setup::default());
    let doctor = cluster.sandbox.run(&["doctor", "--json"]);
    let checks = doctor.json();
    let sqlite = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "sqlite")
        .unwrap_or_else(|| panic!("an sqlite check: {checks}"));
    assert_eq!(sqlite["ok"], true, "{sqlite}");
    let detail = sqlite["detail"].as_str().unwrap();
    assert!(detail.starts_with("SQLite 3."), "{detail}");
    assert!(
        detail.contains("WAL-reset bug is fixed from 3.51.3"),
        "{detail}"
    );
}
