//! Where the server listens: a listening socket it inherited on a descriptor named by
//! `--listen-fd` (supervisord's `[fcgi-program:x]` hands one over on fd 0), the socket
//! systemd passed (socket activation, LISTEN_FDS for this process), or a socket bound to
//! `--listen`.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, RawFd};

/// How the listening socket was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Passed by the service manager (socket activation).
    Passed,
    /// Inherited on the descriptor named by `--listen-fd`.
    Inherited,
    /// Bound by this process.
    Bound,
}

impl Origin {
    /// The word the `listening` log line uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Passed => "passed",
            Origin::Inherited => "inherited",
            Origin::Bound => "bound",
        }
    }
}

/// As sd_listen_fds(3): passed sockets are ours only if LISTEN_PID names this process
/// (listenfd alone would also accept a missing LISTEN_PID).
fn listen_pid_is_ours() -> bool {
    std::env::var("LISTEN_PID")
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        == Some(std::process::id())
}

/// Whether LISTEN_FDS/LISTEN_PID pass at least one socket to this process.
pub fn systemd_passes_sockets() -> bool {
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|count| count.trim().parse::<u32>().ok());
    listen_pid_is_ours() && count.is_some_and(|count| count > 0)
}

/// Parses the value of `--listen-fd` and checks that the descriptor is a listening TCP
/// socket, without taking it; the error says what the descriptor is instead.
pub fn check_inherited(text: &str) -> Result<RawFd, String> {
    let fd: RawFd = text
        .trim()
        .parse()
        .ok()
        .filter(|fd| *fd >= 0)
        .ok_or("expected a file descriptor number such as 0")?;
    let not = |what: &str| {
        Err(format!(
            "fd {fd} is {what}; expected a listening TCP socket"
        ))
    };
    // SAFETY: fstat and getsockopt only read the descriptor's state into local buffers.
    unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut stat) == -1 {
            return not("not open");
        }
        match stat.st_mode & libc::S_IFMT {
            libc::S_IFSOCK => {}
            libc::S_IFCHR => return not("a character device (/dev/null or a terminal?)"),
            libc::S_IFIFO => return not("a pipe"),
            libc::S_IFREG => return not("a regular file"),
            libc::S_IFDIR => return not("a directory"),
            _ => return not("not a socket"),
        }
        let option = |name: libc::c_int| -> Option<libc::c_int> {
            let mut value: libc::c_int = 0;
            let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            (libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                (&mut value as *mut libc::c_int).cast(),
                &mut length,
            ) == 0)
                .then_some(value)
        };
        match option(libc::SO_DOMAIN) {
            Some(libc::AF_INET) | Some(libc::AF_INET6) => {}
            Some(libc::AF_UNIX) => return not("a Unix socket"),
            _ => return not("a socket of another family"),
        }
        if option(libc::SO_TYPE) != Some(libc::SOCK_STREAM) {
            return not("a UDP or raw socket");
        }
        if option(libc::SO_ACCEPTCONN) != Some(1) {
            return not("a TCP socket that does not listen");
        }
    }
    Ok(fd)
}

/// What socket activation sets (sd_listen_fds(3)).
const ACTIVATION_VARIABLES: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// Serves on `inherited` (a descriptor [`check_inherited`] accepted) when given; else takes
/// the first socket systemd passed if LISTEN_FDS/LISTEN_PID are for this process; else binds
/// `address`. Whichever it does, it then removes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES
/// from the environment, as sd_listen_fds(3) does, and the socket it serves on is
/// close-on-exec: a program this process starts neither takes the variables for its own nor
/// holds the socket.
///
/// # Safety
///
/// It edits the environment: no other thread may be running.
pub unsafe fn open(
    address: SocketAddr,
    inherited: Option<RawFd>,
) -> io::Result<(TcpListener, Origin)> {
    let opened = take_or_bind(address, inherited);
    // listenfd clears only LISTEN_PID and LISTEN_FDS, and only when it reads them.
    for name in ACTIVATION_VARIABLES {
        // SAFETY: the caller guarantees that no other thread runs.
        unsafe { std::env::remove_var(name) };
    }
    opened
}

fn take_or_bind(
    address: SocketAddr,
    inherited: Option<RawFd>,
) -> io::Result<(TcpListener, Origin)> {
    if let Some(fd) = inherited {
        // SAFETY: check_inherited found a listening TCP socket on fd, which nothing else in
        // this process uses; from here the listener owns it.
        let listener = unsafe { TcpListener::from_raw_fd(fd) };
        // A flag of this process's descriptor only, unlike O_NONBLOCK below.
        // SAFETY: fcntl on a descriptor the listener owns.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
            return Err(io::Error::last_os_error());
        }
        // O_NONBLOCK is shared with every process holding this socket (the supervisor and
        // any twin); none of them blocks in accept, so that is harmless.
        listener.set_nonblocking(true)?;
        return Ok((listener, Origin::Inherited));
    }
    let mut passed = if listen_pid_is_ours() {
        listenfd::ListenFd::from_env()
    } else {
        listenfd::ListenFd::empty()
    };
    if passed.len() > 1 {
        tracing::warn!("{} sockets passed; serving on the first only", passed.len());
    }
    if passed.len() > 0 {
        // listenfd makes it close-on-exec, as std does a socket it binds.
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
