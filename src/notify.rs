//! The systemd notify protocol, spoken only when `NOTIFY_SOCKET` is set:
//! `READY=1`, `STATUS=...`, `WATCHDOG=1` and `STOPPING=1` datagrams.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

pub struct Notifier {
    socket: Option<(UnixDatagram, String)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC`; without them every call is a no-op.
    pub fn from_env() -> Notifier {
        let socket = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|path| !path.is_empty())
            .and_then(|path| {
                // Never block on a full receive queue: a lost ping is better than a stuck worker.
                let socket = UnixDatagram::unbound().ok()?;
                socket.set_nonblocking(true).ok()?;
                Some((socket, path))
            });
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.parse::<u64>().ok())
            .filter(|&usec| usec > 0)
            .map(Duration::from_micros);
        Notifier { socket, watchdog }
    }

    /// How often to ping the watchdog: half its timeout, if systemd set one.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|timeout| timeout / 2)
    }

    pub fn ready(&self) {
        self.send("READY=1");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    pub fn status(&self, line: &str) {
        self.send(&format!("STATUS={line}"));
    }

    fn send(&self, message: &str) {
        let Some((socket, path)) = &self.socket else {
            return;
        };
        let sent = match path.strip_prefix('@') {
            Some(name) => abstract_address(name)
                .and_then(|addr| socket.send_to_addr(message.as_bytes(), &addr)),
            None => socket.send_to(message.as_bytes(), path),
        };
        if let Err(err) = sent {
            tracing::debug!(error = %err, "cannot notify systemd");
        }
    }
}

fn abstract_address(name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}
