//! Where the server listens: the socket systemd passed (socket activation, LISTEN_FDS
//! for this process) or a socket bound to `--listen`.

use std::io;
use std::net::{SocketAddr, TcpListener};

/// How the listening socket was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Passed by the service manager (socket activation).
    Passed,
    /// Bound by this process.
    Bound,
}

/// Takes the first passed socket if LISTEN_FDS/LISTEN_PID are for this process, else binds
/// `address`. Reads and clears the LISTEN_* variables, so it must run before any thread starts.
pub fn open(address: SocketAddr) -> io::Result<(TcpListener, Origin)> {
    // As sd_listen_fds(3): the sockets are ours only if LISTEN_PID names this process
    // (listenfd alone would also accept a missing LISTEN_PID).
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        == Some(std::process::id());
    let mut passed = if for_us {
        listenfd::ListenFd::from_env()
    } else {
        listenfd::ListenFd::empty()
    };
    if passed.len() > 1 {
        tracing::warn!("{} sockets passed; serving on the first only", passed.len());
    }
    if passed.len() > 0 {
        let listener = passed.take_tcp_listener(0)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "passed socket 3 is unusable")
        })?;
        listener.set_nonblocking(true)?;
        return Ok((listener, Origin::Passed));
    }
    let listener = TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    Ok((listener, Origin::Bound))
}
