//! `reporter work` processes of one sandbox, each logging to `<id>.log` in
//! it, killed when dropped: how the worker tests and the browser tests start
//! and end their workers.

use std::fs::File;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::Sandbox;

#[derive(Default)]
pub struct WorkerProcesses {
    children: Vec<Child>,
}

impl WorkerProcesses {
    /// Starts `reporter work --worker-id ID` with these extra arguments; its
    /// stderr goes to `<id>.log` in the sandbox.
    pub fn spawn(&mut self, sandbox: &Sandbox, id: &str, extra: &[&str]) -> u32 {
        let log = File::create(log_path(sandbox, id)).expect("worker log file");
        let mut args = vec!["work", "--worker-id", id];
        args.extend_from_slice(extra);
        let child = sandbox
            .command(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn worker");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// The log a worker wrote so far.
    pub fn log(sandbox: &Sandbox, id: &str) -> String {
        std::fs::read_to_string(log_path(sandbox, id)).unwrap_or_default()
    }

    /// Whether the worker has exited, with its code.
    pub fn exited(&mut self, pid: u32) -> Option<i32> {
        let child = self.children.iter_mut().find(|c| c.id() == pid)?;
        child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1))
    }

    /// Waits for a worker to exit and returns its exit code.
    #[track_caller]
    pub fn wait(&mut self, pid: u32, limit: Duration) -> i32 {
        let index = self
            .children
            .iter()
            .position(|c| c.id() == pid)
            .expect("known worker");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.children[index].try_wait().unwrap() {
                let _exited = self.children.remove(index).wait();
                return status.code().unwrap_or(-1);
            }
            // The worker stays in the list until it exits, so a timed-out test still kills it.
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for worker {pid} to exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal (`TERM`, `STOP`, `CONT`, ...) to a worker.
    #[track_caller]
    pub fn signal(pid: u32, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{signal} {pid}");
    }

    /// Kills a worker with SIGKILL and reaps it.
    pub fn kill9(&mut self, pid: u32) {
        let child = self
            .children
            .iter_mut()
            .find(|c| c.id() == pid)
            .expect("known worker");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Kills every worker still running.
    pub fn kill_all(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for WorkerProcesses {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn log_path(sandbox: &Sandbox, id: &str) -> std::path::PathBuf {
    sandbox.path(&format!("{id}.log"))
}
