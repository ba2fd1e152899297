//! `reporter serve` on a free loopback port, and a plain HTTP/1.1 client that
//! can also send what a well-behaved client would not.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::free_port;
use super::{Sandbox, wait_for};

/// A running `reporter serve`, stopped (SIGKILL) when dropped.
pub struct ApiServer {
    pub port: u16,
    pub log: PathBuf,
    pub child: Option<Child>,
}

impl ApiServer {
    /// Starts `reporter serve` for the sandbox's database and waits until it accepts.
    pub fn start(sb: &Sandbox) -> ApiServer {
        let port = free_port();
        let log = sb.path(&format!("serve-{port}.log"));
        let mut command = sb.command(&["serve", "--listen", &format!("127.0.0.1:{port}")]);
        let server = ApiServer::spawn(&mut command, port, log);
        server.wait_until_accepting();
        server
    }

    /// Starts a prepared command (the binary, or a wrapper around it) serving on `port`.
    pub fn spawn(command: &mut Command, port: u16, log: PathBuf) -> ApiServer {
        let stderr = std::fs::File::create(&log).expect("server log file");
        let child = command
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start reporter serve");
        ApiServer {
            port,
            log,
            child: Some(child),
        }
    }

    pub fn wait_until_accepting(&self) {
        wait_for(
            "reporter serve to accept connections",
            Duration::from_secs(20),
            || TcpStream::connect(("127.0.0.1", self.port)).ok(),
        );
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Everything the server logged so far.
    pub fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (`TERM`, `INT`) to the server.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill -{signal} {}", self.pid());
    }

    /// Waits for the server to exit and returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> i32 {
        let child = self.child.as_mut().expect("server running");
        let status = wait_for("reporter serve to exit", limit, || {
            child.try_wait().unwrap()
        });
        self.child = None;
        status.code().unwrap_or(-1)
    }

    /// `GET path` with a token.
    pub fn get(&self, path: &str, token: &str) -> Reply {
        self.send("GET", path, Some(token), None)
    }

    /// A request with an optional bearer token and an optional JSON body.
    pub fn send(&self, method: &str, path: &str, token: Option<&str>, json: Option<&str>) -> Reply {
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = json.unwrap_or("");
        if json.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        self.raw(format!("{head}{body}").as_bytes())
    }

    /// Sends these exact bytes on a new connection and reads the reply to its end.
    pub fn raw(&self, request: &[u8]) -> Reply {
        let mut stream = self.connect();
        stream.write_all(request).expect("send request");
        read_reply(&mut stream)
    }

    pub fn connect(&self) -> TcpStream {
        let stream =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connect to reporter serve");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("read timeout");
        stream
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"))
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        if self.body.is_empty() {
            return Value::Null;
        }
        self.json()
    }

    /// The `error` of a 4xx reply, checked to be one line.
    #[track_caller]
    pub fn error(&self, status: u16) -> String {
        let body = self.expect(status);
        let message = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {self:?}"))
            .to_string();
        assert!(
            !message.contains('\n') && !message.is_empty(),
            "{message:?}"
        );
        message
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }
}

/// Reads a response until the server closes the connection.
pub fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read reply");
    parse(&raw)
}

pub fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response in {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Reply {
        status,
        head: head.to_string(),
        body: if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

/// Adds a user and returns a new token of theirs.
pub fn user_with_token(sb: &Sandbox, name: &str) -> String {
    sb.run(&["users", "add", name]).ok();
    token(sb, &["tokens", "add", name])
}

/// Runs `tokens add ...` and returns the token it printed.
pub fn token(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.run(args).ok();
    let token = out.stdout.trim().to_string();
    assert!(token.starts_with("rpt_"), "{}", out.stdout);
    token
}
