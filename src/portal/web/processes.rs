//! A closed browser's processes: waited for until they are gone, and killed
//! if they outlive a grace period, so a permit given back or reused never
//! overlaps a browser still exiting.

use std::path::Path;
use std::time::{Duration, Instant};

/// Waits until no process uses the profile; kills what is left after 5 s.
pub(super) async fn reap(profile: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = browser_processes(profile);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            tracing::warn!(
                processes = left.len(),
                "browser processes outlived their session; killing them"
            );
            for pid in left {
                // SAFETY: kill(2) on a process that runs this session's own profile.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The processes of the Chromium that uses this profile directory.
fn browser_processes(profile: &Path) -> Vec<libc::pid_t> {
    let mark = format!("--user-data-dir={}", profile.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let uses = cmdline.split(|b| *b == 0).any(|arg| arg == mark.as_bytes());
            uses.then_some(pid)
        })
        .collect()
}
