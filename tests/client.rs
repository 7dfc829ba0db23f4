//! duet-client against a real duet-server, against no server, and under stop signals.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn client(port: u16, extra: &[&str]) -> std::process::Command {
    let mut command = command(CLIENT);
    command
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(extra);
    command
}

#[test]
fn count_polls_a_live_server_reusing_one_connection_and_exits_0() {
    let (_server, address) = start_server(&[]);
    let connections_before = metric(address, "duet_http_connections_total");
    let mut polling = Running::spawn(client(
        address.port(),
        &["--count", "3", "--interval", "100ms"],
    ));
    let status = polling.expect_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "log:\n{}", polling.log());

    let log = polling.log();
    let polls: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("poll status="))
        .collect();
    assert_eq!(polls.len(), 3, "one line per poll:\n{log}");
    for line in &polls {
        assert!(
            line.contains("status=200") && line.contains("latency=") && line.contains("bytes="),
            "{line}"
        );
    }
    assert!(
        polls[1].contains("reused=true") && polls[2].contains("reused=true"),
        "{log}"
    );
    // The client's one connection plus this /metrics request's.
    let connections_after = metric(address, "duet_http_connections_total");
    assert_eq!(
        connections_after - connections_before,
        2.0,
        "the client opened more than one connection"
    );
}

#[test]
fn count_exits_1_when_a_poll_is_not_2xx() {
    let (_server, address) = start_server(&[]);
    let mut polling = Running::spawn(client(
        address.port(),
        &["--count", "2", "--interval", "100ms", "--path", "/missing"],
    ));
    assert_eq!(polling.expect_exit(PATIENCE).code(), Some(1));
    assert!(polling.log().contains("status=404"), "{}", polling.log());
}

#[test]
fn env_variables_configure_the_client() {
    let (_server, address) = start_server(&[]);
    let mut command = command(CLIENT);
    command
        .env("SERVER_HOST", "127.0.0.1")
        .env("SERVER_PORT", address.port().to_string())
        .env("POLL_INTERVAL", "100ms")
        .env("DUET_PATH", "/healthz")
        .args(["--count", "2"]);
    let mut polling = Running::spawn(command);
    assert_eq!(
        polling.expect_exit(PATIENCE).code(),
        Some(0),
        "{}",
        polling.log()
    );
    assert!(polling.log().contains("/healthz"), "{}", polling.log());
}

#[test]
fn probe_exits_0_on_2xx_and_1_otherwise() {
    let (_server, address) = start_server(&[]);
    let port = address.port();
    let mut healthy = Running::spawn(client(port, &["--probe", "--path", "/healthz"]));
    assert_eq!(healthy.expect_exit(PATIENCE).code(), Some(0));
    let mut missing = Running::spawn(client(port, &["--probe", "--path", "/missing"]));
    assert_eq!(missing.expect_exit(PATIENCE).code(), Some(1));
    let mut nobody = Running::spawn(client(free_port(), &["--probe"]));
    assert_eq!(nobody.expect_exit(PATIENCE).code(), Some(1));
}

#[test]
fn retries_while_the_server_is_away_and_says_once_when_it_is_back() {
    let port = free_port();
    let mut polling = Running::spawn(client(port, &["--interval", "200ms"]));
    polling.expect_line("server unreachable");
    polling.expect_line("attempt=3");

    let (_server, _address) = start_server(&["--listen", &format!("127.0.0.1:{port}")]);
    polling.expect_line("server is back");
    polling.expect_line("status=200");
    polling.expect_line("status=200");

    polling.signal(libc::SIGTERM);
    assert_eq!(polling.expect_exit(PATIENCE).code(), Some(0));
    let log = polling.log();
    assert_eq!(log.matches("server is back").count(), 1, "{log}");
    // Backoff: the retry delays grow.
    assert!(
        log.contains("retry_in=100ms")
            && log.contains("retry_in=200ms")
            && log.contains("retry_in=400ms"),
        "{log}"
    );
}

#[test]
fn sigterm_in_the_middle_of_a_backoff_exits_0_at_once() {
    let mut polling = Running::spawn(client(free_port(), &["--interval", "60s"]));
    // Attempt 7 waits 6.4 s before the next one.
    polling.expect_line("attempt=7");
    let started = Instant::now();
    polling.signal(libc::SIGTERM);
    assert_eq!(polling.expect_exit(PATIENCE).code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn sigint_while_waiting_for_the_next_poll_exits_0_at_once() {
    let (_server, address) = start_server(&[]);
    let mut polling = Running::spawn(client(address.port(), &["--interval", "60s"]));
    polling.expect_line("status=200");
    let started = Instant::now();
    polling.signal(libc::SIGINT);
    assert_eq!(polling.expect_exit(PATIENCE).code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_that_never_answers_hits_the_request_timeout() {
    // Accepts (kernel backlog) but never reads or replies.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let mut probe = Running::spawn(client(port, &["--probe", "--timeout", "500ms"]));
    assert_eq!(probe.expect_exit(PATIENCE).code(), Some(1));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        probe.log().contains("no answer within 500ms"),
        "{}",
        probe.log()
    );
}

#[test]
fn count_against_no_server_exits_1_after_its_polls() {
    let mut polling = Running::spawn(client(
        free_port(),
        &["--count", "2", "--interval", "100ms"],
    ));
    assert_eq!(polling.expect_exit(PATIENCE).code(), Some(1));
    let log = polling.log();
    assert_eq!(log.matches("server unreachable").count(), 2, "{log}");
    assert!(log.contains("2 of 2 polls failed"), "{log}");
}
