//! A real `redis-server` on a unix socket of its own, stopped when dropped.
//!
//! A socket path is chosen by the test and never taken by anyone else, where a
//! TCP port found free can be taken before the server binds it. A test that
//! needs TCP (to check the `redis://` form itself) asks for it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::{free_port, on_path, wait_for};

pub struct RedisServer {
    dir: TempDir,
    socket: PathBuf,
    /// The loopback port the server also listens on, for `start_tcp`.
    port: Option<u16>,
    child: Option<Child>,
}

/// A unix socket path is limited to 107 bytes: the server's directory is a
/// short one under the system's temporary directory, or `/tmp` when that is long.
fn short_temp_dir() -> TempDir {
    let base = std::env::temp_dir();
    let base = if base.as_os_str().len() <= 64 {
        base
    } else {
        PathBuf::from("/tmp")
    };
    tempfile::Builder::new()
        .prefix("rd")
        .tempdir_in(base)
        .expect("redis dir")
}

impl RedisServer {
    /// Starts a server on a unix socket, panicking with install instructions
    /// when it is missing.
    pub fn start() -> RedisServer {
        RedisServer::start_on(false)
    }

    /// Starts a server that also listens on a loopback TCP port.
    pub fn start_tcp() -> RedisServer {
        RedisServer::start_on(true)
    }

    fn start_on(tcp: bool) -> RedisServer {
        assert!(
            on_path("redis-server"),
            "redis-server is not installed; install it with `apt-get install redis-server` (scripts/test does this)"
        );
        let dir = short_temp_dir();
        let socket = dir.path().join("redis.sock");
        let mut server = RedisServer {
            dir,
            socket,
            port: None,
            child: None,
        };
        // A port found free can be taken before the server binds it: the
        // server then exits, and the next try takes another port.
        for _ in 0..5 {
            server.port = tcp.then(free_port);
            if server.spawn() {
                return server;
            }
            assert!(tcp, "redis-server exited at start on {}", server.url());
        }
        panic!("redis-server found no free port in 5 tries");
    }

    /// Starts the server on its socket (and port); false if it exited instead.
    fn spawn(&mut self) -> bool {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.unwrap_or(0).to_string()])
            .args(["--bind", "127.0.0.1", "--unixsocket"])
            .arg(&self.socket)
            .args([
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let answered = wait_for(
            "redis-server to answer PING or exit",
            Duration::from_secs(10),
            || match child.try_wait() {
                Ok(Some(_)) => Some(false),
                _ => self.answers().then_some(true),
            },
        );
        if answered {
            self.child = Some(child);
        }
        answered
    }

    /// Whether this server (not another one on a reused port) answers.
    fn answers(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
            return false;
        };
        let dir: Option<(String, String)> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("dir")
            .query(&mut conn)
            .ok();
        // The server reports its directory with symbolic links resolved.
        let ours = std::fs::canonicalize(self.dir.path()).ok();
        dir.is_some_and(|(_, dir)| Some(PathBuf::from(dir)) == ours)
    }

    /// The URL reporter is given: the TCP one for `start_tcp`, else the socket's.
    pub fn url(&self) -> String {
        match self.port {
            Some(port) => format!("redis://127.0.0.1:{port}/"),
            None => self.socket_url(),
        }
    }

    /// The unix socket's URL, `redis+unix:///PATH`.
    pub fn socket_url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.socket_url())
            .unwrap()
            .get_connection()
            .expect("connect to redis")
    }

    /// Kills the server (as a crash would) and starts it again on the same
    /// socket (and port).
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Kills the server and starts it again, empty, on the same socket after
    /// `down` (an outage of that length, then a Redis that remembers nothing).
    pub fn restart_after(&mut self, down: Duration) {
        self.stop();
        std::thread::sleep(down); // the outage itself is what is tested
        self.start_again();
    }

    fn start_again(&mut self) {
        assert!(
            self.spawn(),
            "redis-server did not start again on {}",
            self.url()
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
