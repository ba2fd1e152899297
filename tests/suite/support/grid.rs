//! A Selenium Grid 4 on loopback: a hub and nodes started from the server
//! jar, each node finding `chromedriver` on `PATH`. A node may run in a mount
//! namespace of its own with a tmpfs over a directory (the worker's
//! `TMPDIR`): what a Chromium there writes, the worker cannot read, as on
//! another host.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::free_port;
use super::{binary, on_path, wait_for};

/// The version scripts/test fetches (`npm pack @nightwatch/selenium-server`).
pub const JAR_NAME: &str = "selenium-server-4.20.0.jar";

/// How a node is started.
pub struct NodeSpec<'a> {
    /// Its slots (`--max-sessions`).
    pub slots: u32,
    /// A tmpfs over this directory, in the node's own mount namespace.
    pub private_dir: Option<&'a Path>,
}

/// The hub and its nodes, stopped (each with every process it started) when
/// dropped.
pub struct Grid {
    pub url: String,
    hub: Child,
    nodes: Vec<Option<Child>>,
}

impl Grid {
    /// Starts a hub with `--session-request-timeout` `queue_timeout` s and
    /// the nodes, logs under `logs`, and waits until the hub lists every node
    /// up.
    pub fn start(logs: &Path, nodes: &[NodeSpec], queue_timeout: u32) -> Grid {
        let jar = require_grid();
        let port = free_port();
        let (publish, subscribe) = (free_port(), free_port());
        let bus = [
            "--publish-events".to_string(),
            format!("tcp://127.0.0.1:{publish}"),
            "--subscribe-events".to_string(),
            format!("tcp://127.0.0.1:{subscribe}"),
        ];
        let mut hub = java(&jar, logs, "hub");
        hub.args(["hub", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(&bus)
            .args(["--session-request-timeout", &queue_timeout.to_string()])
            .args([
                "--session-retry-interval",
                "1",
                "--healthcheck-interval",
                "2",
            ]);
        let hub = hub.spawn().expect("start the Grid hub");
        let mut grid = Grid {
            url: format!("http://127.0.0.1:{port}"),
            hub,
            nodes: Vec::new(),
        };
        for (n, spec) in nodes.iter().enumerate() {
            let node_args = [
                "node".to_string(),
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                free_port().to_string(),
                "--selenium-manager".into(),
                "false".into(),
                "--max-sessions".into(),
                spec.slots.to_string(),
                "--heartbeat-period".into(),
                "2".into(),
                "--register-period".into(),
                "60".into(),
            ];
            let name = format!("node-{}", n + 1);
            let mut command = match spec.private_dir {
                None => {
                    let mut command = java(&jar, logs, &name);
                    command.args(&node_args).args(&bus);
                    command
                }
                Some(dir) => {
                    let mut command = Command::new("unshare");
                    let log = File::create(logs.join(format!("grid-{name}.log"))).unwrap();
                    command
                        .args(["--mount", "--kill-child", "sh", "-c"])
                        .arg(r#"dir=$1; shift; mount -t tmpfs tmpfs "$dir" && exec java -jar "$@""#)
                        .arg("sh")
                        .arg(dir)
                        .arg(&jar)
                        .args(&node_args)
                        .args(&bus)
                        .stdin(Stdio::null())
                        .stdout(log.try_clone().unwrap())
                        .stderr(log)
                        .process_group(0);
                    command
                }
            };
            grid.nodes
                .push(Some(command.spawn().expect("start a Grid node")));
        }
        let want = nodes.len();
        wait_for(
            &format!("the Grid hub to list {want} nodes up (logs: grid-*.log)"),
            Duration::from_secs(180),
            || {
                let status = grid.status()?;
                let up = status["value"]["nodes"]
                    .as_array()?
                    .iter()
                    .filter(|n| n["availability"] == "UP")
                    .count();
                (status["value"]["ready"] == true && up == want).then_some(())
            },
        );
        grid
    }

    /// The hub's `/status`, when it answers.
    pub fn status(&self) -> Option<Value> {
        let address = self.url.strip_prefix("http://")?;
        let mut stream = TcpStream::connect(address).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET /status HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        serde_json::from_str(answer.split_once("\r\n\r\n")?.1).ok()
    }

    /// Sessions running on each node (in the order started), by the hub's
    /// account; a killed node shows 0.
    pub fn sessions_per_node(&self) -> Vec<usize> {
        let status = self.status().unwrap_or_default();
        let empty = Vec::new();
        let listed = status["value"]["nodes"].as_array().unwrap_or(&empty);
        self.nodes
            .iter()
            .map(|node| {
                let Some(node) = node else { return 0 };
                let port = node_port(node.id());
                listed
                    .iter()
                    .filter(|n| {
                        port.is_some_and(|p| {
                            n["uri"].as_str() == Some(&format!("http://127.0.0.1:{p}"))
                        })
                    })
                    .flat_map(|n| n["slots"].as_array().into_iter().flatten())
                    .filter(|slot| !slot["session"].is_null())
                    .count()
            })
            .collect()
    }

    /// Kills node `n` and every process it started (its chromedrivers and
    /// their Chromiums) with SIGKILL, as when its host goes away.
    pub fn kill_node(&mut self, n: usize) {
        if let Some(mut node) = self.nodes[n].take() {
            kill_tree(&mut node);
        }
    }
}

impl Drop for Grid {
    fn drop(&mut self) {
        for n in 0..self.nodes.len() {
            self.kill_node(n);
        }
        kill_tree(&mut self.hub);
    }
}

/// `java -jar JAR` with its output in `grid-NAME.log`, in a process group
/// of its own.
fn java(jar: &Path, logs: &Path, name: &str) -> Command {
    let log = File::create(logs.join(format!("grid-{name}.log"))).unwrap();
    let mut command = Command::new("java");
    command
        .arg("-jar")
        .arg(jar)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
    command
}

/// The server jar and Java, or a panic that says how to get them.
pub fn require_grid() -> PathBuf {
    for (program, package) in [
        ("java", "openjdk-17-jre-headless"),
        ("unshare", "util-linux"),
    ] {
        assert!(
            on_path(program),
            "{program} is not installed; install it with `apt-get install {package}` (scripts/test does this)"
        );
    }
    let target = Path::new(binary())
        .parent()
        .and_then(Path::parent)
        .expect("the target directory");
    let jar = target.join("selenium").join(JAR_NAME);
    assert!(
        jar.is_file(),
        "the Selenium server is not at {}; fetch it with `scripts/test` (npm pack @nightwatch/selenium-server@4.20.0, then package/lib/{JAR_NAME} into that directory)",
        jar.display()
    );
    jar
}

/// The TCP port the node process `pid` (or its `java` child) was given.
fn node_port(pid: u32) -> Option<u16> {
    let mut pids = vec![pid];
    pids.extend(descendants(pid));
    pids.into_iter().find_map(|pid| {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let at = args.iter().position(|a| a == "node")?;
        let port = args[at..].iter().position(|a| a == "--port")?;
        args.get(at + port + 1)?.parse().ok()
    })
}

/// Every living descendant of `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut at = 0;
    while at < found.len() {
        let parent = found[at];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        at += 1;
    }
    found.remove(0);
    found
}

/// SIGKILL to a process, its group and every descendant found first.
fn kill_tree(child: &mut Child) {
    let pid = child.id();
    let tree = descendants(pid);
    // SAFETY: kill(2) on the group this test created and on its descendants.
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
        for p in tree {
            libc::kill(p as libc::pid_t, libc::SIGKILL);
        }
    }
    let _ = child.wait();
}
