//! Logs under systemd: when stderr is the journal's stream (`JOURNAL_STREAM`),
//! each event goes to the journal natively, with its priority and the job's
//! fields. The test plays journald: it binds the journal's socket (this host
//! runs no journald; the real one is exercised in the systemd container).

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use crate::support::cluster::{Cluster, Setup};

const SOCKET: &str = "/run/systemd/journal/socket";

/// The journal's socket, bound by the test for as long as it lives.
struct FakeJournal {
    socket: UnixDatagram,
}

impl FakeJournal {
    fn bind() -> FakeJournal {
        if Path::new(SOCKET).exists() {
            // Left by a test that was killed, or a real journald's.
            let listening = UnixDatagram::unbound()
                .and_then(|probe| probe.connect(SOCKET))
                .is_ok();
            assert!(
                !listening,
                "{SOCKET} is a journald's: this test stands in for journald only where PID 1 is not systemd (the container test checks the real journal)"
            );
            std::fs::remove_file(SOCKET).unwrap();
        }
        std::fs::create_dir_all("/run/systemd/journal").expect(
            "create /run/systemd/journal (this test needs root; scripts/test runs as root)",
        );
        let socket = UnixDatagram::bind(SOCKET).unwrap();
        socket.set_nonblocking(true).unwrap();
        FakeJournal { socket }
    }

    /// Every entry received so far, as field -> value.
    fn entries(&self) -> Vec<HashMap<String, String>> {
        let mut entries = Vec::new();
        let mut buffer = vec![0u8; 1 << 20];
        while let Ok(n) = self.socket.recv(&mut buffer) {
            entries.push(parse(&buffer[..n]));
        }
        entries
    }
}

impl Drop for FakeJournal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(SOCKET);
    }
}

/// The journal's native protocol: `KEY=value\n`, or `KEY\n` and a 64-bit
/// little-endian length before a value that may hold newlines.
fn parse(mut data: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    while !data.is_empty() {
        let line_end = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
        let line = &data[..line_end];
        if let Some(eq) = line.iter().position(|b| *b == b'=') {
            let key = String::from_utf8_lossy(&line[..eq]).into_owned();
            let value = String::from_utf8_lossy(&line[eq + 1..]).into_owned();
            fields.insert(key, value);
            data = &data[(line_end + 1).min(data.len())..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &data[line_end + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            let value = String::from_utf8_lossy(&rest[8..8 + len]).into_owned();
            fields.insert(key, value);
            data = &rest[(8 + len + 1).min(rest.len())..];
        }
    }
    fields
}

#[test]
fn under_systemd_a_worker_logs_to_the_journal_with_priorities_and_the_jobs_fields() {
    let cluster = Cluster::start(Setup {
        failure_rate: 1.0,
        download_retries: 0,
        ..Setup::default()
    });
    let run = cluster.run_with_users(10, &[("alice", 0)]);
    let journal = FakeJournal::bind();
    let stderr_path = cluster.sandbox.path("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let meta = std::fs::metadata(&stderr_path).unwrap();
    let mut child = cluster
        .sandbox
        .command(&["work", "--worker-id", "w1", "--until-idle"])
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .stderr(stderr)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let entries = journal.entries();
    let failed = entries
        .iter()
        .find(|e| e.get("MESSAGE").is_some_and(|m| m.contains("job failed")))
        .unwrap_or_else(|| panic!("a `job failed` entry among {entries:#?}"));
    assert_eq!(failed["PRIORITY"], "3", "an error: {failed:?}");
    assert_eq!(failed["REPORTER_RUN"], run.to_string(), "{failed:?}");
    assert_eq!(failed["REPORTER_USER"], "alice", "{failed:?}");
    assert_eq!(failed["REPORTER_RANGE"], "download", "{failed:?}");
    assert_eq!(failed["REPORTER_WORKER"], "w1", "{failed:?}");
    assert!(failed.contains_key("REPORTER_JOB"), "{failed:?}");
    assert_eq!(failed["SYSLOG_IDENTIFIER"], "reporter", "{failed:?}");
    assert!(
        !failed["MESSAGE"].starts_with("20"),
        "no timestamp in the message: {failed:?}"
    );
    let started = entries
        .iter()
        .find(|e| e.get("MESSAGE").is_some_and(|m| m == "worker started"))
        .unwrap_or_else(|| panic!("a `worker started` entry among {entries:#?}"));
    assert_eq!(
        started["PRIORITY"], "5",
        "info is the journal's notice: {started:?}"
    );
    let text = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        !text.contains("worker started"),
        "the logs went to the journal, not to stderr:\n{text}"
    );
}
