//! Flags, environment and their errors: one line naming the culprit, exit 2, no panic.

mod common;

use common::*;
use std::process::Output;

fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = command(program);
    command.args(args).envs(env.iter().copied());
    command.stdout(std::process::Stdio::piped());
    command.output().expect("run binary")
}

fn assert_usage_error(output: &Output, names: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr:?}"
    );
    assert!(stderr.contains(names), "{stderr:?} does not name {names}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_environment_values_exit_2_naming_the_variable() {
    let cases: [(&str, &str, &str); 14] = [
        (CLIENT, "SERVER_PORT", "eighty"),
        (CLIENT, "SERVER_PORT", "70000"),
        (CLIENT, "SERVER_HOST", "http://x/"),
        // Not allowed in a Host header (DEL).
        (CLIENT, "SERVER_HOST", "a\u{7f}b"),
        (CLIENT, "POLL_INTERVAL", "5x"),
        (CLIENT, "POLL_INTERVAL", "0"),
        (CLIENT, "DUET_PATH", "no-slash"),
        (SERVER, "DUET_LISTEN", "8080"),
        (SERVER, "DUET_DRAIN_TIMEOUT", "soon"),
        (SERVER, "DUET_HEADER_READ_TIMEOUT", "-1"),
        (SERVER, "DUET_SHUTDOWN_DELAY", "later"),
        (SERVER, "DUET_WORKERS", "0"),
        (SERVER, "DUET_WORKERS", "two"),
        (SERVER, "DUET_WORKERS", "1025"),
    ];
    for (program, name, value) in cases {
        let output = run(program, &[], &[(name, value)]);
        assert_usage_error(&output, name);
    }
}

#[test]
fn bad_flag_values_exit_2_naming_the_flag() {
    assert_usage_error(&run(CLIENT, &["--port", "x"], &[]), "--port");
    assert_usage_error(&run(CLIENT, &["--interval", "2 s"], &[]), "--interval");
    assert_usage_error(&run(CLIENT, &["--timeout", "forever"], &[]), "--timeout");
    assert_usage_error(&run(CLIENT, &["--count", "0"], &[]), "--count");
    assert_usage_error(&run(SERVER, &["--listen", "localhost"], &[]), "--listen");
    assert_usage_error(
        &run(SERVER, &["--drain-timeout", "1.5s"], &[]),
        "--drain-timeout",
    );
    assert_usage_error(
        &run(SERVER, &["--shutdown-delay", "5 minutes"], &[]),
        "--shutdown-delay",
    );
    assert_usage_error(&run(SERVER, &["--workers", "-1"], &[]), "--workers");
    assert_usage_error(&run(SERVER, &["--workers", "2.5"], &[]), "--workers");
}

#[test]
fn a_flag_wins_over_its_environment_variable() {
    // A valid flag makes the bad env value irrelevant: nothing is reported about it.
    let output = run(
        CLIENT,
        &["--port", "1", "--probe", "--timeout", "200ms"],
        &[("SERVER_PORT", "bad")],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn unknown_flags_and_bad_log_levels_exit_2() {
    assert_usage_error(&run(SERVER, &["--bogus"], &[]), "--bogus");
    assert_usage_error(&run(CLIENT, &["--count"], &[]), "--count");
    assert_usage_error(&run(CLIENT, &["--probe", "--count", "2"], &[]), "--count");
    assert_usage_error(&run(SERVER, &[], &[("RUST_LOG", "chatty")]), "RUST_LOG");
    assert_usage_error(&run(CLIENT, &["--log-level", "loud"], &[]), "--log-level");
}

#[test]
fn help_and_version_exit_0() {
    for program in [SERVER, CLIENT] {
        let help = run(program, &["--help"], &[]);
        assert_eq!(help.status.code(), Some(0));
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(text.contains("Usage"), "{text}");
        let version = run(program, &["--version"], &[]);
        assert_eq!(version.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    }
    let help = String::from_utf8_lossy(&run(CLIENT, &["--help"], &[]).stdout).into_owned();
    for name in [
        "SERVER_HOST",
        "SERVER_PORT",
        "POLL_INTERVAL",
        "DUET_PATH",
        "--probe",
        "--count",
    ] {
        assert!(help.contains(name), "client --help lacks {name}");
    }
}

#[test]
fn a_taken_listen_address_is_one_error_line_and_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = run(SERVER, &["--listen", &address], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
}

#[test]
fn rust_log_sets_the_level() {
    let (server, address) = {
        let mut command = command(SERVER);
        command
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "debug");
        start_server_with(command)
    };
    // Connection errors are logged at debug only.
    let _ = try_request(address, "GARBAGE\r\n\r\n");
    server.expect_line("ended with an error");

    let quiet = run(SERVER, &["--listen", "nonsense"], &[("RUST_LOG", "error")]);
    assert_eq!(quiet.status.code(), Some(2));
}

#[test]
fn workers_sets_the_number_of_serving_threads() {
    let threads = |server: &Running| {
        std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .expect("read the server's threads")
            .count()
    };
    let from_env = {
        let mut command = command(SERVER);
        command
            .args(["--listen", "127.0.0.1:0"])
            .env("DUET_WORKERS", "3");
        command
    };
    let (server, address) = start_server_with(from_env);
    assert!(server.log().contains("workers=3"), "{}", server.log());
    assert_eq!(request(address, "GET", "/metrics").status, 200);
    // The workers and the main thread, which handles signals and systemd.
    assert_eq!(threads(&server), 4);

    let mut flag_wins = command(SERVER);
    flag_wins
        .args(["--listen", "127.0.0.1:0", "--workers", "1"])
        .env("DUET_WORKERS", "bad");
    let (server, address) = start_server_with(flag_wins);
    assert!(server.log().contains("workers=1"), "{}", server.log());
    assert_eq!(request(address, "GET", "/").status, 200);
    assert_eq!(threads(&server), 2);
}
