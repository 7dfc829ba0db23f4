//! Restarts the way systemd does them with socket activation: the listening socket outlives
//! each duet-server instance, so a restart under a stream of requests must lose none of
//! them. Connections that arrive while no instance runs wait in the listen backlog; the ones
//! an instance has already accepted must be answered by that instance.

mod common;

use common::*;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RESTARTS: usize = 8;

/// Time each client thread waits between connecting and sending its request, as a client
/// on a real network does: the later ones keep a connection accepted but still silent at
/// most times, which is the state a stop signal must not drop.
const PAUSES: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(50),
];

/// Requests each instance must have answered before it is stopped.
const PER_INSTANCE: usize = 20;

/// One `GET /` on a new connection, as `curl` makes it; the full 200 response or why not.
fn fetch(address: SocketAddr, pause: Duration) -> Result<(), String> {
    let mut stream = TcpStream::connect(address).map_err(|error| format!("connect: {error}"))?;
    // Generous: a request may wait in the backlog while the next instance starts.
    let limit = Some(Duration::from_secs(30));
    stream.set_read_timeout(limit).unwrap();
    stream.set_write_timeout(limit).unwrap();
    std::thread::sleep(pause);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .map_err(|error| format!("send: {error}"))?;
    match read_one_response(&mut stream, false) {
        Some(response) if response.status == 200 && response.text().contains("duet-server") => {
            Ok(())
        }
        Some(response) => Err(format!("status {} {:?}", response.status, response.text())),
        None => Err("connection closed without a response".into()),
    }
}

fn start_instance(listener: &TcpListener) -> Running {
    let server = Running::spawn(socket_activated(listener, None, "127.0.0.1:1"));
    let line = server.expect_line("listening address=");
    assert!(line.contains("socket=passed"), "{line}");
    server
}

/// Waits until the clients have had `count` answers in all.
fn wait_for_answers(answered: &AtomicUsize, count: usize, failures: &Mutex<Vec<String>>) {
    let deadline = Instant::now() + PATIENCE * 3;
    while answered.load(Ordering::Relaxed) < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} requests answered; failures: {:?}",
            answered.load(Ordering::Relaxed),
            failures.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn restarts_on_a_kept_listening_socket_lose_no_request() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let mut server = start_instance(&listener);

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = PAUSES
        .iter()
        .map(|&pause| {
            let (stop, answered, failures) = (stop.clone(), answered.clone(), failures.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match fetch(address, pause) {
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

    for restart in 1..=RESTARTS {
        let target = answered.load(Ordering::Relaxed) + PER_INSTANCE;
        wait_for_answers(&answered, target, &failures);
        server.signal(libc::SIGTERM);
        let status = server.expect_exit(PATIENCE);
        assert_eq!(status.code(), Some(0), "instance {restart}: exit status");
        // As systemd does: the next instance gets the same socket right away.
        server = start_instance(&listener);
    }
    let target = answered.load(Ordering::Relaxed) + PER_INSTANCE;
    wait_for_answers(&answered, target, &failures);

    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }
    server.signal(libc::SIGTERM);
    assert_eq!(server.expect_exit(PATIENCE).code(), Some(0));

    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed across {RESTARTS} restarts: {:?}",
        failures.len(),
        failures.len() + answered.load(Ordering::Relaxed),
        *failures
    );
}
