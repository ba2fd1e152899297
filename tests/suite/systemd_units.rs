//! The unit files in `systemd/` pass systemd's own offline checks on this machine:
//! `systemd-analyze verify` says nothing about them, and `systemd-analyze security`
//! scores them low. No systemd needs to be running.
//!
//! `verify` resolves everything inside `--root=`: the unit files must sit in a unit
//! directory of that tree, the targets they depend on (`sysinit.target`, ...) must be
//! there too, and so must an executable `/usr/bin/reporter`. So each check builds a
//! throwaway root: a copy of the host's `/usr/lib/systemd/system`, the units under
//! `etc/systemd/system`, and a stub `usr/bin/reporter`. Nothing is installed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

const UNIT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd");
const WORKER: &str = "reporter-worker@.service";
const RUN_SLOT: &str = "reporter-run-slot.service";
const TIMER: &str = "reporter-run-slot.timer";
const API: &str = "reporter-api.service";
const API_SOCKET: &str = "reporter-api.socket";
const UNITS: [&str; 5] = [RUN_SLOT, TIMER, WORKER, API, API_SOCKET];

/// Highest acceptable `systemd-analyze security` exposure of the worker unit (it runs
/// Chromium, so it cannot have MemoryDenyWriteExecute= or a private network).
const WORKER_MAX_EXPOSURE: f64 = 2.5;
/// Highest acceptable exposure of the API unit (the bound).
const API_MAX_EXPOSURE: f64 = 2.5;
/// Highest acceptable exposure of the run-slot unit, which runs no browser.
const RUN_SLOT_MAX_EXPOSURE: f64 = 1.5;

/// Runs `systemd-analyze` with these arguments, or fails saying how to get it.
fn systemd_analyze(args: &[&str]) -> Output {
    match Command::new("systemd-analyze").args(args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "systemd-analyze is not installed, so the unit files cannot be checked; \
             install it with `apt-get install systemd`"
        ),
        Err(e) => panic!("could not run systemd-analyze {args:?}: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn unit_path(name: &str) -> PathBuf {
    Path::new(UNIT_DIR).join(name)
}

fn read_unit(name: &str) -> String {
    let path = unit_path(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The values of every `key=` line of a unit file, in order (later ones win or add,
/// depending on the key).
fn values(unit: &str, key: &str) -> Vec<String> {
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.trim().to_string())
        .collect()
}

/// Copies a directory tree, keeping symbolic links as links (unit aliases and
/// `.wants/` entries are relative links; they resolve inside the fake root too).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    let entries = fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("directory entry");
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_symlink() {
            let link = fs::read_link(&source).expect("read link");
            std::os::unix::fs::symlink(&link, &target)
                .unwrap_or_else(|e| panic!("symlink {}: {e}", target.display()));
        } else if kind.is_dir() {
            copy_tree(&source, &target);
        } else if kind.is_file() {
            fs::copy(&source, &target).unwrap_or_else(|e| panic!("copy {}: {e}", source.display()));
        }
    }
}

/// A throwaway file-system root for `systemd-analyze verify --root=`.
struct FakeRoot {
    dir: TempDir,
}

impl FakeRoot {
    /// The host's system units, our units, and (if `with_binary`) a stub reporter.
    fn new(with_binary: bool) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path();
        let host_units = Path::new("/usr/lib/systemd/system");
        assert!(
            host_units.is_dir(),
            "{} is missing; install systemd with `apt-get install systemd`",
            host_units.display()
        );
        copy_tree(host_units, &root.join("usr/lib/systemd/system"));
        // Hosts without a merged /usr keep units in /lib/systemd/system as well.
        let split_lib = Path::new("/lib/systemd/system");
        if !Path::new("/lib").is_symlink() && split_lib.is_dir() {
            copy_tree(split_lib, &root.join("lib/systemd/system"));
        }
        let etc = root.join("etc/systemd/system");
        fs::create_dir_all(&etc).expect("etc/systemd/system");
        for unit in UNITS {
            fs::copy(unit_path(unit), etc.join(unit))
                .unwrap_or_else(|e| panic!("copy {unit}: {e}"));
        }
        if with_binary {
            let bin = root.join("usr/bin");
            fs::create_dir_all(&bin).expect("usr/bin");
            let stub = bin.join("reporter");
            fs::write(&stub, "#!/bin/sh\nexit 0\n").expect("stub reporter");
            fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        FakeRoot { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds `line` right after the `[section]` header of a unit inside the root.
    fn add_line(&self, unit: &str, section: &str, line: &str) {
        let path = self.path().join("etc/systemd/system").join(unit);
        let header = format!("[{section}]\n");
        let original = fs::read_to_string(&path).expect("unit in fake root");
        assert!(original.contains(&header), "{unit} has no [{section}]");
        let changed = original.replacen(&header, &format!("{header}{line}\n"), 1);
        fs::write(&path, changed).expect("write unit");
    }

    /// `systemd-analyze verify --root=ROOT UNIT`: exit status and everything it said.
    fn verify(&self, unit: &str) -> (bool, String) {
        let root = format!("--root={}", self.path().display());
        let output = systemd_analyze(&["verify", &root, unit]);
        let said = format!("{}{}", text(&output.stdout), text(&output.stderr));
        (output.status.success(), said)
    }
}

/// The overall exposure from `systemd-analyze security --offline=true FILE`, and the
/// full table for error messages.
fn exposure(unit: &str) -> (f64, String) {
    let path = unit_path(unit);
    let output = systemd_analyze(&[
        "security",
        "--offline=true",
        "--no-pager",
        path.to_str().expect("utf-8 path"),
    ]);
    let report = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "systemd-analyze security failed on {unit}:\n{report}"
    );
    let line = report
        .lines()
        .find(|line| line.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure for {unit} in:\n{report}"));
    let score = line
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure in {line:?}"));
    (score, report)
}

/// The lines of the security table that count against the unit.
fn exposed_settings(report: &str) -> String {
    report
        .lines()
        .filter(|line| line.starts_with('✗'))
        .collect::<Vec<_>>()
        .join("\n")
}

fn seconds(span: &str) -> f64 {
    let output = systemd_analyze(&["timespan", span]);
    let said = text(&output.stdout);
    assert!(output.status.success(), "bad time span {span:?}: {said}");
    said.lines()
        .find_map(|line| line.trim().strip_prefix("μs:"))
        .and_then(|micros| micros.trim().parse::<f64>().ok())
        .map(|micros| micros / 1e6)
        .unwrap_or_else(|| panic!("cannot read `systemd-analyze timespan {span}`: {said}"))
}

#[test]
fn every_unit_passes_systemd_analyze_verify_silently() {
    let root = FakeRoot::new(true);
    for unit in UNITS {
        let (ok, said) = root.verify(unit);
        assert!(
            ok && said.is_empty(),
            "`systemd-analyze verify {unit}` must succeed and print nothing \
             (it exits 0 even on unknown keys and bad values); it said:\n{said}"
        );
    }
}

#[test]
fn systemd_analyze_verify_speaks_up_about_a_broken_unit() {
    // Guards the check above: in this fake root verify really reads our files.
    let root = FakeRoot::new(true);
    root.add_line(WORKER, "Service", "KillMod=mixed");
    root.add_line(TIMER, "Timer", "OnCalendar=hourlyy");
    let (_, said) = root.verify(WORKER);
    assert!(
        said.contains("KillMod"),
        "verify missed an unknown key: {said:?}"
    );
    let (_, said) = root.verify(TIMER);
    assert!(
        said.contains("hourlyy"),
        "verify missed a bad calendar: {said:?}"
    );
}

#[test]
fn systemd_analyze_verify_fails_when_usr_bin_reporter_is_missing() {
    // Why the fake root carries a stub binary: verify checks ExecStart= inside --root.
    let root = FakeRoot::new(false);
    let (ok, said) = root.verify(RUN_SLOT);
    assert!(!ok, "verify should fail without /usr/bin/reporter: {said}");
    assert!(said.contains("/usr/bin/reporter"), "{said}");
}

#[test]
fn the_worker_unit_scores_2_5_or_lower_in_systemd_analyze_security() {
    let (score, report) = exposure(WORKER);
    assert!(
        score <= WORKER_MAX_EXPOSURE,
        "{WORKER} exposure {score} is above {WORKER_MAX_EXPOSURE}; counting against it:\n{}",
        exposed_settings(&report)
    );
}

#[test]
fn the_run_slot_service_scores_1_5_or_lower_in_systemd_analyze_security() {
    let (score, report) = exposure(RUN_SLOT);
    assert!(
        score <= RUN_SLOT_MAX_EXPOSURE,
        "{RUN_SLOT} exposure {score} is above {RUN_SLOT_MAX_EXPOSURE}; counting against it:\n{}",
        exposed_settings(&report)
    );
}

#[test]
fn every_setting_in_the_units_has_a_comment_line_above_it() {
    for unit in UNITS {
        let content = read_unit(unit);
        let mut previous = "";
        for (number, line) in content.lines().enumerate() {
            let line = line.trim();
            let is_setting = !line.is_empty() && !line.starts_with(['#', ';', '[']);
            if is_setting {
                assert!(
                    previous.starts_with('#'),
                    "{unit}:{}: `{line}` has no comment line above it saying why",
                    number + 1
                );
                assert!(
                    !line.contains(" #"),
                    "{unit}:{}: `{line}`: systemd has no end-of-line comments; \
                     the text after # would become part of the value",
                    number + 1
                );
            }
            if !line.is_empty() {
                previous = line;
            }
        }
    }
}

#[test]
fn the_worker_unit_does_not_set_what_breaks_chromium() {
    // Each of these was tried with chromedriver and headless Chromium 156 under the
    // unit's other settings; see the comments in the unit file.
    let unit = read_unit(WORKER);
    assert!(
        values(&unit, "MemoryDenyWriteExecute")
            .iter()
            .all(|v| v != "yes"),
        "MemoryDenyWriteExecute=yes crashes every Chromium tab (V8 needs W+X memory)"
    );
    assert!(
        values(&unit, "ProcSubset").iter().all(|v| v != "pid"),
        "ProcSubset=pid hides /proc/cpuinfo, which Debian's /usr/bin/chromium needs"
    );
    assert_eq!(
        values(&unit, "SystemCallErrorNumber"),
        ["EPERM"],
        "without SystemCallErrorNumber=EPERM Chromium dies of SIGSYS on \
         landlock_create_ruleset()/pkey_alloc(), which @system-service lacks"
    );
    assert!(
        values(&unit, "SystemCallFilter")
            .iter()
            .all(|v| !(v.starts_with('~') && v.contains("@privileged"))),
        "SystemCallFilter=~@privileged crashes Chromium's tabs (capset)"
    );
    let families = values(&unit, "RestrictAddressFamilies").join(" ");
    for family in ["AF_UNIX", "AF_INET", "AF_INET6"] {
        assert!(
            families.split_whitespace().any(|f| f == family),
            "RestrictAddressFamilies= must allow {family}: {families}"
        );
    }
}

#[test]
fn the_worker_unit_lets_the_worker_drain_before_its_browsers_are_killed() {
    let unit = read_unit(WORKER);
    assert_eq!(values(&unit, "Type"), ["notify"]);
    assert_eq!(
        values(&unit, "KillMode"),
        ["mixed"],
        "SIGTERM must reach the worker alone; the rest of the group gets SIGKILL after it"
    );
    let stop = values(&unit, "TimeoutStopSec");
    let stop = seconds(stop.last().expect("TimeoutStopSec="));
    assert!(
        stop > 30.0,
        "the worker drains within 30 s; TimeoutStopSec={stop}s leaves no time to close browsers"
    );
    assert!(
        !values(&unit, "WatchdogSec").is_empty(),
        "WatchdogSec= is missing"
    );
    assert_eq!(values(&unit, "Restart"), ["on-failure"]);
}

#[test]
fn the_timer_starts_run_slot_hourly_within_a_minute_of_the_hour() {
    let unit = read_unit(TIMER);
    assert_eq!(values(&unit, "OnCalendar"), ["hourly"]);
    assert_eq!(values(&unit, "Persistent"), ["true"]);
    let late: f64 = ["AccuracySec", "RandomizedDelaySec"]
        .iter()
        .map(|key| {
            let value = values(&unit, key);
            seconds(value.last().unwrap_or_else(|| panic!("{key}= is missing")))
        })
        .sum();
    assert!(
        late <= 60.0,
        "run-slot rounds the time down to the hour and workers wait for its jobs: \
         the timer may start it at most a minute late, not {late}s"
    );
}

#[test]
fn every_unit_shares_one_state_directory_as_the_reporter_user() {
    for unit in [RUN_SLOT, WORKER] {
        let content = read_unit(unit);
        assert_eq!(values(&content, "User"), ["reporter"], "{unit}");
        assert_eq!(values(&content, "Group"), ["reporter"], "{unit}");
        assert_eq!(values(&content, "StateDirectory"), ["reporter"], "{unit}");
        assert!(
            values(&content, "DynamicUser").iter().all(|v| v != "yes"),
            "{unit}: DynamicUser= cannot share the state directory with operators"
        );
        assert_eq!(
            values(&content, "LoadCredential"),
            ["portal:/etc/reporter/credentials"],
            "{unit}"
        );
    }
}

#[test]
fn the_api_service_scores_2_5_or_lower_in_systemd_analyze_security() {
    let (score, report) = exposure(API);
    assert!(
        score <= API_MAX_EXPOSURE,
        "{API} exposure {score} is above {API_MAX_EXPOSURE}; counting against it:\n{}",
        exposed_settings(&report)
    );
}

#[test]
fn the_api_is_socket_activated_notifies_and_shares_the_state_directory() {
    let socket = read_unit(API_SOCKET);
    assert_eq!(values(&socket, "ListenStream"), ["127.0.0.1:8080"]);
    assert_eq!(
        values(&socket, "Accept"),
        ["no"],
        "one server, not one per connection"
    );
    let service = read_unit(API);
    assert_eq!(values(&service, "ExecStart"), ["/usr/bin/reporter serve"]);
    assert_eq!(values(&service, "Type"), ["notify"]);
    assert_eq!(values(&service, "Requires"), [API_SOCKET]);
    assert!(
        !values(&service, "WatchdogSec").is_empty(),
        "WatchdogSec= is missing"
    );
    let stop = seconds(
        values(&service, "TimeoutStopSec")
            .last()
            .expect("TimeoutStopSec="),
    );
    assert!(
        stop > 20.0,
        "the server drains for up to 20 s; TimeoutStopSec={stop}s cuts it short"
    );
    assert_eq!(values(&service, "User"), ["reporter"]);
    assert_eq!(values(&service, "StateDirectory"), ["reporter"]);
    assert!(
        values(&service, "LoadCredential").is_empty(),
        "the API never logs into the portal; it needs no portal passwords"
    );
}
