//! `scripts/install` into a temporary root: every file in place with its mode,
//! a config that loads, completions and man pages generated from the binary,
//! and an operator's config kept on a second install.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::support::{Run, Sandbox, binary, on_path, to_run};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install");
const SOURCE: &str = env!("CARGO_MANIFEST_DIR");

/// Runs the install script with this DESTDIR and the already built binary.
fn install(destdir: &Path, extra: &[&str]) -> Run {
    let output = Command::new("bash")
        .arg(SCRIPT)
        .args(["--binary", binary()])
        .args(extra)
        .env("DESTDIR", destdir)
        .env_remove("PREFIX")
        .output()
        .expect("run scripts/install");
    to_run(output)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every file and directory under `root`, relative, with its mode.
fn tree(root: &Path) -> BTreeSet<(String, u32)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<(String, u32)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            out.insert((relative, mode(&path)));
            if path.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, root, &mut out);
    out
}

fn staged() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    install(&root, &[]).ok();
    (dir, root)
}

#[test]
fn install_puts_every_file_in_place_with_its_mode() {
    let (_dir, root) = staged();
    let mut files = tree(&root);
    let man: Vec<(String, u32)> = files
        .iter()
        .filter(|(p, _)| p.starts_with("usr/share/man/man1/") && p.ends_with(".1"))
        .cloned()
        .collect();
    assert!(
        man.iter()
            .any(|(p, _)| p == "usr/share/man/man1/reporter.1")
            && man
                .iter()
                .any(|(p, _)| p == "usr/share/man/man1/reporter-run-slot.1"),
        "man pages: {man:?}"
    );
    assert!(
        man.iter().all(|(_, m)| *m == 0o644),
        "man page modes: {man:?}"
    );
    for page in &man {
        files.remove(page);
    }
    let expected: BTreeSet<(String, u32)> = [
        ("etc", 0o755),
        ("etc/reporter", 0o755),
        ("etc/reporter/credentials", 0o700),
        ("etc/reporter/reporter.toml", 0o640),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("usr/bin/reporter", 0o755),
        ("usr/lib", 0o755),
        ("usr/lib/systemd", 0o755),
        ("usr/lib/systemd/system", 0o755),
        ("usr/lib/systemd/system/reporter-api.service", 0o644),
        ("usr/lib/systemd/system/reporter-api.socket", 0o644),
        ("usr/lib/systemd/system/reporter-run-slot.service", 0o644),
        ("usr/lib/systemd/system/reporter-run-slot.timer", 0o644),
        ("usr/lib/systemd/system/reporter-worker@.service", 0o644),
        ("usr/lib/sysusers.d", 0o755),
        ("usr/lib/sysusers.d/reporter.conf", 0o644),
        ("usr/lib/tmpfiles.d", 0o755),
        ("usr/lib/tmpfiles.d/reporter.conf", 0o644),
        ("usr/share", 0o755),
        ("usr/share/bash-completion", 0o755),
        ("usr/share/bash-completion/completions", 0o755),
        ("usr/share/bash-completion/completions/reporter", 0o644),
        ("usr/share/doc", 0o755),
        ("usr/share/doc/reporter", 0o755),
        ("usr/share/doc/reporter/reporter.toml", 0o644),
        ("usr/share/fish", 0o755),
        ("usr/share/fish/vendor_completions.d", 0o755),
        ("usr/share/fish/vendor_completions.d/reporter.fish", 0o644),
        ("usr/share/man", 0o755),
        ("usr/share/man/man1", 0o755),
        ("usr/share/zsh", 0o755),
        ("usr/share/zsh/vendor-completions", 0o755),
        ("usr/share/zsh/vendor-completions/_reporter", 0o644),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_string(), m))
    .collect();
    assert_eq!(files, expected, "installed files and modes");

    assert_eq!(
        fs::read(root.join("usr/bin/reporter")).unwrap(),
        fs::read(binary()).unwrap(),
        "the binary given is the one installed"
    );
    for unit in [
        "reporter-api.service",
        "reporter-api.socket",
        "reporter-run-slot.service",
        "reporter-run-slot.timer",
        "reporter-worker@.service",
    ] {
        assert_eq!(
            fs::read_to_string(root.join("usr/lib/systemd/system").join(unit)).unwrap(),
            fs::read_to_string(Path::new(SOURCE).join("systemd").join(unit)).unwrap(),
            "{unit} is installed as shipped under the /usr prefix"
        );
    }
    let example = fs::read_to_string(Path::new(SOURCE).join("examples/reporter.toml")).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("etc/reporter/reporter.toml")).unwrap(),
        example
    );
}

#[test]
fn the_installed_example_config_loads() {
    let (_dir, root) = staged();
    let config = root.join("etc/reporter/reporter.toml");
    let sandbox = Sandbox::new();
    let run = sandbox
        .run(&[
            "--config",
            config.to_str().unwrap(),
            "slots",
            "--db",
            sandbox.db.to_str().unwrap(),
            "--json",
        ])
        .ok();
    assert_eq!(run.json().as_array().unwrap().len(), 24);
}

#[test]
fn man_pages_are_roff_and_completions_know_the_subcommands() {
    let (_dir, root) = staged();
    let page = fs::read_to_string(root.join("usr/share/man/man1/reporter.1")).unwrap();
    assert!(page.contains("\n.TH reporter 1 "), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(
            page.contains(section),
            "{section} missing from the man page"
        );
    }
    assert!(
        page.contains("run\\-slot"),
        "subcommands listed in the man page"
    );
    let share = root.join("usr/share");
    let bash = fs::read_to_string(share.join("bash-completion/completions/reporter")).unwrap();
    let zsh = fs::read_to_string(share.join("zsh/vendor-completions/_reporter")).unwrap();
    let fish = fs::read_to_string(share.join("fish/vendor_completions.d/reporter.fish")).unwrap();
    assert!(zsh.starts_with("#compdef reporter"), "{zsh}");
    assert!(fish.contains("complete -c reporter"), "{fish}");
    for script in [&bash, &zsh, &fish] {
        for command in ["run-slot", "reset-semaphore", "reserve", "metrics"] {
            assert!(
                script.contains(command),
                "`{command}` missing from a completion script"
            );
        }
    }
    if on_path("bash") {
        let syntax = Command::new("bash")
            .arg("-n")
            .arg(share.join("bash-completion/completions/reporter"))
            .status()
            .unwrap();
        assert!(syntax.success(), "the bash completion parses");
    }
}

#[test]
fn a_second_install_keeps_a_changed_config() {
    let (_dir, root) = staged();
    let config = root.join("etc/reporter/reporter.toml");
    let changed = "max_active_browsers = 3\n";
    fs::write(&config, changed).unwrap();
    let again = install(&root, &[]).ok();
    assert_eq!(fs::read_to_string(&config).unwrap(), changed);
    assert!(
        again.stderr.contains(
            "kept /etc/reporter/reporter.toml as it is (this version's example: /usr/share/doc/reporter/reporter.toml)"
        ),
        "{}",
        again.stderr
    );
}

#[test]
fn another_prefix_moves_the_binary_and_the_units_follow_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    install(&root, &["--prefix", "/opt/reporter"]).ok();
    assert!(root.join("opt/reporter/bin/reporter").is_file());
    let unit =
        fs::read_to_string(root.join("opt/reporter/lib/systemd/system/reporter-run-slot.service"))
            .unwrap();
    assert!(
        unit.contains("\nExecStart=/opt/reporter/bin/reporter run-slot\n"),
        "{unit}"
    );
    assert!(!unit.contains("/usr/bin/reporter"), "{unit}");
}

#[test]
fn the_sysusers_and_tmpfiles_entries_are_what_systemd_applies() {
    let (_dir, root) = staged();
    let sysusers = fs::read_to_string(root.join("usr/lib/sysusers.d/reporter.conf")).unwrap();
    assert!(
        sysusers.contains(
            "\nu reporter - \"reporter hourly order reports\" /var/lib/reporter /usr/sbin/nologin\n"
        ),
        "{sysusers}"
    );
    // systemd creates the user inside the staged root, then gives the config its
    // group (changing owners needs root, as on the target host).
    if !running_as_root() {
        return;
    }
    let users = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.display()))
        .output()
        .expect("systemd-sysusers (apt-get install systemd)");
    assert!(
        users.status.success(),
        "{}",
        String::from_utf8_lossy(&users.stderr)
    );
    assert!(
        fs::read_to_string(root.join("etc/passwd"))
            .unwrap()
            .lines()
            .any(|l| l.starts_with("reporter:")
                && l.ends_with(":/var/lib/reporter:/usr/sbin/nologin")),
        "the reporter user in the staged passwd"
    );
    let tmpfiles = Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", root.display()))
        .arg("--create")
        .arg(root.join("usr/lib/tmpfiles.d/reporter.conf"))
        .output()
        .unwrap();
    assert!(
        tmpfiles.status.success(),
        "{}",
        String::from_utf8_lossy(&tmpfiles.stderr)
    );
    let config = root.join("etc/reporter/reporter.toml");
    assert_eq!(mode(&config), 0o640);
    assert_eq!(mode(&root.join("etc/reporter/credentials")), 0o700);
    let group = fs::read_to_string(root.join("etc/group")).unwrap();
    let gid: u32 = group
        .lines()
        .find_map(|l| l.strip_prefix("reporter:x:"))
        .and_then(|rest| rest.split(':').next())
        .and_then(|gid| gid.parse().ok())
        .expect("the reporter group in the staged group file");
    assert_eq!(
        fs::metadata(&config).unwrap().gid(),
        gid,
        "the config's group"
    );
}

fn running_as_root() -> bool {
    let id = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&id.stdout).trim() == "0"
}

#[test]
fn install_help_says_what_goes_where_and_a_bad_argument_is_refused() {
    let help = Command::new("bash")
        .arg(SCRIPT)
        .arg("--help")
        .output()
        .unwrap();
    let help = to_run(help).ok();
    assert!(
        help.stdout.starts_with("Usage: scripts/install"),
        "{}",
        help.stdout
    );
    assert!(help.stdout.contains("/etc/reporter/reporter.toml"));
    let bad = to_run(
        Command::new("bash")
            .arg(SCRIPT)
            .arg("--bogus")
            .output()
            .unwrap(),
    );
    assert_eq!(bad.code, 2);
    assert_eq!(
        bad.stderr,
        "install: unknown argument `--bogus`; see scripts/install --help\n"
    );
}

#[test]
fn completions_and_the_man_page_need_no_config_database_or_redis() {
    let mut sandbox = Sandbox::new();
    sandbox.config("rnage_size = 1\n");
    sandbox.set_env("REPORTER_REDIS_URL", "redis://127.0.0.1:1/");
    let bash = sandbox.run(&["completions", "bash"]).ok();
    assert!(bash.stdout.contains("run-slot"), "{}", bash.stdout);
    let page = sandbox.run(&["manpage"]).ok();
    assert!(page.stdout.contains(".TH reporter 1 "), "{}", page.stdout);
    assert!(!sandbox.db.exists(), "no database is created");
}
