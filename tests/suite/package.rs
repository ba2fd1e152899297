//! The Debian package: `scripts/package` builds it around the binary under test,
//! lintian reads it, and dpkg installs, upgrades, removes and purges it inside a
//! throwaway Debian root (made once by mmdebstrap and cached in the target
//! directory), with the root's own /proc mounted in a private mount namespace.
//!
//! Needs root, `cargo deb`, lintian, mmdebstrap and Debian's mirror; `scripts/test`
//! installs the tools.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

use crate::support::{binary, on_path};

const SOURCE: &str = env!("CARGO_MANIFEST_DIR");
pub(crate) const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// What the throwaway root holds beyond Debian's minimal base: the tools the
/// maintainer scripts call.
const BASE_PACKAGES: &str =
    "systemd-standalone-sysusers,systemd-standalone-tmpfiles,init-system-helpers";

/// Panics with the way to install `program` unless it is on the PATH.
#[track_caller]
pub(crate) fn require(program: &str, package: &str) {
    assert!(
        on_path(program),
        "`{program}` is not installed; run scripts/test (it installs it) or `apt-get install {package}`"
    );
}

#[track_caller]
pub(crate) fn require_root() {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "the package tests install into a throwaway root with `dpkg --root`, which needs root: run them as root"
    );
}

/// Runs a command, panicking with its output unless it succeeds.
#[track_caller]
pub(crate) fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Where this test run keeps its packages and the cached base root: beside the
/// binary under test, in the target directory.
pub(crate) fn work_dir() -> PathBuf {
    let dir = Path::new(binary())
        .parent()
        .expect("the binary's directory")
        .join("package-test");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}

/// The package of the binary under test, built once per test run.
pub(crate) fn package() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| {
        assert!(
            Command::new("cargo")
                .args(["deb", "--version"])
                .output()
                .is_ok_and(|o| o.status.success()),
            "`cargo deb` is not installed; run scripts/test (it installs it) or `cargo install --locked cargo-deb`"
        );
        require("dpkg-deb", "dpkg");
        let out = work_dir().join("debs");
        let _ = fs::remove_dir_all(&out);
        let built = run(Command::new("bash")
            .arg(format!("{SOURCE}/scripts/package"))
            .args(["--binary", binary(), "--out"])
            .arg(&out));
        let deb = PathBuf::from(text(&built.stdout).trim());
        assert!(deb.is_file(), "scripts/package printed {deb:?}");
        deb
    })
}

/// A second version of the package whose example config changed, as the next
/// release would ship it: the first one unpacked, edited and packed again.
fn next_version(dir: &Path) -> PathBuf {
    let tree = dir.join("next");
    run(Command::new("dpkg-deb").arg("-R").arg(package()).arg(&tree));
    let control = tree.join("DEBIAN/control");
    let fields = fs::read_to_string(&control).unwrap();
    fs::write(
        &control,
        fields.replace("Version: 0.1.0-1", "Version: 0.1.0-2"),
    )
    .unwrap();
    let mut example = fs::OpenOptions::new()
        .append(true)
        .open(tree.join("etc/reporter/reporter.toml"))
        .unwrap();
    writeln!(example, "# a line new in 0.1.0-2").unwrap();
    let deb = dir.join("reporter_0.1.0-2_amd64.deb");
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-b"])
        .arg(&tree)
        .arg(&deb));
    deb
}

/// A tarball of a minimal root of this host's Debian release, made once and
/// kept in the target directory for later runs.
fn base_root_tarball() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| debian_root_tarball("minbase", BASE_PACKAGES))
}

/// A temporary directory holding `root/`, unpacked from a root's tarball.
pub(crate) fn unpacked_root(tarball: &Path) -> TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-xf")
        .arg(tarball));
    dir
}

/// A tarball of this host's Debian release, minimal base plus `packages`
/// (comma-separated), made with mmdebstrap and kept in the target directory
/// as `RELEASE-NAME.tar` for later runs.
pub(crate) fn debian_root_tarball(name: &str, packages: &str) -> PathBuf {
    let release = fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME=").map(str::to_string))
        .expect("VERSION_CODENAME in /etc/os-release: these tests need a Debian host");
    let tarball = work_dir().join(format!("{release}-{name}.tar"));
    if tarball.is_file() {
        return tarball;
    }
    require("mmdebstrap", "mmdebstrap");
    let partial = tarball.with_extension("partial.tar");
    run(Command::new("mmdebstrap")
        .args(["--quiet", "--variant=minbase", "--format=tar"])
        .arg(format!("--include={packages}"))
        .arg(&release)
        .arg(&partial)
        .arg("http://deb.debian.org/debian"));
    fs::rename(&partial, &tarball).unwrap();
    tarball
}

/// A fresh Debian root with stand-ins for Chromium and chromedriver installed
/// (the real ones weigh half a gigabyte; dpkg only needs their names).
struct DebianRoot {
    dir: TempDir,
}

impl DebianRoot {
    fn new() -> Self {
        require_root();
        require("unshare", "util-linux");
        let dir = unpacked_root(base_root_tarball());
        let this = DebianRoot { dir };
        for name in ["chromium", "chromium-driver"] {
            let stub = this.dir.path().join(name);
            fs::create_dir_all(stub.join("DEBIAN")).unwrap();
            fs::write(
                stub.join("DEBIAN/control"),
                format!(
                    "Package: {name}\nVersion: 999\nArchitecture: all\n\
                     Maintainer: tests <tests@example.org>\nDescription: a stand-in for the package tests\n"
                ),
            )
            .unwrap();
            run(Command::new("dpkg-deb")
                .args(["--root-owner-group", "-b"])
                .arg(&stub)
                .arg(stub.with_extension("deb")));
            this.dpkg(
                &["-i", &stub.with_extension("deb").display().to_string()],
                "",
            )
            .ok();
        }
        this
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root().join(relative)
    }

    /// `dpkg --root` with the root's /proc mounted (systemd-tmpfiles needs it)
    /// in a mount namespace of its own, so nothing stays mounted afterwards.
    fn dpkg(&self, args: &[&str], stdin: &str) -> Dpkg {
        let root = self.root();
        let mut child = Command::new("unshare")
            .args(["--mount", "--fork", "sh", "-c"])
            .arg(r#"mount -t proc proc "$1/proc" && shift && exec "$@""#)
            .arg("sh")
            .arg(&root)
            .arg("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(args)
            .env("PATH", PATH)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run unshare");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        Dpkg {
            args: args.join(" "),
            success: output.status.success(),
            output: format!("{}{}", text(&output.stdout), text(&output.stderr)),
        }
    }

    /// The installed version of reporter, or None.
    fn installed_version(&self) -> Option<String> {
        let output = Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                self.path("var/lib/dpkg").display()
            ))
            .args(["-W", "-f", "${db:Status-Abbrev} ${Version}", "reporter"])
            .output()
            .unwrap();
        let status = text(&output.stdout);
        status
            .strip_prefix("ii  ")
            .map(|version| version.trim().to_string())
    }

    fn uid_gid(&self, name: &str) -> Option<(u32, u32)> {
        fs::read_to_string(self.path("etc/passwd"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:x:")).map(str::to_string))
            .map(|rest| {
                let mut ids = rest.split(':').map(|n| n.parse().unwrap());
                (ids.next().unwrap(), ids.next().unwrap())
            })
    }

    /// Every path with its type, mode, owner and size (or link target), except
    /// dpkg's own records, /proc and /tmp.
    fn snapshot(&self) -> BTreeMap<String, String> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                if ["var/lib/dpkg", "var/log", "proc", "tmp"].contains(&relative.as_str()) {
                    continue;
                }
                let meta = fs::symlink_metadata(&path).unwrap();
                let what = if meta.file_type().is_symlink() {
                    format!("-> {}", fs::read_link(&path).unwrap().display())
                } else {
                    // A directory's size is the blocks its entries once took:
                    // it does not shrink when they go, so it is not compared.
                    let len = if meta.is_dir() { 0 } else { meta.len() };
                    format!("{:o} {}:{} {len}", meta.mode(), meta.uid(), meta.gid())
                };
                out.insert(relative, what);
                if meta.is_dir() {
                    walk(root, &path, out);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.root(), &self.root(), &mut out);
        out
    }
}

struct Dpkg {
    args: String,
    success: bool,
    output: String,
}

impl Dpkg {
    #[track_caller]
    fn ok(self) -> Self {
        assert!(self.success, "dpkg {} failed:\n{}", self.args, self.output);
        self
    }
}

/// The files that list users and groups (and their backups), which the
/// system user changes and which stay changed: Debian leaves system users.
fn lists_users(path: &str) -> bool {
    let path = path.strip_suffix('-').unwrap_or(path);
    ["etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"].contains(&path)
}

/// Mode (permission bits) and owner of a path inside the root.
fn owner_mode(path: &Path) -> (u32, u32, u32) {
    let meta = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.permissions().mode() & 0o7777, meta.uid(), meta.gid())
}

#[test]
fn lintian_finds_no_error_and_no_warning_in_the_package() {
    require("lintian", "lintian");
    let output = Command::new("lintian")
        .args(["--fail-on", "error,warning", "--display-info"])
        .arg(package())
        .output()
        .expect("run lintian");
    let report = text(&output.stdout);
    let complaints: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .collect();
    assert!(
        output.status.success() && complaints.is_empty(),
        "lintian ({}):\n{report}{}",
        output.status,
        text(&output.stderr)
    );
}

#[test]
fn the_package_declares_its_conffile_and_what_it_needs_at_run_time() {
    let deb = package();
    let field = |name: &str| {
        text(&run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name)).stdout)
            .trim()
            .to_string()
    };
    let depends = field("Depends");
    for needed in [
        "chromium",
        "chromium-driver",
        "libc6",
        "systemd | systemd-standalone-sysusers",
    ] {
        assert!(
            depends.split(", ").any(|d| d.starts_with(needed)),
            "Depends: {depends}"
        );
    }
    assert_eq!(field("Recommends"), "redis-server, chromium-headless-shell");
    let control = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(deb)
        .arg(control.path()));
    assert_eq!(
        fs::read_to_string(control.path().join("conffiles")).unwrap(),
        "/etc/reporter/reporter.toml\n"
    );
    let contents = text(&run(Command::new("dpkg-deb").arg("-c").arg(deb)).stdout);
    for line in contents.lines() {
        assert!(line.contains(" 0/0 "), "every file belongs to root: {line}");
    }
    for man in [
        "reporter.1.gz",
        "reporter-run-slot.1.gz",
        "reporter-work.1.gz",
    ] {
        assert!(
            contents.contains(&format!("./usr/share/man/man1/{man}\n")),
            "{man} in:\n{contents}"
        );
    }
}

#[test]
fn install_then_remove_then_purge_leaves_only_the_system_user() {
    let root = DebianRoot::new();
    let before = root.snapshot();
    let deb = package().display().to_string();
    root.dpkg(&["-i", &deb], "").ok();
    assert_eq!(root.installed_version().as_deref(), Some("0.1.0-1"));

    // The user from sysusers.d, the owners and modes from tmpfiles.d.
    let (uid, gid) = root.uid_gid("reporter").expect("the reporter user");
    assert!(uid < 1000, "a system user: uid {uid}");
    let passwd = fs::read_to_string(root.path("etc/passwd")).unwrap();
    assert!(
        passwd.contains(":/var/lib/reporter:/usr/sbin/nologin\n"),
        "{passwd}"
    );
    let expected: Vec<(&str, (u32, u32, u32))> = vec![
        ("usr/bin/reporter", (0o755, 0, 0)),
        ("etc/reporter", (0o755, 0, 0)),
        ("etc/reporter/reporter.toml", (0o640, 0, gid)),
        ("etc/reporter/credentials", (0o700, 0, 0)),
        // Before any unit has started: doctor and `users add` work at once.
        ("var/lib/reporter", (0o700, uid, gid)),
        (
            "lib/systemd/system/reporter-run-slot.service",
            (0o644, 0, 0),
        ),
        ("lib/systemd/system/reporter-run-slot.timer", (0o644, 0, 0)),
        ("lib/systemd/system/reporter-worker@.service", (0o644, 0, 0)),
        ("lib/systemd/system/reporter-api.socket", (0o644, 0, 0)),
        ("lib/systemd/system/reporter-api.service", (0o644, 0, 0)),
        ("usr/lib/sysusers.d/reporter.conf", (0o644, 0, 0)),
        ("usr/lib/tmpfiles.d/reporter.conf", (0o644, 0, 0)),
        ("usr/share/doc/reporter/reporter.toml", (0o644, 0, 0)),
        ("usr/share/doc/reporter/copyright", (0o644, 0, 0)),
        (
            "usr/share/bash-completion/completions/reporter",
            (0o644, 0, 0),
        ),
        ("usr/share/zsh/vendor-completions/_reporter", (0o644, 0, 0)),
        (
            "usr/share/fish/vendor_completions.d/reporter.fish",
            (0o644, 0, 0),
        ),
        ("usr/share/man/man1/reporter.1.gz", (0o644, 0, 0)),
        ("usr/share/reporter/grafana/reporter.json", (0o644, 0, 0)),
        (
            "usr/share/reporter/prometheus/reporter-alerts.yml",
            (0o644, 0, 0),
        ),
    ];
    for (path, want) in &expected {
        assert_eq!(
            owner_mode(&root.path(path)),
            *want,
            "owner and mode of {path}"
        );
    }
    // Every file the package added is one of the expected, a man page, a
    // directory of them, or documentation.
    let after = root.snapshot();
    for (path, what) in after.iter().filter(|(p, _)| !before.contains_key(*p)) {
        // Whatever the list above leaves out is root's, 0644 or a 0755 directory.
        if !lists_users(path) && !expected.iter().any(|(p, _)| p == path) {
            assert!(
                what.starts_with("100644 0:0 ") || what.starts_with("40755 0:0 "),
                "{path}: {what}"
            );
        }
        // With a merged /usr, /lib/systemd/system is /usr/lib/systemd/system.
        let path = &path
            .strip_prefix("usr/")
            .filter(|p| p.starts_with("lib/systemd"))
            .map_or(path.clone(), str::to_string);
        let known = lists_users(path)
            || expected.iter().any(|(p, _)| p == path)
            || expected.iter().any(|(p, _)| p.starts_with(&format!("{path}/")))
            || path.starts_with("usr/share/man/man1/reporter")
            || path.starts_with("usr/share/doc/reporter/")
            || path == "usr/share/lintian/overrides/reporter"
            // deb-systemd-helper's record of each unit, for purge.
            || path.starts_with("var/lib/systemd/deb-systemd-helper-enabled/reporter-");
        assert!(known, "unexpected new path {path}");
    }
    // Nothing is enabled: no link to a reporter unit anywhere under /etc/systemd.
    let links: Vec<&String> = after
        .iter()
        .filter(|(p, what)| p.starts_with("etc/systemd/") && what.contains("reporter"))
        .map(|(p, _)| p)
        .collect();
    assert!(links.is_empty(), "enabled by the package: {links:?}");
    // The binary runs inside the root, on its own libraries.
    let version = run(Command::new("chroot")
        .arg(root.root())
        .args(["/usr/bin/reporter", "--version"]));
    assert!(
        text(&version.stdout).starts_with("reporter "),
        "{}",
        text(&version.stdout)
    );

    // An upgrade of an untouched config replaces it, without a question.
    let next = next_version(root.dir.path());
    let upgrade = root.dpkg(&["-i", &next.display().to_string()], "").ok();
    assert!(
        !upgrade.output.contains("Configuration file"),
        "{}",
        upgrade.output
    );
    assert_eq!(root.installed_version().as_deref(), Some("0.1.0-2"));
    let config = fs::read_to_string(root.path("etc/reporter/reporter.toml")).unwrap();
    assert!(config.ends_with("# a line new in 0.1.0-2\n"), "{config}");
    assert!(!root.path("etc/reporter/reporter.toml.dpkg-dist").exists());
    assert_eq!(
        owner_mode(&root.path("etc/reporter/reporter.toml")),
        (0o640, 0, gid)
    );

    // The operator's state: a password, a database, and what `systemctl enable
    // reporter-run-slot.timer reporter-worker@1` links.
    for (link, unit) in [
        (
            "timers.target.wants/reporter-run-slot.timer",
            "reporter-run-slot.timer",
        ),
        (
            "multi-user.target.wants/reporter-worker@1.service",
            "reporter-worker@.service",
        ),
    ] {
        let link = root.path(&format!("etc/systemd/system/{link}"));
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(format!("/lib/systemd/system/{unit}"), &link).unwrap();
    }
    fs::write(root.path("etc/reporter/credentials/alice"), "secret\n").unwrap();
    fs::create_dir_all(root.path("var/lib/reporter")).unwrap();
    fs::write(root.path("var/lib/reporter/reporter.db"), "").unwrap();

    root.dpkg(&["-r", "reporter"], "").ok();
    assert_eq!(root.installed_version(), None);
    for gone in [
        "usr/bin/reporter",
        "lib/systemd/system/reporter-worker@.service",
    ] {
        assert!(!root.path(gone).exists(), "{gone} after remove");
    }
    for kept in [
        "etc/reporter/reporter.toml",
        "etc/reporter/credentials/alice",
        "var/lib/reporter/reporter.db",
    ] {
        assert!(root.path(kept).exists(), "{kept} is kept by remove");
    }

    root.dpkg(&["-P", "reporter"], "").ok();
    let purged = root.snapshot();
    let mut changed: Vec<String> = before
        .keys()
        .chain(purged.keys())
        .filter(|p| before.get(*p) != purged.get(*p))
        .cloned()
        .collect();
    changed.sort();
    changed.dedup();
    let left: Vec<&String> = changed.iter().filter(|p| !lists_users(p)).collect();
    assert!(left.is_empty(), "purge left or changed: {left:#?}");
    assert!(
        root.uid_gid("reporter").is_some(),
        "the user stays after purge"
    );
}

#[test]
fn an_upgrade_keeps_the_operators_edited_config_and_sets_the_new_example_beside_it() {
    let root = DebianRoot::new();
    let next = next_version(root.dir.path());
    root.dpkg(&["-i", &package().display().to_string()], "")
        .ok();
    let config = root.path("etc/reporter/reporter.toml");
    let mut edited = fs::read_to_string(&config).unwrap();
    edited.push_str("# the operator's edit\n");
    fs::write(&config, &edited).unwrap();
    let (_, gid) = root.uid_gid("reporter").unwrap();

    // dpkg asks; the answer "N" (also its default) keeps the operator's file.
    let upgrade = root.dpkg(&["-i", &next.display().to_string()], "N\n").ok();
    assert!(
        upgrade
            .output
            .contains("Configuration file '/etc/reporter/reporter.toml'"),
        "dpkg asks about the config:\n{}",
        upgrade.output
    );
    assert_eq!(root.installed_version().as_deref(), Some("0.1.0-2"));
    assert_eq!(fs::read_to_string(&config).unwrap(), edited);
    assert_eq!(owner_mode(&config), (0o640, 0, gid));
    let shipped = fs::read_to_string(root.path("etc/reporter/reporter.toml.dpkg-dist")).unwrap();
    assert!(shipped.ends_with("# a line new in 0.1.0-2\n"), "{shipped}");
    assert!(!shipped.contains("the operator's edit"));
}

#[test]
fn package_help_says_what_it_builds_and_a_bad_argument_or_binary_is_refused() {
    let script = format!("{SOURCE}/scripts/package");
    let help = run(Command::new("bash").arg(&script).arg("--help"));
    let help = text(&help.stdout);
    assert!(help.starts_with("Usage: scripts/package"), "{help}");
    assert!(help.contains("cargo deb --no-build"), "{help}");
    for (args, message) in [
        (
            vec!["--bogus"],
            "package: unknown argument `--bogus`; see scripts/package --help\n",
        ),
        (
            vec!["--binary", "/nonexistent/reporter"],
            "package: binary `/nonexistent/reporter` is not an executable file; build it or pass another --binary\n",
        ),
    ] {
        let refused = Command::new("bash")
            .arg(&script)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&refused.stderr), message, "{args:?}");
    }
}
