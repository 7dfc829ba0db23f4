//! `listen::open` removes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES from the environment
//! whichever socket it serves on, as sd_listen_fds(3) does, and leaves that socket
//! close-on-exec, so a program the server starts neither takes the variables for its own
//! nor holds the socket. It edits the environment of this process, so this is the only test
//! in its binary.

use duet::server::listen::{self, Origin};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::process::Command;

const VARIABLES: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// Socket activation's variables, for `pid`, naming one socket.
fn set_activation(pid: u32) {
    for (name, value) in VARIABLES.into_iter().zip([&pid.to_string(), "1", "http"]) {
        // SAFETY: this test is alone in its process (see above).
        unsafe { std::env::set_var(name, value) };
    }
}

/// A listening socket as a parent hands it over: not close-on-exec.
fn inheritable_listener() -> (RawFd, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let fd = listener.into_raw_fd();
    // SAFETY: fcntl on a descriptor this test owns.
    assert_ne!(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }, -1);
    (fd, address)
}

fn open(address: &str, inherited: Option<RawFd>) -> (TcpListener, Origin) {
    // SAFETY: this test is alone in its process.
    unsafe { listen::open(address.parse().unwrap(), inherited) }.expect("listen::open")
}

fn assert_cleared(origin: Origin) {
    for name in VARIABLES {
        assert_eq!(std::env::var_os(name), None, "{origin:?}: {name} left set");
    }
    let child = Command::new("env").output().expect("run env");
    let environment = String::from_utf8_lossy(&child.stdout);
    assert!(
        environment.lines().all(|line| !line.starts_with("LISTEN_")),
        "{origin:?}: a child inherits {environment}"
    );
}

fn assert_close_on_exec(listener: &TcpListener, origin: Origin) {
    // SAFETY: fcntl on a descriptor the listener owns.
    let flags = unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_GETFD) };
    assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC, "{origin:?}");
}

#[test]
fn each_way_of_getting_the_socket_clears_socket_activation_and_keeps_it_from_children() {
    // Passed by systemd, which puts the first socket on fd 3. Whatever this process holds
    // there (nothing, as a rule) is put aside meanwhile.
    // SAFETY: dup, dup2 and close on descriptors no other thread uses.
    let aside = unsafe { libc::dup(3) };
    let (fd, address) = inheritable_listener();
    if fd != 3 {
        // SAFETY: as above.
        unsafe {
            assert_eq!(libc::dup2(fd, 3), 3);
            libc::close(fd);
        }
    }
    set_activation(std::process::id());
    let (listener, origin) = open("127.0.0.1:0", None);
    assert_eq!(origin, Origin::Passed);
    assert_eq!(listener.local_addr().unwrap(), address);
    assert_cleared(origin);
    assert_close_on_exec(&listener, origin);
    drop(listener);
    if aside != -1 {
        // SAFETY: as above.
        unsafe {
            assert_eq!(libc::dup2(aside, 3), 3);
            libc::close(aside);
        }
    }

    // Inherited (--listen-fd), with the variables of a socket-activated parent.
    set_activation(1);
    let (fd, address) = inheritable_listener();
    let (listener, origin) = open("127.0.0.1:0", Some(fd));
    assert_eq!(origin, Origin::Inherited);
    assert_eq!(listener.local_addr().unwrap(), address);
    assert_cleared(origin);
    assert_close_on_exec(&listener, origin);

    // Bound, with the same.
    set_activation(1);
    let (listener, origin) = open("127.0.0.1:0", None);
    assert_eq!(origin, Origin::Bound);
    assert_cleared(origin);
    assert_close_on_exec(&listener, origin);
}
