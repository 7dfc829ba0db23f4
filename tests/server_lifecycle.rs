//! duet-server as a service: drain on SIGTERM/SIGINT, systemd's notify protocol on a real
//! datagram socket, socket activation with a listener passed as fd 3.

mod common;

use common::*;
use std::collections::HashSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[test]
fn sigterm_drains_in_flight_requests_refuses_new_ones_and_exits_0() {
    let (mut server, address) =
        start_server(&["--drain-timeout", "20s", "--header-read-timeout", "30s"]);

    // Two requests in flight: heads started but not finished when SIGTERM arrives.
    let mut readiness = connect(address);
    readiness
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let mut greeting = connect(address);
    greeting
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    // Both must be accepted and mid-request (not waiting in the backlog) when SIGTERM comes.
    wait_until_server_read(&readiness);
    wait_until_server_read(&greeting);

    server.signal(libc::SIGTERM);
    server.expect_line("draining");

    let refused = TcpStream::connect(address);
    assert!(
        refused.is_err(),
        "a new connection was accepted while draining"
    );
    assert!(
        server.wait_exit(Duration::from_millis(300)).is_none(),
        "exited before the in-flight requests finished"
    );

    readiness.write_all(b"\r\n").unwrap();
    let response = read_one_response(&mut readiness, false).expect("in-flight /readyz answered");
    assert_eq!(response.status, 503, "/readyz while draining");

    greeting.write_all(b"\r\n").unwrap();
    let response = read_one_response(&mut greeting, false).expect("in-flight / answered");
    assert_eq!(response.status, 200);
    assert!(response.text().contains("duet-server"));

    let status = server.expect_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "exit status after drain");
}

#[test]
fn sigint_with_an_idle_kept_alive_connection_exits_0_promptly() {
    let (mut server, address) = start_server(&["--drain-timeout", "30s"]);
    let mut idle = connect(address);
    idle.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    read_one_response(&mut idle, false).expect("response");

    server.signal(libc::SIGINT);
    // A connection between requests is closed at once (its client retries on a new one),
    // so it must not hold the drain for its 30 s bound.
    let status = server.expect_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert!(
        read_until_closed(&mut idle).is_empty(),
        "idle connection got bytes instead of being closed"
    );
}

#[test]
fn a_connection_accepted_before_sigterm_gets_its_first_request_answered() {
    let (mut server, address) =
        start_server(&["--drain-timeout", "20s", "--header-read-timeout", "20s"]);
    // Accepted by the server, but its request comes only after the listener is closed:
    // a client whose request bytes are still on the way when the stop signal arrives.
    let mut fresh = connect(address);
    wait_until_accepted(&fresh);

    server.signal(libc::SIGTERM);
    server.expect_line("draining");
    assert!(
        server.wait_exit(Duration::from_millis(300)).is_none(),
        "exited without waiting for the accepted connection's request"
    );

    fresh
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let response = read_one_response(&mut fresh, false)
        .expect("the accepted connection was closed without an answer");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(server.expect_exit(PATIENCE).code(), Some(0));
}

#[test]
fn a_silent_accepted_connection_holds_the_drain_only_for_the_header_read_timeout() {
    let (mut server, address) =
        start_server(&["--drain-timeout", "60s", "--header-read-timeout", "2s"]);
    let mut silent = connect(address);
    wait_until_accepted(&silent);

    server.signal(libc::SIGTERM);
    // Bounded by the 2 s header-read timeout, not by the 60 s drain timeout.
    assert_eq!(server.expect_exit(PATIENCE).code(), Some(0));
    assert!(
        read_until_closed(&mut silent).is_empty(),
        "silent connection got bytes instead of being closed"
    );
}

#[test]
fn drain_is_bounded_by_the_drain_timeout() {
    let (mut server, address) =
        start_server(&["--drain-timeout", "1s", "--header-read-timeout", "60s"]);
    let mut stuck = connect(address);
    stuck.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    wait_until_server_read(&stuck);

    let started = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.expect_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "drain took {:?}",
        started.elapsed()
    );
    server.expect_line("drain timeout reached");
}

fn scratch_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("duet-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Receives notify datagrams until one contains `wanted`; returns every line seen.
fn receive_until(socket: &UnixDatagram, wanted: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + PATIENCE;
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline {
        let Ok(length) = socket.recv(&mut buffer) else {
            continue;
        };
        let message = String::from_utf8_lossy(&buffer[..length]).into_owned();
        let found = message.lines().any(|line| line == wanted);
        seen.extend(message.lines().map(str::to_string));
        if found {
            return;
        }
    }
    panic!("no {wanted:?} on NOTIFY_SOCKET; got {seen:?}");
}

#[test]
fn notify_protocol_ready_status_watchdog_stopping() {
    let path = scratch_path("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let mut command = command(SERVER);
    command
        .args(["--listen", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "400000");
    let (mut server, _address) = start_server_with(command);

    let mut seen = Vec::new();
    receive_until(&socket, "READY=1", &mut seen);
    assert!(
        seen.iter().any(|line| line.starts_with("STATUS=")),
        "no STATUS= with READY=1: {seen:?}"
    );
    // Two pings, so they are periodic and not a one-off.
    receive_until(&socket, "WATCHDOG=1", &mut seen);
    receive_until(&socket, "WATCHDOG=1", &mut seen);

    server.signal(libc::SIGTERM);
    receive_until(&socket, "STOPPING=1", &mut seen);
    assert_eq!(server.expect_exit(PATIENCE).code(), Some(0));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn without_notify_socket_the_protocol_is_silent() {
    let (mut server, _address) = start_server(&[]);
    server.signal(libc::SIGTERM);
    assert_eq!(server.expect_exit(PATIENCE).code(), Some(0));
    assert!(
        !server.log().contains("notify"),
        "log mentions notify:\n{}",
        server.log()
    );
}

#[test]
fn socket_activation_serves_on_the_passed_socket() {
    let passed = TcpListener::bind("127.0.0.1:0").unwrap();
    let passed_address = passed.local_addr().unwrap();
    // --listen names an address that is taken: binding it would fail, so an answer
    // proves the server used fd 3.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_address = taken.local_addr().unwrap().to_string();

    let server = Running::spawn(socket_activated(&passed, None, &taken_address));
    let line = server.expect_line("listening address=");
    assert!(line.contains("socket=passed"), "{line}");
    assert!(line.contains(&passed_address.to_string()), "{line}");
    wait_healthy(passed_address);
    assert_eq!(request(passed_address, "GET", "/").status, 200);
}

#[test]
fn passed_sockets_for_another_or_no_pid_are_ignored() {
    let passed = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Running::spawn(socket_activated(&passed, Some("1"), "127.0.0.1:0"));
    let line = server.expect_line("listening address=");
    assert!(line.contains("socket=bound"), "{line}");

    // Without LISTEN_PID the sockets are not for us either (sd_listen_fds(3)).
    let server = Running::spawn(socket_activated_with(
        &passed,
        Some(String::new()),
        "127.0.0.1:0",
    ));
    let line = server.expect_line("listening address=");
    assert!(line.contains("socket=bound"), "{line}");
}

#[test]
fn every_stop_signal_is_handled_as_pid_1_would_need() {
    // A process that relied on default signal actions would die with a signal status,
    // and as PID 1 in a container would not stop at all. Both signals must give exit 0.
    let mut statuses = HashSet::new();
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let (mut server, _address) = start_server(&[]);
        server.signal(signal);
        statuses.insert(server.expect_exit(PATIENCE).code());
    }
    assert_eq!(statuses, HashSet::from([Some(0)]));
}
