//! Helpers shared by the integration tests.

#![allow(dead_code)]

pub mod api;
pub mod cluster;
pub mod grid;
pub mod prometheus;
pub mod redis_server;
pub mod web;
pub mod worker_processes;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::Value;
use tempfile::TempDir;

/// A temporary home for one test: a database file, a config file and the
/// environment the binary runs with.
pub struct Sandbox {
    pub dir: TempDir,
    pub db: PathBuf,
    pub env: Vec<(String, String)>,
}

/// The result of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "expected success, got {}: {}",
            self.code, self.stderr
        );
        self
    }

    /// Asserts a refusal (exit 2) with exactly this one-line error.
    #[track_caller]
    pub fn refused(self, message: &str) -> Self {
        assert_eq!(self.stderr, format!("error: {message}\n"), "stderr");
        assert_eq!(self.code, 2, "exit code; stderr: {}", self.stderr);
        assert!(
            self.stdout.is_empty(),
            "stdout should be empty: {}",
            self.stdout
        );
        self
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_reporter")
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = dir.path().join("reporter.db");
        Sandbox {
            dir,
            db,
            env: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a config file into the sandbox and uses it from now on.
    pub fn config(&mut self, text: &str) -> PathBuf {
        let path = self.path("reporter.toml");
        std::fs::write(&path, text).expect("write config");
        self.set_env("REPORTER_CONFIG", path.to_str().unwrap());
        path
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// A command for the binary with a clean environment and this sandbox's database.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        for (key, _) in std::env::vars() {
            if key.starts_with("REPORTER_")
                || key == "MAX_ACTIVE_SELENIUM"
                || key == "STATE_DIRECTORY"
            {
                cmd.env_remove(key);
            }
        }
        cmd.env("REPORTER_DB", &self.db)
            .env("REPORTER_TIME_ZONE", "UTC");
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        cmd.args(args).current_dir(self.dir.path());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run reporter");
        to_run(output)
    }

    /// Creates the run of `hour` on `date` (`run-slot --force --json`),
    /// which must succeed, and returns its JSON.
    #[track_caller]
    pub fn run_slot(&self, hour: u32, date: &str) -> Value {
        self.run(&[
            "run-slot",
            "--hour",
            &hour.to_string(),
            "--date",
            date,
            "--force",
            "--json",
        ])
        .ok()
        .json()
    }

    pub fn conn(&self) -> Connection {
        Connection::open(&self.db).expect("open database")
    }

    /// Every row of every table, as text: equal snapshots mean nothing changed.
    pub fn snapshot(&self) -> String {
        if !self.db.exists() {
            return String::new();
        }
        let conn = self.conn();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut out = String::new();
        for table in tables {
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
            let columns = stmt.column_count();
            let rows: Vec<String> = stmt
                .query_map([], |row| {
                    let cells: Vec<String> = (0..columns)
                        .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                        .collect();
                    Ok(cells.join("|"))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            out.push_str(&format!("{table}: {rows:?}\n"));
        }
        out
    }

    /// Runs a command that must be refused with `message` and leave the database as it was.
    #[track_caller]
    pub fn refused_unchanged(&self, args: &[&str], message: &str) {
        let before = self.snapshot();
        self.run(args).refused(message);
        assert_eq!(
            before,
            self.snapshot(),
            "the database changed after a refused `{}`",
            args.join(" ")
        );
    }
}

pub fn to_run(output: Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `limit`.
#[track_caller]
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port free now: another process can take it before it is used,
/// so only for servers that cannot be given a socket of their own or port 0.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether a program is on the PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths).any(|dir| Path::new(&dir).join(program).is_file())
        })
        .unwrap_or(false)
}
