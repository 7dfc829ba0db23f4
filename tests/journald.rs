//! Logging to journald's native protocol when JOURNAL_STREAM names stderr. The server runs
//! in a private mount namespace (unshare, needs root as CI has) whose
//! /run/systemd/journal/socket is a datagram socket this test reads.

mod common;

use common::*;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

fn run_with_journal(journal_stream: impl Fn(&OwnedFd) -> String) -> (Vec<Record>, String) {
    let directory = std::env::temp_dir().join(format!(
        "duet-test-{}-journal-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&directory).unwrap();
    let journal = UnixDatagram::bind(directory.join("socket")).expect("bind fake journal socket");
    journal
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let (mut stderr_read, stderr_write) = pipe();
    let mut command = command("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-ec"])
        .arg(
            "mount -t tmpfs tmpfs /run; mkdir -p /run/systemd/journal; \
             mount --bind \"$1\" /run/systemd/journal; shift; exec \"$@\"",
        )
        .arg("sh")
        .arg(&directory)
        .args([SERVER, "--listen", "127.0.0.1:0"])
        .env("JOURNAL_STREAM", journal_stream(&stderr_write))
        .stderr(Stdio::from(stderr_write));
    let mut child = command.spawn().expect("spawn unshare (util-linux)");
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
    let (records, stderr) = run_with_journal(journal_stream_of);
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
    let (records, stderr) = run_with_journal(|_| "1:1".to_string());
    assert!(records.is_empty(), "sent to journald: {records:?}");
    assert!(
        stderr.contains("listening address=127.0.0.1:"),
        "{stderr:?}"
    );
}
