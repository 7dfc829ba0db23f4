//! `--listen-fd`: duet-server serving on a listening socket it inherits, as supervisord's
//! `[fcgi-program:x]` hands one over on fd 0. The socket belongs to the parent (here the
//! test, there supervisord), so it outlives every instance: twins on one socket keep it
//! accepting while one of them is killed or restarted.

mod common;

use common::*;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// duet-server with `fd` as its stdin (fd 0) and `--listen-fd 0`; `--listen` names a taken
/// address, so serving at all proves the server used fd 0.
fn inherited(fd: impl Into<OwnedFd>, taken: &TcpListener) -> Command {
    let mut command = command(SERVER);
    command
        .args(["--listen-fd", "0", "--listen"])
        .arg(taken.local_addr().unwrap().to_string())
        .stdin(Stdio::from(fd.into()));
    command
}

fn start_twin(listener: &TcpListener, taken: &TcpListener) -> Running {
    let server = Running::spawn(inherited(listener.try_clone().unwrap(), taken));
    let line = server.expect_line("listening address=");
    assert!(line.contains("socket=inherited"), "{line}");
    let address = listener.local_addr().unwrap().to_string();
    assert!(line.contains(&format!("address={address} ")), "{line}");
    server
}

fn assert_refused(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr:?}"
    );
    assert!(
        stderr.contains("--listen-fd"),
        "{stderr:?} does not name --listen-fd"
    );
    assert!(stderr.contains(what), "{stderr:?} does not say {what:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn serves_on_the_socket_inherited_on_fd_0() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut server = start_twin(&listener, &taken);
    wait_healthy(address);
    let response = request(address, "GET", "/");
    assert_eq!(response.status, 200);
    assert!(
        response.text().contains("duet-server"),
        "{}",
        response.text()
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.expect_exit(PATIENCE).code(), Some(0));
    // The parent's socket is still open and listening: a connection waits in its backlog.
    TcpStream::connect(address).expect("the inherited socket closed with the server");
}

#[test]
fn the_environment_names_the_descriptor_too() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut command = command(SERVER);
    command
        .args(["--listen", &taken.local_addr().unwrap().to_string()])
        .env("DUET_LISTEN_FD", "0")
        .stdin(Stdio::from(OwnedFd::from(listener.try_clone().unwrap())));
    let server = Running::spawn(command);
    let line = server.expect_line("listening address=");
    assert!(line.contains("socket=inherited"), "{line}");
    wait_healthy(listener.local_addr().unwrap());
}

#[test]
fn anything_but_a_listening_tcp_socket_is_one_line_and_exit_2() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let output = |mut command: Command| {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command.output().expect("run duet-server")
    };
    let with_stdin = |stdin: Stdio| {
        let mut command = command(SERVER);
        command.args(["--listen-fd", "0"]).stdin(stdin);
        output(command)
    };
    // What stdin is when nothing passes a socket: /dev/null, a pipe, a terminal.
    assert_refused(&with_stdin(Stdio::null()), "fd 0 is a character device");
    assert_refused(&with_stdin(Stdio::piped()), "fd 0 is a pipe");
    let connected = TcpStream::connect(taken.local_addr().unwrap()).unwrap();
    assert_refused(
        &with_stdin(Stdio::from(OwnedFd::from(connected))),
        "fd 0 is a TCP socket that does not listen",
    );
    let path = std::env::temp_dir().join(format!("duet-inherited-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let unix = UnixListener::bind(&path).unwrap();
    assert_refused(
        &with_stdin(Stdio::from(OwnedFd::from(unix))),
        "fd 0 is a Unix socket",
    );
    let _ = std::fs::remove_file(&path);
    let mut closed = command(SERVER);
    closed.args(["--listen-fd", "9"]);
    assert_refused(&output(closed), "fd 9 is not open");
    let mut named = command(SERVER);
    named.args(["--listen-fd", "stdin"]);
    assert_refused(&output(named), "expected a file descriptor number");

    // A socket from systemd as well: which one was meant is unclear.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut both = socket_activated(&listener, None, "127.0.0.1:0");
    both.args(["--listen-fd", "0"])
        .stdin(Stdio::from(OwnedFd::from(listener.try_clone().unwrap())));
    assert_refused(&output(both), "LISTEN_FDS");
}

/// One `GET /` on a new connection; the full 200 response or why not.
fn fetch(address: SocketAddr) -> Result<(), String> {
    let mut stream = TcpStream::connect(address).map_err(|error| format!("connect: {error}"))?;
    let limit = Some(Duration::from_secs(30));
    stream.set_read_timeout(limit).unwrap();
    stream.set_write_timeout(limit).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .map_err(|error| format!("send: {error}"))?;
    match read_one_response(&mut stream, false) {
        Some(response) if response.status == 200 => Ok(()),
        Some(response) => Err(format!("status {}", response.status)),
        None => Err("connection closed without a response".into()),
    }
}

/// Requests from a few threads, each on a fresh connection, until dropped.
struct Stream {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Stream {
    fn start(address: SocketAddr) -> Stream {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..3)
            .map(|_| {
                let (stop, answered, failures) = (stop.clone(), answered.clone(), failures.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match fetch(address) {
                            Ok(()) => answered.fetch_add(1, Ordering::Relaxed),
                            Err(error) => {
                                failures.lock().unwrap().push(error);
                                0
                            }
                        };
                    }
                })
            })
            .collect();
        Stream {
            stop,
            answered,
            failures,
            threads,
        }
    }

    /// Waits until `more` further requests have been answered.
    fn wait_for(&self, more: usize) {
        let target = self.answered.load(Ordering::Relaxed) + more;
        let deadline = Instant::now() + PATIENCE * 3;
        while self.answered.load(Ordering::Relaxed) < target {
            assert!(
                Instant::now() < deadline,
                "requests stopped being answered; failures: {:?}",
                self.failures.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the threads; the failures seen.
    fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("client thread");
        }
        self.failures.lock().unwrap().clone()
    }
}

#[test]
fn twins_on_one_inherited_socket_restart_in_turn_without_losing_a_request() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut twins = [start_twin(&listener, &taken), start_twin(&listener, &taken)];
    let stream = Stream::start(address);
    stream.wait_for(20);
    // A deploy restarting one instance at a time, as `supervisorctl restart server:server_00`
    // then `server:server_01` does.
    for round in 0..4 {
        let twin = &mut twins[round % 2];
        twin.signal(libc::SIGTERM);
        assert_eq!(
            twin.expect_exit(PATIENCE).code(),
            Some(0),
            "restart {round}"
        );
        stream.wait_for(20);
        *twin = start_twin(&listener, &taken);
        stream.wait_for(20);
    }
    let failures = stream.finish();
    assert!(
        failures.is_empty(),
        "{} requests failed: {failures:?}",
        failures.len()
    );
}

#[test]
fn a_killed_twin_leaves_the_other_accepting() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut killed = start_twin(&listener, &taken);
    let mut twin = start_twin(&listener, &taken);
    let stream = Stream::start(address);
    stream.wait_for(20);
    killed.signal(libc::SIGKILL);
    killed.expect_exit(PATIENCE);
    // Nothing restarts the killed one: the twin alone answers what follows.
    stream.wait_for(200);
    let failures = stream.finish();
    // Only requests the killed instance had accepted can fail (reset, closed unanswered);
    // never a refused connection, which would mean nothing was listening.
    assert!(
        failures
            .iter()
            .all(|failure| !failure.starts_with("connect:")),
        "connections refused after the kill: {failures:?}"
    );
    assert!(
        failures.len() <= 3,
        "more failures than requests in flight: {failures:?}"
    );
    twin.signal(libc::SIGTERM);
    assert_eq!(twin.expect_exit(PATIENCE).code(), Some(0));
}
