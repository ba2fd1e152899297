//! The package under a real systemd: a Debian root with systemd, dbus and
//! redis-server (made once with mmdebstrap and kept in the target directory),
//! the `.deb` that `scripts/package` builds installed into it, booted with
//! `systemd-nspawn --boot` on a network of its own. Everything is then asked
//! through `systemctl` and `journalctl` inside the container, with the
//! simulated portal. Needs root, systemd-container and mmdebstrap; run by
//! `scripts/test` as a step of its own.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::package::{
    PATH, debian_root_tarball, package, require, require_root, run, text, unpacked_root,
};

/// What the booted root holds beyond Debian's minimal base.
const PACKAGES: &str = "systemd,systemd-sysv,dbus,redis-server,init-system-helpers,procps";

/// The root's tarball, made once per target directory.
fn systemd_root_tarball() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| debian_root_tarball("systemd", PACKAGES))
}

/// A booted container; powered off and removed when dropped.
struct Container {
    dir: tempfile::TempDir,
    nspawn: Child,
    leader: u32,
}

impl Container {
    /// Unpacks the root, installs the package, applies `setup` to the root,
    /// boots it and waits until systemd says it is up.
    fn boot(setup: impl FnOnce(&Path)) -> Container {
        require_root();
        require("systemd-nspawn", "systemd-container");
        require("nsenter", "util-linux");
        let dir = unpacked_root(systemd_root_tarball());
        let root = dir.path().join("root");
        fs::copy(package(), root.join("reporter.deb")).unwrap();
        // Chromium and chromedriver are not needed by the simulated portal:
        // their absence is forced past.
        run(Command::new("unshare")
            .args(["--mount", "--fork", "sh", "-c"])
            .arg(r#"mount -t proc proc "$1/proc" && exec chroot "$1" dpkg -i --force-depends /reporter.deb"#)
            .arg("sh")
            .arg(&root)
            .env("PATH", PATH));
        setup(&root);
        let log = fs::File::create(dir.path().join("console.log")).unwrap();
        let nspawn = Command::new("systemd-nspawn")
            .args([
                "--boot",
                "--register=no",
                "--keep-unit",
                "--private-network",
                "--console=pipe",
                "--quiet",
                "--machine=reporter-test",
                "-D",
            ])
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("run systemd-nspawn");
        let mut container = Container {
            dir,
            leader: 0,
            nspawn,
        };
        container.leader = container.wait_for_leader();
        // Entering the container works once its init has set it up.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let state = container.shell("systemctl is-system-running --wait");
            let said = text(&state.stdout);
            if ["running", "degraded"].contains(&said.trim()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the container's systemd did not come up: {said}{}\n{}",
                text(&state.stderr),
                container.console()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        container
    }

    /// The container's PID 1, as the host sees it.
    fn wait_for_leader(&mut self) -> u32 {
        let nspawn = self.nspawn.id();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let child = fs::read_dir("/proc").unwrap().flatten().find_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
                let after = stat.rsplit_once(')')?.1;
                let ppid: u32 = after.split_whitespace().nth(1)?.parse().ok()?;
                let comm = stat.split_once('(')?.1.split_once(')')?.0.to_string();
                (ppid == nspawn && comm == "systemd").then_some(pid)
            });
            if let Some(pid) = child {
                return pid;
            }
            if let Some(status) = self.nspawn.try_wait().unwrap() {
                panic!("systemd-nspawn exited ({status}):\n{}", self.console());
            }
            assert!(
                Instant::now() < deadline,
                "no container init:\n{}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn console(&self) -> String {
        fs::read_to_string(self.dir.path().join("console.log")).unwrap_or_default()
    }

    /// Runs `script` with bash inside the container, as root.
    fn shell(&self, script: &str) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.leader.to_string(), "-a", "-r", "-w", "--"])
            .args(["/bin/bash", "-c", script])
            .env("PATH", PATH)
            .output()
            .expect("run nsenter")
    }

    /// As `shell`, and it must succeed; its stdout.
    #[track_caller]
    fn ok(&self, script: &str) -> String {
        let out = self.shell(script);
        assert!(
            out.status.success(),
            "`{script}` failed in the container ({}):\n{}{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `reporter ARGS` as the reporter user; its JSON output.
    #[track_caller]
    fn reporter_json(&self, args: &str) -> Value {
        let out = self.ok(&format!("runuser -u reporter -- reporter {args} --json"));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("`{args}`: {e}: {out}"))
    }

    /// A unit property.
    fn property(&self, unit: &str, name: &str) -> String {
        self.ok(&format!("systemctl show -P {name} {unit}"))
            .trim()
            .to_string()
    }

    #[track_caller]
    fn wait_for(&self, what: &str, limit: Duration, mut done: impl FnMut(&Container) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; the journal:\n{}",
                text(&self.shell("journalctl --no-pager -n 60").stdout)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.shell("systemctl poweroff");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.nspawn.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}

/// The run of the current hour, if the timer created it.
fn current_run(container: &Container) -> Option<Value> {
    let runs = container.reporter_json("progress");
    let run = runs.as_array()?.first()?.clone();
    Some(container.reporter_json(&format!("progress {}", run["run_id"])))
}

/// The simulated portal's record: (user, order) → times received.
fn reports(container: &Container) -> std::collections::HashMap<String, usize> {
    let log = container.ok("cat /var/lib/reporter/reports.jsonl 2>/dev/null || true");
    let mut counts = std::collections::HashMap::new();
    for line in log.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        *counts
            .entry(format!("{} {}", v["user"], v["order"]))
            .or_insert(0) += 1;
    }
    counts
}

#[test]
fn the_package_under_a_real_systemd_runs_the_timer_the_worker_and_the_api_and_logs_to_the_journal()
{
    let container = Container::boot(|root| {
        fs::write(
            root.join("etc/reporter/reporter.toml"),
            "time_zone = \"UTC\"\nlease_ttl = 3.0\nrange_lock_ttl = 600\n\
             [retry]\ndownload_retries = 30\ndownload_delay = 0.3\nreport_retries = 30\nreport_delay = 0.3\n\
             jitter = 0.0\norder_backoff = 0.1\n\
             [portal]\nkind = \"simulated\"\ndownload_ms = 200\nreport_ms = 40\nfailure_rate = 0.5\n\
             pending_orders = 300\nreport_log = \"/var/lib/reporter/reports.jsonl\"\n",
        )
        .unwrap();
        // A fresh install, before any unit has started: the package made the
        // state directory, so the operator's first commands work.
        let hour: u32 = text(&run(Command::new("date").args(["-u", "+%H"])).stdout)
            .trim()
            .parse()
            .unwrap();
        let next = (hour + 1) % 24;
        run(Command::new("chroot")
            .arg(root)
            .args([
                "sh",
                "-c",
                &format!(
                    "stat -c '%U %a' /var/lib/reporter | grep -qx 'reporter 700' && \
                 runuser -u reporter -- reporter users add alice && \
                 runuser -u reporter -- reporter reserve alice --hour {hour} && \
                 runuser -u reporter -- reporter users add bob && \
                 runuser -u reporter -- reporter reserve bob --hour {hour} && \
                 runuser -u reporter -- reporter users add carol && \
                 runuser -u reporter -- reporter reserve carol --hour {next}"
                ),
            ])
            .env("PATH", PATH));
        // The timer enabled, its last run two hours ago: Persistent=true
        // runs the missed hour once at boot.
        let wants = root.join("etc/systemd/system/timers.target.wants");
        fs::create_dir_all(&wants).unwrap();
        std::os::unix::fs::symlink(
            "/lib/systemd/system/reporter-run-slot.timer",
            wants.join("reporter-run-slot.timer"),
        )
        .unwrap();
        let stamps = root.join("var/lib/systemd/timers");
        fs::create_dir_all(&stamps).unwrap();
        let stamp = stamps.join("stamp-reporter-run-slot.timer");
        fs::write(&stamp, "").unwrap();
        run(Command::new("touch")
            .args(["-d", "2 hours ago"])
            .arg(&stamp));
    });
    let hour = container.ok("date -u +%H").trim().parse::<u32>().unwrap();

    // Both API units ship with the package.
    for unit in ["reporter-api.socket", "reporter-api.service"] {
        assert_eq!(container.property(unit, "LoadState"), "loaded", "{unit}");
    }

    // The missed hour is run once after boot.
    container.wait_for(
        "the timer to run the missed hour",
        Duration::from_secs(40),
        |c| current_run(c).is_some(),
    );
    let run_id = current_run(&container).unwrap()["run_id"].as_i64().unwrap();
    let runs = container.ok(
        "journalctl --no-pager -u reporter-run-slot.service | grep -c 'Finished reporter-run-slot.service' || true",
    );
    let same_hour = container.ok("date -u +%H").trim().parse::<u32>().unwrap() == hour;
    assert!(
        runs.trim() == "1" || !same_hour,
        "the missed hour ran {} times",
        runs.trim()
    );

    // A worker drains it: READY (active), STATUS, the watchdog; killed with
    // SIGKILL midway, systemd restarts it and nothing is lost or repeated.
    container.ok("systemctl start reporter-worker@1");
    assert_eq!(
        container.property("reporter-worker@1", "ActiveState"),
        "active"
    );
    container.wait_for("orders to be reported", Duration::from_secs(60), |c| {
        reports(c).len() >= 50
    });
    let status = container.property("reporter-worker@1", "StatusText");
    assert!(status.contains("browser permits held"), "STATUS=: {status}");
    container.ok("systemctl kill -s KILL reporter-worker@1");
    container.wait_for(
        "systemd to restart the killed worker",
        Duration::from_secs(40),
        |c| {
            c.property("reporter-worker@1", "NRestarts") == "1"
                && c.property("reporter-worker@1", "ActiveState") == "active"
        },
    );
    container.wait_for("the run to end", Duration::from_secs(180), |c| {
        current_run(c).is_some_and(|run| run["status"] != "running" && run["status"] != "queued")
    });
    let run = current_run(&container).unwrap();
    let counts = reports(&container);
    assert!(
        counts.values().all(|n| *n == 1),
        "an order was submitted twice"
    );
    let recorded: i64 = run["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["orders_reported"].as_i64().unwrap())
        .sum();
    assert_eq!(
        recorded as usize,
        counts.len(),
        "reported orders and the portal's record: {run}"
    );

    // A warning the simulated faults provoked is in the journal at its
    // priority, with the run as a field of its own.
    let warnings = container.ok(&format!(
        "journalctl --no-pager -o json -p warning REPORTER_RUN={run_id}"
    ));
    let first: Value = serde_json::from_str(warnings.lines().next().unwrap_or_else(|| {
        panic!(
            "no warning with REPORTER_RUN={run_id}; the journal:\n{}",
            container.ok("journalctl --no-pager -n 40 -u reporter-worker@1")
        )
    }))
    .unwrap();
    assert!(
        ["3", "4"].contains(&first["PRIORITY"].as_str().unwrap()),
        "{first}"
    );
    assert_eq!(
        first["REPORTER_WORKER"].as_str(),
        Some(format!("{}-1", container.ok("cat /proc/sys/kernel/hostname").trim()).as_str()),
        "{first}"
    );
    assert_eq!(first["_TRANSPORT"], "journal", "{first}");

    // `systemctl stop` mid-run: exit 0 and the jobs handed back.
    container.ok("systemctl stop reporter-run-slot.timer");
    container.ok(&format!(
        "runuser -u reporter -- reporter run-slot --hour {} --date $(date -u -d tomorrow +%F) --force",
        hour
    ));
    container.ok("systemctl restart reporter-worker@1");
    container.wait_for(
        "the second run's orders to start",
        Duration::from_secs(60),
        |c| reports(c).len() >= counts.len() + 20,
    );
    container.ok("systemctl stop reporter-worker@1");
    assert_eq!(
        container.property("reporter-worker@1", "ExecMainStatus"),
        "0"
    );
    let status = container.reporter_json("status");
    assert_eq!(status["queue"]["running"], 0, "jobs handed back: {status}");

    // The API's socket answers /healthz and starts the service.
    container.ok("systemctl start reporter-api.socket");
    let health = container.ok(
        "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' >&3 && cat <&3",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(
        container.property("reporter-api.service", "ActiveState"),
        "active"
    );

    // Each service's exposure, as systemd scores it.
    for unit in [
        "reporter-worker@1.service",
        "reporter-run-slot.service",
        "reporter-api.service",
    ] {
        let out = container.ok(&format!(
            "systemd-analyze security --no-pager {unit} | tail -1"
        ));
        let score: f64 = out
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("{unit}: {out}"));
        assert!(score <= 2.5, "{unit} scores {score}: {out}");
    }
}
