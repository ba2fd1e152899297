//! The listening socket: handed over by systemd (`reporter-api.socket`, the
//! `LISTEN_FDS` protocol) or bound here.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, RawFd};

use anyhow::Result;

use crate::error::refuse;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

/// The socket systemd passed to this process, if any.
pub fn from_systemd() -> Result<Option<TcpListener>> {
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| pid == std::process::id());
    if !for_us {
        return Ok(None);
    }
    let count: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    match count {
        0 => return Ok(None),
        1 => {}
        n => {
            return Err(refuse(format!(
                "systemd passed {n} sockets; give reporter-api.socket exactly one ListenStream="
            )));
        }
    }
    // SAFETY: under the LISTEN_FDS protocol descriptor 3 is the passed socket,
    // open and owned by nothing else in this process.
    let socket = unsafe { TcpListener::from_raw_fd(FIRST_FD) };
    if socket.local_addr().is_err() {
        return Err(refuse(
            "the socket systemd passed is not a TCP socket; give reporter-api.socket a ListenStream=IP:PORT",
        ));
    }
    // Not inherited by anything this process might start.
    // SAFETY: fcntl on a descriptor this function owns.
    unsafe { libc::fcntl(FIRST_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    socket.set_nonblocking(true)?;
    Ok(Some(socket))
}
