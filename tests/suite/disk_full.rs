//! A full disk under the database in the middle of a run, then room again:
//! the file is never corrupted, every report the portal received is recorded
//! once, and the run ends done. Needs root (it mounts a tmpfs); run by
//! `scripts/test` as a step of its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::cluster::{Cluster, Setup};
use crate::support::wait_for;

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("mount point");
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0755"),
            "tmpfs",
            dir.path().to_str().unwrap(),
        ]);
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn grow(&self, size: &str) {
        mount(&[
            "-o",
            &format!("remount,size={size}"),
            self.path().to_str().unwrap(),
        ]);
    }

    /// Writes a file until the file system refuses another byte.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("filler file");
        for chunk in [1 << 20, 4096, 1] {
            let bytes = vec![0xA5u8; chunk];
            while file.write_all(&bytes).is_ok() {}
        }
        let _ = file.sync_all();
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("--lazy")
            .arg(self.path())
            .status();
    }
}

#[track_caller]
fn mount(args: &[&str]) {
    let output = Command::new("mount")
        .args(args)
        .output()
        .expect("run mount (util-linux)");
    assert!(
        output.status.success(),
        "mount {args:?} failed: {}; this test mounts a tmpfs and needs root (scripts/test runs it as root)",
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// One run whose database disk fills up in its middle and gets room again
/// seconds later; returns the writes failing that `status` showed meanwhile.
fn a_run_through_a_full_disk(round: usize) -> serde_json::Value {
    let disk = Tmpfs::mount("64M");
    let mut cluster = Cluster::start(Setup {
        max_active_browsers: 6,
        lease_ttl: 2.0,
        download_ms: 50,
        report_ms: 2,
        pending_orders: Some(400),
        report_retries: 5,
        download_retries: 5,
        ..Setup::default()
    });
    cluster.sandbox.db = disk.path().join("reporter.db");
    let users: Vec<String> = (0..10).map(|n| format!("user{n}")).collect();
    let users: Vec<(&str, u32)> = users.iter().map(|u| (u.as_str(), 0)).collect();
    let run = cluster.run_with_users(10, &users);
    let total = 400 * users.len() as i64;
    let workers: Vec<u32> = ["w1", "w2"]
        .iter()
        .map(|id| cluster.spawn_worker(id, &["--concurrency", "3", "--until-idle"]))
        .collect();
    let reported = |cluster: &Cluster| {
        cluster.count("SELECT COUNT(*) FROM run_orders WHERE status = 'reported'")
    };
    wait_for(
        &format!("round {round}: a fifth of the orders reported"),
        Duration::from_secs(60),
        || (reported(&cluster) >= total / 5).then_some(()),
    );

    let filler = disk.fill();
    let failing = wait_for(
        &format!("round {round}: `status` to show the database's writes failing"),
        Duration::from_secs(30),
        || {
            let status = cluster.status();
            let failing = &status["database"]["writes_failing"];
            (failing.as_array().is_some_and(|f| !f.is_empty())).then(|| failing.clone())
        },
    );
    // Longer than two leases: jobs' leases expire while nobody can write.
    std::thread::sleep(Duration::from_secs(5));
    disk.grow("256M");
    std::fs::remove_file(filler).unwrap();

    for (pid, id) in workers.into_iter().zip(["w1", "w2"]) {
        let code = cluster.wait_worker(pid, Duration::from_secs(180));
        assert_eq!(
            code,
            0,
            "round {round}: worker {id} exits 0 once the run is drained; log:\n{}",
            cluster.worker_log(id)
        );
    }
    let integrity: String = cluster
        .sandbox
        .conn()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok", "round {round}: integrity_check");
    cluster.assert_each_order_reported_once_or_failed();
    assert_eq!(
        reported(&cluster),
        total,
        "round {round}: every order reported"
    );
    let progress = cluster.progress(run);
    assert_eq!(progress["status"], "done", "round {round}: {progress}");
    let status = cluster.status();
    assert_eq!(
        status["database"]["writes_failing"],
        serde_json::json!([]),
        "round {round}: writes land again"
    );
    failing
}

#[test]
fn ten_runs_through_a_full_disk_each_end_done_with_every_report_recorded_once_and_the_file_intact()
{
    for round in 1..=rounds() {
        let failing = a_run_through_a_full_disk(round);
        let first = &failing[0];
        assert_eq!(first["fault"], "disk full", "round {round}: {failing}");
        assert!(
            first["path"].as_str().unwrap().ends_with("/reporter.db"),
            "round {round}: the database's path: {failing}"
        );
        assert!(
            first["error"]
                .as_str()
                .unwrap()
                .contains("database or disk is full"),
            "round {round}: SQLite's words: {failing}"
        );
    }
}

/// Ten rounds, or `DISK_FULL_ROUNDS` while investigating.
fn rounds() -> usize {
    std::env::var("DISK_FULL_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
}
