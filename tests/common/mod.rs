//! Helpers for the integration tests: start the real binaries, follow their logs, speak
//! raw HTTP/1.1 over loopback sockets. Bounds are generous (the CI machine is small and
//! shared); they only tell a behaviour from its absence.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const SERVER: &str = env!("CARGO_BIN_EXE_duet-server");
pub const CLIENT: &str = env!("CARGO_BIN_EXE_duet-client");

/// Upper bound for anything that should happen "now" on an idle machine.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A command for one of the binaries with none of the caller's settings leaking in.
pub fn command(program: &str) -> Command {
    let mut command = Command::new(program);
    for name in [
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "JOURNAL_STREAM",
        "RUST_LOG",
        "DUET_LISTEN",
        "DUET_DRAIN_TIMEOUT",
        "DUET_SHUTDOWN_DELAY",
        "DUET_HEADER_READ_TIMEOUT",
        "DUET_WORKERS",
        "DUET_PATH",
        "SERVER_HOST",
        "SERVER_PORT",
        "POLL_INTERVAL",
    ] {
        command.env_remove(name);
    }
    command.stdin(Stdio::null()).stdout(Stdio::null());
    command
}

/// A running binary whose stderr lines are collected as they come.
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn spawn(mut command: Command) -> Running {
        command.stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn binary");
        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("  | {line}");
                shared.lock().unwrap().push(line.clone());
                let _ = sender.send(line);
            }
        });
        Running {
            child,
            lines,
            log,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits for the next stderr line containing `needle`; panics with the log if none comes.
    pub fn expect_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    panic!("no log line containing {needle:?}; log:\n{}", self.log())
                }
            }
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let result = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(result, 0, "kill({}, {signal})", self.pid());
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The log is complete once the reader has seen stderr's end.
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit status, failing the test (with the log) if it does not come in time.
    pub fn expect_exit(&mut self, limit: Duration) -> ExitStatus {
        match self.wait_exit(limit) {
            Some(status) => status,
            None => panic!("still running after {limit:?}; log:\n{}", self.log()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts duet-server on an ephemeral loopback port with `extra` flags and waits until
/// /healthz answers (served means ready).
pub fn start_server(extra: &[&str]) -> (Running, SocketAddr) {
    let mut command = command(SERVER);
    command.args(["--listen", "127.0.0.1:0"]).args(extra);
    start_server_with(command)
}

/// Like [`start_server`] for a prepared command; reads the address from the log.
pub fn start_server_with(command: Command) -> (Running, SocketAddr) {
    let server = Running::spawn(command);
    let line = server.expect_line("listening address=");
    let address: SocketAddr = line
        .split("address=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    wait_healthy(address);
    (server, address)
}

pub fn wait_healthy(address: SocketAddr) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Ok(response) = try_request(
            address,
            "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        ) {
            if response.status == 200 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{address} did not serve /healthz within {PATIENCE:?}");
}

/// duet-server started the way systemd does it: `listener` as fd 3, LISTEN_FDS=1 and
/// LISTEN_PID set (by a shell that then execs the server, keeping its pid) to
/// `listen_pid`, or to the server's own pid when `None`.
pub fn socket_activated(
    listener: &TcpListener,
    listen_pid: Option<&str>,
    listen: &str,
) -> std::process::Command {
    socket_activated_with(
        listener,
        listen_pid.map(|pid| format!("LISTEN_PID={pid} ")),
        listen,
    )
}

pub fn socket_activated_with(
    listener: &TcpListener,
    listen_pid: Option<String>,
    listen: &str,
) -> std::process::Command {
    let fd = listener.as_raw_fd();
    let mut command = command("/bin/sh");
    let script = format!(
        "{}exec \"$0\" \"$@\"",
        listen_pid.unwrap_or_else(|| "LISTEN_PID=$$ ".to_string())
    );
    command
        .args(["-c", &script, SERVER, "--listen", listen])
        .env("LISTEN_FDS", "1");
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if fd == 3 {
                if libc::fcntl(3, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// A loopback port that nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind ephemeral");
    listener.local_addr().expect("local_addr").port()
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// `METHOD path` on a fresh connection with `Connection: close`.
pub fn request(address: SocketAddr, method: &str, path: &str) -> Response {
    let raw = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    try_request(address, &raw).unwrap_or_else(|error| panic!("{method} {path}: {error}"))
}

/// Sends `raw` as is and reads the reply until the server closes the connection.
pub fn try_request(address: SocketAddr, raw: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.write_all(raw.as_bytes())?;
    let bytes = read_until_closed(&mut stream);
    parse_response(&bytes, raw.starts_with("HEAD ")).ok_or_else(|| {
        std::io::Error::new(
            ErrorKind::InvalidData,
            format!("no HTTP response in {:?}", String::from_utf8_lossy(&bytes)),
        )
    })
}

/// Everything the peer sends until it closes (or resets, or the read timeout passes).
pub fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return bytes,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads exactly one response (head plus Content-Length body) from a kept-alive connection.
pub fn read_one_response(stream: &mut TcpStream, head_request: bool) -> Option<Response> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => bytes.push(byte[0]),
            _ => return None,
        }
    }
    let mut response = parse_response(&bytes, true)?;
    if !head_request {
        let length: usize = response.header("content-length")?.parse().ok()?;
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).ok()?;
        response.body = body;
    }
    Some(response)
}

fn parse_response(bytes: &[u8], head_request: bool) -> Option<Response> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect();
    let body = if head_request {
        Vec::new()
    } else {
        bytes[end + 4..].to_vec()
    };
    Some(Response {
        status,
        headers,
        body,
    })
}

/// Reads and returns the value of one metric line such as `duet_http_connections_open`.
pub fn metric(address: SocketAddr, series: &str) -> f64 {
    let text = request(address, "GET", "/metrics").text();
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no series {series:?} in:\n{text}"))
}

/// The fields of the server's end of `stream` in /proc/net/tcp, if it has a row there.
fn server_end(stream: &TcpStream) -> Option<Vec<String>> {
    let ours = stream.local_addr().unwrap().port();
    let theirs = stream.peer_addr().unwrap().port();
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let port = |field: &str| u16::from_str_radix(field.rsplit(':').next()?, 16).ok();
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        (port(fields.get(1)?) == Some(theirs) && port(fields.get(2)?) == Some(ours))
            .then_some(fields)
    })
}

/// Waits until the server has read everything sent on `stream` so far: the kernel's
/// receive queue of the server's end of the connection (in /proc/net/tcp) is empty.
pub fn wait_until_server_read(stream: &TcpStream) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let unread = server_end(stream).and_then(|fields| {
            let queues = fields.get(4)?;
            u64::from_str_radix(queues.split(':').nth(1)?, 16).ok()
        });
        if unread == Some(0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server never read the request (queue {unread:?})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the server has accepted `stream`, not merely completed its handshake in the
/// listen backlog: only an accepted connection has a socket inode (column 10 of
/// /proc/net/tcp; 0 while it waits in the accept queue).
pub fn wait_until_accepted(stream: &TcpStream) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let inode = server_end(stream).and_then(|fields| fields.get(9)?.parse::<u64>().ok());
        if inode.is_some_and(|inode| inode != 0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "server never accepted the connection (inode {inode:?})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls a metric until `wanted` holds for its value.
pub fn wait_for_metric(address: SocketAddr, series: &str, wanted: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = metric(address, series);
        if wanted(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{series} stayed at {value}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
