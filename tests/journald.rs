//! Logging to journald's native protocol when JOURNAL_STREAM names stderr.
//!
//! journald's socket path is fixed (/run/systemd/journal/socket), so the server runs in a
//! private mount namespace whose /run is a directory of this test's, bind-mounted, holding
//! a datagram socket this test reads. The test makes that directory beforehand: in a user
//! namespace with no uid map nothing can be created. Whether such a namespace can be made
//! here is found out once, by making one: `unshare` with each of [`WAYS`] in turn
//! bind-mounts a directory on /run and exits. Neither `unshare` being on PATH nor the
//! capability sets tell: user namespaces may be refused (Ubuntu's AppArmor default, a
//! seccomp filter) or granted without the capabilities to mount, and root without
//! capabilities may not map uid 0 (that needs CAP_SETFCAP since Linux 5.12).
//! Where no way works (the Nix build sandbox has no /run), the server runs as it is: the
//! test that needs a journal socket of its own, and the one that needs the fixed path
//! free when a journald is running outside, say so and return; the others still run.
//! DUET_TEST_JOURNAL_NAMESPACE=required (CI) turns that case into a failure that shows
//! what each way printed.

mod common;

use common::*;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// `unshare` options for a private mount namespace, tried in this order.
const WAYS: &[&[&str]] = &[
    // With CAP_SYS_ADMIN.
    &["--mount", "--propagation", "private"],
    // Any other user, where unprivileged user namespaces are allowed.
    &[
        "--user",
        "--map-root-user",
        "--mount",
        "--propagation",
        "private",
    ],
    // Root without CAP_SETFCAP: a user namespace with no uid map, whose capabilities
    // unshare passes on to the command as ambient ones.
    &[
        "--user",
        "--keep-caps",
        "--mount",
        "--propagation",
        "private",
    ],
];

/// Where the server runs: in a private mount namespace made by `unshare` with these
/// options, or as it is when none can be made here.
enum Setting {
    Namespace(&'static [&'static str]),
    AsItIs,
}

/// Tries `way`: Ok if `unshare` made the namespace and bind-mounted a directory on /run in
/// it, else what went wrong.
fn try_way(way: &[&str]) -> Result<(), String> {
    let output = Command::new("unshare")
        .args(way)
        .args(["sh", "-ec", "mount --bind \"$1\" /run", "sh"])
        .arg(std::env::temp_dir())
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run unshare: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{}; stderr: {:?}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

fn find_setting() -> Setting {
    let mut failures = Vec::new();
    for way in WAYS {
        match try_way(way) {
            Ok(()) => return Setting::Namespace(way),
            Err(failure) => failures.push(format!("unshare {}: {failure}", way.join(" "))),
        }
    }
    assert!(
        std::env::var("DUET_TEST_JOURNAL_NAMESPACE").as_deref() != Ok("required"),
        "DUET_TEST_JOURNAL_NAMESPACE=required, but no private /run can be made here:\n{}",
        failures.join("\n")
    );
    Setting::AsItIs
}

fn setting() -> &'static Setting {
    static SETTING: OnceLock<Setting> = OnceLock::new();
    SETTING.get_or_init(find_setting)
}

/// A pipe for the child's stderr: (read end, write end).
fn pipe() -> (std::fs::File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both descriptors, which we then own.
    let result = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(result, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: fresh descriptors from pipe2, owned by nobody else.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

fn journal_stream_of(fd: &OwnedFd) -> String {
    let file = std::fs::File::from(fd.try_clone().unwrap());
    let metadata = file.metadata().unwrap();
    format!("{}:{}", metadata.dev(), metadata.ino())
}

type Record = Vec<(String, String)>;

/// Runs the server with JOURNAL_STREAM set by `journal_stream`, a journal socket at the
/// fixed path if `with_socket`, until it says it listens; returns the datagrams the journal
/// socket got and stderr.
fn run_with_journal(
    setting: &Setting,
    with_socket: bool,
    journal_stream: impl Fn(&OwnedFd) -> String,
) -> (Vec<Record>, String) {
    let directory = std::env::temp_dir().join(format!(
        "duet-test-{}-journal-{}",
        std::process::id(),
        rand_suffix()
    ));
    // What the server's /run holds; the journal socket is in it only if `with_socket`.
    let run = directory.join("run");
    let socket = if with_socket {
        run.join("systemd/journal/socket")
    } else {
        directory.join("socket")
    };
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    let journal = UnixDatagram::bind(&socket).expect("bind fake journal socket");
    journal
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let (mut stderr_read, stderr_write) = pipe();
    let mut command = match setting {
        Setting::Namespace(unshare) => {
            let mut command = command("unshare");
            command
                .args(*unshare)
                .args([
                    "sh",
                    "-ec",
                    "mount --bind \"$1\" /run; shift; exec \"$@\"",
                    "sh",
                ])
                .arg(&run)
                .args([SERVER, "--listen", "127.0.0.1:0"]);
            command
        }
        Setting::AsItIs => {
            assert!(!with_socket, "no journal socket can be given here");
            let mut command = command(SERVER);
            command.args(["--listen", "127.0.0.1:0"]);
            command
        }
    };
    command
        .env("JOURNAL_STREAM", journal_stream(&stderr_write))
        .stderr(Stdio::from(stderr_write));
    let mut child = command.spawn().expect("spawn the server");
    drop(command);

    let stderr = Arc::new(Mutex::new(String::new()));
    let collected = Arc::clone(&stderr);
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(length @ 1..) = stderr_read.read(&mut chunk) {
            collected
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..length]));
        }
    });

    let mut records: Vec<Vec<(String, String)>> = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    let mut buffer = vec![0u8; 65536];
    let started = |records: &Vec<Vec<(String, String)>>| {
        records
            .iter()
            .flatten()
            .any(|(key, value)| key == "MESSAGE" && value.starts_with("listening"))
            || stderr.lock().unwrap().contains("listening")
    };
    while Instant::now() < deadline && !started(&records) {
        if let Ok(length) = journal.recv(&mut buffer) {
            records.push(parse_native(&buffer[..length]));
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let stderr = stderr.lock().unwrap().clone();
    let _ = std::fs::remove_dir_all(&directory);
    assert_eq!(status.code(), Some(0), "server exit; stderr: {stderr}");
    (records, stderr)
}

/// Decodes one datagram of journald's native protocol: `KEY=value` lines, or `KEY`,
/// newline, 64-bit little-endian length, value, newline.
fn parse_native(mut bytes: &[u8]) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    while let Some(newline) = bytes.iter().position(|&b| b == b'\n') {
        let line = &bytes[..newline];
        if let Some(equals) = line.iter().position(|&b| b == b'=') {
            let key = String::from_utf8_lossy(&line[..equals]).into_owned();
            fields.push((
                key,
                String::from_utf8_lossy(&line[equals + 1..]).into_owned(),
            ));
            bytes = &bytes[newline + 1..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &bytes[newline + 1..];
            let Some(length) = rest.get(..8) else { break };
            let length = u64::from_le_bytes(length.try_into().unwrap()) as usize;
            let Some(value) = rest.get(8..8 + length) else {
                break;
            };
            fields.push((key, String::from_utf8_lossy(value).into_owned()));
            bytes = rest.get(8 + length + 1..).unwrap_or_default();
        }
    }
    fields
}

fn field<'a>(record: &'a [(String, String)], name: &str) -> Option<&'a str> {
    record
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn logs_go_to_journald_natively_when_journal_stream_is_stderr() {
    let setting = setting();
    if matches!(setting, Setting::AsItIs) {
        eprintln!("not run: no private /run can be made here to hold a journal socket");
        return;
    }
    let (records, stderr) = run_with_journal(setting, true, journal_stream_of);
    let listening = records
        .iter()
        .find(|record| {
            field(record, "MESSAGE").is_some_and(|m| m.starts_with("listening address=127.0.0.1:"))
        })
        .unwrap_or_else(|| {
            panic!("no native listening record; got {records:?}; stderr {stderr:?}")
        });
    // tracing-journald maps INFO to priority 5 (notice).
    assert_eq!(field(listening, "PRIORITY"), Some("5"), "{listening:?}");
    assert_eq!(
        field(listening, "SYSLOG_IDENTIFIER"),
        Some("duet-server"),
        "{listening:?}"
    );
    assert!(
        !stderr.contains("listening"),
        "also logged as text: {stderr:?}"
    );
}

#[test]
fn a_journal_stream_naming_another_file_keeps_text_on_stderr() {
    let setting = setting();
    let with_socket = matches!(setting, Setting::Namespace(_));
    let (records, stderr) = run_with_journal(setting, with_socket, |_| "1:1".to_string());
    assert!(records.is_empty(), "sent to journald: {records:?}");
    assert!(
        stderr.contains("listening address=127.0.0.1:"),
        "{stderr:?}"
    );
    assert!(!stderr.contains("journal"), "{stderr:?}");
}

#[test]
fn an_unreachable_journal_keeps_text_on_stderr_and_says_so() {
    let setting = setting();
    if matches!(setting, Setting::AsItIs) && Path::new(JOURNAL_SOCKET).exists() {
        eprintln!("not run: {JOURNAL_SOCKET} exists and no private /run can be made to hide it");
        return;
    }
    let (records, stderr) = run_with_journal(setting, false, journal_stream_of);
    assert!(records.is_empty(), "sent to journald: {records:?}");
    assert!(
        stderr.contains("stderr is the journal, but its socket is unreachable"),
        "{stderr:?}"
    );
    assert!(
        stderr.contains("listening address=127.0.0.1:"),
        "{stderr:?}"
    );
}
