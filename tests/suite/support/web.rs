//! The sample portal and real headless Chromium: a sandbox whose workers use
//! `[portal] kind = "web"` against the sample portal on a free loopback port.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::redis_server::RedisServer;
use super::worker_processes::WorkerProcesses;
use super::{Sandbox, binary, on_path, wait_for};

/// The sample portal, stopped when dropped.
pub struct SamplePortal {
    pub address: String,
    child: Child,
}

/// Which test portal a cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalApp {
    /// `examples/sample_portal.rs`: the demo's portal, the default flows.
    Sample,
    /// `examples/claims_portal.rs`: other markup, a two-step login, faults.
    Claims,
    /// `examples/spa_portal.rs`: a single-page app over a JSON API.
    Spa,
}

impl PortalApp {
    fn program(self) -> &'static str {
        match self {
            PortalApp::Sample => "sample_portal",
            PortalApp::Claims => "claims_portal",
            PortalApp::Spa => "spa_portal",
        }
    }

    fn banner(self) -> &'static str {
        match self {
            PortalApp::Sample => "sample portal listening on http://",
            PortalApp::Claims => "claims portal listening on http://",
            PortalApp::Spa => "spa portal listening on http://",
        }
    }
}

impl SamplePortal {
    /// Starts the sample portal for `users` (login, password) with extra flags.
    pub fn start(dir: &Path, users: &[(&str, &str)], flags: &[&str]) -> SamplePortal {
        SamplePortal::start_app(PortalApp::Sample, dir, users, flags)
    }

    /// Starts a test portal for `users` (login, password) with extra flags.
    pub fn start_app(
        app: PortalApp,
        dir: &Path,
        users: &[(&str, &str)],
        flags: &[&str],
    ) -> SamplePortal {
        let program = Path::new(binary())
            .parent()
            .expect("target directory")
            .join("examples")
            .join(app.program());
        assert!(
            program.is_file(),
            "the test portal is not built at {}; run `cargo build --examples` (cargo test builds it)",
            program.display()
        );
        let users_file = dir.join("portal-users.txt");
        let lines: String = users.iter().map(|(u, p)| format!("{u}:{p}\n")).collect();
        std::fs::write(&users_file, lines).unwrap();
        let mut child = Command::new(program)
            .args(["--listen", "127.0.0.1:0", "--users"])
            .arg(&users_file)
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the test portal");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix(app.banner())
            .unwrap_or_else(|| panic!("unexpected portal banner: {line:?}"))
            .to_string();
        SamplePortal { address, child }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A GET on the portal, body only.
    pub fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.address
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }

    /// Every report the portal received, as its JSON lines.
    pub fn report_lines(&self) -> Vec<Value> {
        self.get("/_admin/reports")
            .lines()
            .map(|line| serde_json::from_str(line).expect("report line is JSON"))
            .collect()
    }

    /// Every report the portal received, as (user, order).
    pub fn reports(&self) -> Vec<(String, String)> {
        self.get("/_admin/reports")
            .lines()
            .map(|line| {
                let v: Value = serde_json::from_str(line).expect("report line is JSON");
                (
                    v["user"].as_str().unwrap().into(),
                    v["order"].as_str().unwrap().into(),
                )
            })
            .collect()
    }

    pub fn stats(&self) -> Value {
        serde_json::from_str(&self.get("/_admin/stats")).expect("stats are JSON")
    }
}

impl Drop for SamplePortal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Panics with install instructions when Chromium or chromedriver is missing.
pub fn require_chromium() {
    for program in ["chromium", "chromedriver"] {
        assert!(
            on_path(program),
            "{program} is not installed; install it with `apt-get install chromium chromium-driver` (scripts/test does this)"
        );
    }
}

/// A sandbox, Redis, the sample portal and `reporter work` processes using it.
pub struct WebCluster {
    pub sandbox: Sandbox,
    pub redis: RedisServer,
    pub portal: SamplePortal,
    workers: WorkerProcesses,
}

/// What a test varies.
pub struct WebSetup<'a> {
    pub users: &'a [(&'a str, &'a str)],
    pub portal_flags: &'a [&'a str],
    pub max_active_browsers: u32,
    pub range_size: u32,
    pub lease_ttl: f64,
    /// Seconds a page may take.
    pub page_timeout: f64,
    /// Retries of every job.
    pub retries: u32,
}

/// A test beyond the defaults: another portal, more config.
pub struct WebExtra<'a> {
    pub app: PortalApp,
    /// Appended to the config after the `[portal]` keys (flows, columns).
    pub portal_config: &'a str,
    /// Replaces the `[retry]` table (the defaults when empty).
    pub retry_config: Option<&'a str>,
}

impl Default for WebExtra<'_> {
    fn default() -> Self {
        WebExtra {
            app: PortalApp::Sample,
            portal_config: "",
            retry_config: None,
        }
    }
}

impl WebCluster {
    pub fn start(setup: WebSetup) -> WebCluster {
        WebCluster::start_with(setup, WebExtra::default())
    }

    pub fn start_with(setup: WebSetup, extra: WebExtra) -> WebCluster {
        require_chromium();
        let redis = RedisServer::start();
        let mut sandbox = Sandbox::new();
        let portal = SamplePortal::start_app(
            extra.app,
            sandbox.dir.path(),
            setup.users,
            setup.portal_flags,
        );
        let credentials = sandbox.path("credentials");
        std::fs::create_dir(&credentials).unwrap();
        std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o700)).unwrap();
        for (user, password) in setup.users {
            let file = credentials.join(user);
            std::fs::write(&file, format!("{password}\n")).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let retry = match extra.retry_config {
            Some(text) => text.to_string(),
            None => format!(
                "report_retries = {retries}\nreport_delay = 0.5\ndownload_retries = {retries}\ndownload_delay = 0.5\njitter = 0.0\n",
                retries = setup.retries
            ),
        };
        sandbox.config(&format!(
            "redis_url = \"{}\"\nkey_prefix = \"test\"\nmax_active_browsers = {}\nrange_size = {}\n\
             lease_ttl = {}\nrange_lock_ttl = 600\n\
             [retry]\n{retry}\
             [portal]\nkind = \"web\"\nbase_url = \"{}\"\ncredentials_dir = \"{}\"\npage_timeout = {}\n{}",
            redis.url(),
            setup.max_active_browsers,
            setup.range_size,
            setup.lease_ttl,
            portal.url(),
            credentials.display(),
            setup.page_timeout,
            extra.portal_config,
        ));
        // Browser profiles go under the sandbox, so this test's Chromiums can be told apart.
        let tmp = sandbox.path("tmp");
        std::fs::create_dir(&tmp).unwrap();
        sandbox.set_env("TMPDIR", tmp.to_str().unwrap());
        WebCluster {
            sandbox,
            redis,
            portal,
            workers: WorkerProcesses::default(),
        }
    }

    /// Adds the users (login = name), reserves them at `hour` and creates the run.
    pub fn run_for_users(&self, hour: u32) -> i64 {
        let hour = hour.to_string();
        self.sandbox
            .run(&["slots", "set", &hour, "--max-users", "100"])
            .ok();
        for (name, _) in self.users() {
            self.sandbox.run(&["users", "add", &name]).ok();
            self.sandbox.run(&["reserve", &name, "--hour", &hour]).ok();
        }
        let created = self
            .sandbox
            .run(&["run-slot", "--hour", &hour, "--json"])
            .ok()
            .json();
        created["run_id"].as_i64().expect("run id")
    }

    fn users(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.sandbox.path("portal-users.txt")).unwrap();
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect()
    }

    /// Starts `reporter work`; its stderr goes to `<id>.log`.
    pub fn spawn_worker(&mut self, id: &str, extra: &[&str]) -> u32 {
        self.workers.spawn(&self.sandbox, id, extra)
    }

    pub fn worker_log(&self, id: &str) -> String {
        WorkerProcesses::log(&self.sandbox, id)
    }

    /// Whether the worker has exited, with its code.
    pub fn exited(&mut self, pid: u32) -> Option<i32> {
        self.workers.exited(pid)
    }

    pub fn kill9(&mut self, pid: u32) {
        self.workers.kill9(pid);
    }

    /// The Chromium browsers of this test alive now, by their profile
    /// directory. One browser shows as several processes: the launcher
    /// script and its subshells and the browser share its arguments; its
    /// helpers carry `--type=` and may show a shortened command line, so they
    /// are left out.
    pub fn browsers(&self) -> Vec<String> {
        let mark = format!("--user-data-dir={}", self.sandbox.path("tmp").display());
        let mut profiles: Vec<String> = processes_with(&mark)
            .iter()
            .filter(|cmdline| !cmdline.contains("--type="))
            .filter_map(|cmdline| {
                let at = cmdline.find(&mark)?;
                let profile = cmdline[at..].split(' ').next()?;
                Some(profile.to_string())
            })
            .collect();
        profiles.sort();
        profiles.dedup();
        profiles
    }

    /// Stops every process this test's workers left behind (a worker killed
    /// with SIGKILL cannot stop its chromedriver).
    pub fn kill_leftovers(&self) {
        let mark = self.sandbox.path("tmp").display().to_string();
        for pid in pids_with(&mark) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }

    /// (user, order) reports as the portal received them, with counts.
    pub fn report_counts(&self) -> HashMap<(String, String), usize> {
        let mut counts = HashMap::new();
        for report in self.portal.reports() {
            *counts.entry(report).or_insert(0) += 1;
        }
        counts
    }

    /// Why orders failed: the first few distinct reasons, with counts.
    pub fn order_failures(&self) -> Vec<(String, i64)> {
        let conn = self.sandbox.conn();
        conn.prepare(
            "SELECT error, count(*) FROM run_orders WHERE status = 'failed'
             GROUP BY error ORDER BY count(*) DESC LIMIT 8",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                r.get(1)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// Asserts the run is done, naming why orders failed otherwise.
    #[track_caller]
    pub fn assert_run_done(&self, run_id: i64) -> Value {
        let progress = self.progress(run_id);
        assert_eq!(
            progress["status"],
            "done",
            "{progress:#}\norders failed: {:#?}",
            self.order_failures()
        );
        progress
    }

    pub fn progress(&self, run_id: i64) -> Value {
        self.sandbox
            .run(&["progress", &run_id.to_string(), "--json"])
            .ok()
            .json()
    }

    /// Every pending order of the database reported exactly once, by the
    /// portal's own record, and recorded so; no duplicate submit reached it.
    #[track_caller]
    pub fn assert_every_order_reported_once(&self, expected: usize) {
        let counts = self.report_counts();
        assert_eq!(
            self.portal.stats()["duplicate_report_posts"],
            0,
            "a report was posted twice"
        );
        assert!(counts.values().all(|n| *n == 1), "an order reported twice");
        let conn = self.sandbox.conn();
        let rows: Vec<(String, String, String)> = conn
            .prepare(
                "SELECT u.login, o.order_ref, o.status FROM run_orders o
                 JOIN run_users ru ON ru.id = o.run_user_id JOIN users u ON u.id = ru.user_id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), expected, "pending orders in the database");
        for (user, order, status) in &rows {
            assert_eq!(status, "reported", "{user} {order}");
            assert_eq!(
                counts.get(&(user.clone(), order.clone())),
                Some(&1),
                "{user} {order}"
            );
        }
        assert_eq!(counts.len(), expected, "reports the portal holds");
    }
}

impl Drop for WebCluster {
    fn drop(&mut self) {
        self.workers.kill_all();
        self.kill_leftovers();
    }
}

fn processes_with(mark: &str) -> Vec<String> {
    all_processes()
        .into_iter()
        .filter(|(_, cmdline)| cmdline.contains(mark))
        .map(|(_, cmdline)| cmdline)
        .collect()
}

fn pids_with(mark: &str) -> Vec<u32> {
    all_processes()
        .into_iter()
        .filter(|(_, cmdline)| cmdline.contains(mark))
        .map(|(pid, _)| pid)
        .collect()
}

fn all_processes() -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&raw).replace('\0', " ")))
        })
        .collect()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Waits until the worker exits, sampling Chromium processes meanwhile; returns
/// the exit code and the browsers seen at the busiest sample.
pub fn wait_sampling_browsers(
    cluster: &mut WebCluster,
    pid: u32,
    limit: Duration,
) -> (i32, Vec<String>) {
    let mut most = Vec::new();
    let code = wait_for("the worker to drain the run", limit, || {
        let now = cluster.browsers();
        if now.len() > most.len() {
            most = now;
        }
        cluster.exited(pid)
    });
    (code, most)
}
