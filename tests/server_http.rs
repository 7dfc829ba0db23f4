//! duet-server's HTTP behaviour, against the real binary on a loopback port.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

#[test]
fn every_endpoint_answers_get_and_head() {
    let (_server, address) = start_server(&[]);

    let root = request(address, "GET", "/");
    assert_eq!(root.status, 200);
    let greeting = root.text();
    assert!(greeting.contains("duet-server"), "{greeting:?}");
    assert!(greeting.contains(env!("CARGO_PKG_VERSION")), "{greeting:?}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        greeting.contains(host.trim()),
        "{greeting:?} names no host {host:?}"
    );
    assert!(
        root.header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );

    assert_eq!(request(address, "GET", "/healthz").status, 200);
    assert_eq!(request(address, "GET", "/readyz").status, 200);
    let metrics = request(address, "GET", "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .contains("version=0.0.4")
    );

    for path in ["/", "/healthz", "/readyz", "/metrics"] {
        let get = request(address, "GET", path);
        let head = request(address, "HEAD", path);
        assert_eq!(head.status, 200, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} sent a body");
        if path != "/metrics" {
            assert_eq!(
                head.header("content-length").unwrap(),
                get.body.len().to_string(),
                "HEAD {path} announces the GET length"
            );
        }
    }
}

#[test]
fn unknown_paths_are_404_and_other_methods_405_with_allow() {
    let (_server, address) = start_server(&[]);
    assert_eq!(request(address, "GET", "/nope").status, 404);
    assert_eq!(request(address, "GET", "/healthz/extra").status, 404);
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        for path in ["/", "/healthz", "/readyz", "/metrics"] {
            let response = request(address, method, path);
            assert_eq!(response.status, 405, "{method} {path}");
            let allow = response.header("allow").expect("Allow header");
            assert!(allow.contains("GET") && allow.contains("HEAD"), "{allow:?}");
        }
    }
}

#[test]
fn metrics_count_requests_by_route_and_status_and_show_connections() {
    let (_server, address) = start_server(&[]);
    for _ in 0..3 {
        request(address, "GET", "/");
    }
    request(address, "GET", "/missing");
    request(address, "POST", "/readyz");

    assert_eq!(
        metric(
            address,
            "duet_http_requests_total{route=\"/\",status=\"200\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            address,
            "duet_http_requests_total{route=\"other\",status=\"404\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            address,
            "duet_http_requests_total{route=\"/readyz\",status=\"405\"}"
        ),
        1.0
    );
    assert!(metric(address, "duet_uptime_seconds") >= 0.0);
    assert_eq!(metric(address, "duet_draining"), 0.0);

    // Counts include the /metrics request's own connection. Earlier connections may
    // take a moment to be seen closed, so wait for each expected value.
    let open = "duet_http_connections_open";
    wait_for_metric(address, open, |value| value == 1.0);
    let held = connect(address);
    wait_for_metric(address, open, |value| value == 2.0);
    drop(held);
    wait_for_metric(address, open, |value| value == 1.0);
    assert!(metric(address, "duet_http_connections_total") >= 8.0);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let (_server, address) = start_server(&[]);
    let mut stream = connect(address);
    for path in ["/", "/healthz", "/readyz"] {
        write!(stream, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let response =
            read_one_response(&mut stream, false).expect("response on the same connection");
        assert_eq!(response.status, 200, "{path}");
    }
}

#[test]
fn malformed_request_gets_400_and_the_server_lives_on() {
    let (_server, address) = start_server(&[]);
    for raw in [
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: t\r\n\r\n",
    ] {
        let response = try_request(address, raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        assert_eq!(response.status, 400, "{raw:?}");
    }
    assert_eq!(request(address, "GET", "/healthz").status, 200);
    // Counted when each connection task ends, which may trail the reply a little.
    wait_for_metric(address, "duet_http_connection_errors_total", |errors| {
        errors >= 3.0
    });
}

#[test]
fn oversized_headers_get_431() {
    let (_server, address) = start_server(&[]);
    // 20 KiB of headers, past the 16 KiB limit, sent without the blank line that would
    // end them: the server must give up on size alone.
    let mut raw = String::from("GET / HTTP/1.1\r\nHost: t\r\n");
    for index in 0..20 {
        raw.push_str(&format!("X-Filler-{index}: {}\r\n", "a".repeat(1000)));
    }
    let mut stream = connect(address);
    let _ = stream.write_all(raw.as_bytes());
    let reply = String::from_utf8_lossy(&read_until_closed(&mut stream)).into_owned();
    assert!(reply.starts_with("HTTP/1.1 431"), "reply: {reply:?}");
    assert_eq!(request(address, "GET", "/healthz").status, 200);
}

#[test]
fn slowloris_connection_is_closed_by_the_header_read_timeout() {
    let (_server, address) = start_server(&["--header-read-timeout", "1s"]);
    let mut stream = connect(address);
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap();
    let started = Instant::now();
    let mut byte = [0u8; 1];
    // One header line every 200 ms, never finishing the head.
    let closed = loop {
        if started.elapsed() > Duration::from_secs(15) {
            break false;
        }
        if stream.write_all(b"X-Slow: 1\r\n").is_err() {
            break true;
        }
        match stream.read(&mut byte) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue;
            }
            Err(_) => break true,
        }
    };
    assert!(closed, "a trickling request head was kept open for 15 s");
    assert_eq!(request(address, "GET", "/healthz").status, 200);
}

#[test]
fn silent_and_idle_keep_alive_connections_are_closed() {
    let (_server, address) = start_server(&["--header-read-timeout", "1s"]);

    let mut silent = connect(address);
    let started = Instant::now();
    assert!(read_until_closed(&mut silent).is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "silent connection kept {:?}",
        started.elapsed()
    );

    let mut idle = connect(address);
    idle.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_one_response(&mut idle, false)
            .expect("first response")
            .status,
        200
    );
    let started = Instant::now();
    assert!(read_until_closed(&mut idle).is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "idle connection kept {:?}",
        started.elapsed()
    );
}

#[test]
fn hostile_input_never_takes_the_server_down() {
    let (mut server, address) = start_server(&["--header-read-timeout", "2s"]);
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "u".repeat(70_000));
    let inputs: Vec<Vec<u8>> = vec![
        (0..=255u8).cycle().take(4096).collect(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
        long_uri.into_bytes(),
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"
            .to_vec(),
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost".to_vec(),
        b"\r\n\r\n\r\n\r\n".to_vec(),
        b"GET /\0 HTTP/1.1\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n".to_vec(),
    ];
    for input in &inputs {
        let mut stream = connect(address);
        let _ = stream.write_all(input);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let reply = read_until_closed(&mut stream);
        if !reply.is_empty() {
            let text = String::from_utf8_lossy(&reply);
            assert!(text.starts_with("HTTP/1.1 "), "not HTTP: {text:?}");
        }
    }
    assert!(
        server.wait_exit(Duration::ZERO).is_none(),
        "server died:\n{}",
        server.log()
    );
    assert_eq!(request(address, "GET", "/healthz").status, 200);
}

#[test]
fn metrics_time_requests_by_route_and_show_the_process() {
    let (server, address) = start_server(&[]);
    for _ in 0..4 {
        request(address, "GET", "/readyz");
    }
    request(address, "GET", "/nope");
    let histogram = "duet_http_request_duration_seconds";
    assert_eq!(
        metric(address, &format!("{histogram}_count{{route=\"/readyz\"}}")),
        4.0
    );
    assert_eq!(
        metric(
            address,
            &format!("{histogram}_bucket{{route=\"/readyz\",le=\"+Inf\"}}")
        ),
        4.0
    );
    assert_eq!(
        metric(address, &format!("{histogram}_count{{route=\"other\"}}")),
        1.0
    );
    // Earlier scrapes are timed too.
    assert!(metric(address, &format!("{histogram}_count{{route=\"/metrics\"}}")) >= 3.0);
    let sum = metric(address, &format!("{histogram}_sum{{route=\"/readyz\"}}"));
    assert!(sum > 0.0 && sum < 4.0, "{sum}");

    // The process metrics describe the server's process, not the test's.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let rss_kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS");
    let rss = metric(address, "process_resident_memory_bytes") / 1024.0;
    assert!(
        rss > rss_kib / 2.0 && rss < rss_kib * 2.0,
        "{rss} KiB vs VmRSS {rss_kib} KiB"
    );
    let fds = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .count() as f64;
    let open_fds = metric(address, "process_open_fds");
    assert!((open_fds - fds).abs() <= 3.0, "{open_fds} vs {fds}");
    assert!(metric(address, "process_max_fds") >= open_fds);
    assert!(metric(address, "process_cpu_seconds_total") >= 0.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = metric(address, "process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 60.0,
        "started {started}, now {now}"
    );
}

/// `promtool check metrics` (Prometheus' own linter) accepts the exposition, with every
/// kind of series present. Without promtool the test says so and passes, unless
/// DUET_TEST_PROMTOOL=required (CI), where it fails.
#[test]
fn promtool_accepts_the_exposition() {
    let required = std::env::var("DUET_TEST_PROMTOOL").as_deref() == Ok("required");
    let promtool = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("promtool"))
            .find(|candidate| candidate.is_file())
    });
    let Some(promtool) = promtool else {
        assert!(
            !required,
            "DUET_TEST_PROMTOOL=required, but promtool is not on PATH (Debian package prometheus)"
        );
        eprintln!("promtool is not on PATH (Debian package prometheus): exposition not linted");
        return;
    };
    let (_server, address) = start_server(&[]);
    request(address, "GET", "/");
    request(address, "GET", "/nope");
    request(address, "DELETE", "/");
    let held = connect(address);
    let exposition = request(address, "GET", "/metrics").body;
    drop(held);
    let text = String::from_utf8_lossy(&exposition);
    for series in [
        "duet_http_requests_total{",
        "duet_http_request_duration_seconds_bucket{",
        "process_resident_memory_bytes ",
    ] {
        assert!(text.contains(series), "no {series} in:\n{text}");
    }
    let mut check = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    check.stdin.take().unwrap().write_all(&exposition).unwrap();
    let output = check.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool check metrics: {}\nstdout: {}\nstderr: {}\nexposition:\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}
