//! `--shutdown-delay`: after the stop signal the server says it is not ready but keeps
//! accepting and serving for the delay, so that load balancers take it out of rotation
//! before it refuses connections; then it drains as without the delay.

mod common;

use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn during_the_delay_new_connections_are_served_and_readyz_is_503_then_it_drains() {
    let delay = Duration::from_secs(5);
    let (mut server, address) = start_server(&[
        "--shutdown-delay",
        "5s",
        "--drain-timeout",
        "20s",
        "--header-read-timeout",
        "30s",
    ]);
    // A request in flight across the delay and into the drain.
    let mut in_flight = connect(address);
    in_flight
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    wait_until_server_read(&in_flight);

    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    server.expect_line("shutdown delay");

    // New connections are still accepted and served; each answer tells the client to take
    // its next request elsewhere.
    let greeting = request(address, "GET", "/");
    assert_eq!(greeting.status, 200);
    assert_eq!(greeting.header("connection"), Some("close"));
    let readiness = request(address, "GET", "/readyz");
    assert_eq!(readiness.status, 503, "/readyz during the delay");
    assert_eq!(request(address, "GET", "/healthz").status, 200);
    assert_eq!(metric(address, "duet_ready"), 0.0);
    assert_eq!(metric(address, "duet_draining"), 0.0);
    assert!(
        server.wait_exit(Duration::from_millis(100)).is_none(),
        "exited during the delay"
    );

    // Then the drain as without a delay: the socket closes, the request in flight finishes.
    server.expect_line("draining open_connections=");
    assert!(
        signalled.elapsed() >= delay,
        "drain began {:?} after the signal, before the {delay:?} delay ended",
        signalled.elapsed()
    );
    assert!(
        TcpStream::connect(address).is_err(),
        "a new connection was accepted while draining"
    );
    in_flight.write_all(b"\r\n").unwrap();
    let response = read_one_response(&mut in_flight, false).expect("in-flight / answered");
    assert_eq!(response.status, 200);
    assert_eq!(server.expect_exit(PATIENCE).code(), Some(0));
}

#[test]
fn a_second_signal_cuts_the_delay_short() {
    let (mut server, address) = start_server(&["--shutdown-delay", "60s"]);
    server.signal(libc::SIGTERM);
    server.expect_line("shutdown delay");
    assert_eq!(request(address, "GET", "/readyz").status, 503);

    server.signal(libc::SIGINT);
    server.expect_line("SIGINT: shutdown delay cut short");
    server.expect_line("drained; exiting");
    // Well within the 60 s delay.
    assert_eq!(server.expect_exit(PATIENCE).code(), Some(0));
}

#[test]
fn the_delay_comes_from_the_environment_too() {
    let mut command = command(SERVER);
    command
        .args(["--listen", "127.0.0.1:0"])
        .env("DUET_SHUTDOWN_DELAY", "60s");
    let (mut server, address) = start_server_with(command);
    server.signal(libc::SIGTERM);
    server.expect_line("shutdown delay of 60s");
    assert_eq!(request(address, "GET", "/").status, 200);
    server.signal(libc::SIGTERM);
    assert_eq!(server.expect_exit(PATIENCE).code(), Some(0));
}

#[test]
fn a_signal_during_the_drain_exits_without_waiting() {
    let (mut server, address) =
        start_server(&["--drain-timeout", "60s", "--header-read-timeout", "60s"]);
    let mut stuck = connect(address);
    stuck.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    wait_until_server_read(&stuck);

    server.signal(libc::SIGTERM);
    server.expect_line("draining open_connections=1");
    server.signal(libc::SIGTERM);
    server.expect_line("SIGTERM during the drain; exiting without waiting");
    // Well within the 60 s drain bound.
    assert_eq!(server.expect_exit(PATIENCE).code(), Some(0));
}
