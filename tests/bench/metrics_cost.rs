//! What the request-duration histogram adds to each request, in nanoseconds: two clock reads
//! and the histogram's two atomic adds, against the one atomic add a request counter costs.
//! A figure the machine's load hardly moves (best of 15 runs), to set beside the server's
//! CPU time per request from tests/bench/crate_bench.py.
//!
//! Usage: cargo run --release --example metrics-cost

use duet::server::metrics::Metrics;
use duet::server::route::{Route, Status};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

const REQUESTS: u32 = 5_000_000;
const RUNS: usize = 15;

fn counter_only(counter: &AtomicU64) -> Duration {
    let start = Instant::now();
    for _ in 0..REQUESTS {
        black_box(counter).fetch_add(1, Relaxed);
    }
    start.elapsed()
}

fn timed_and_counted(metrics: &Metrics) -> Duration {
    let start = Instant::now();
    for _ in 0..REQUESTS {
        let began = Instant::now();
        black_box(metrics).thread_shard().record_request(
            black_box(Route::Root),
            black_box(Status::Ok),
            began.elapsed(),
        );
    }
    start.elapsed()
}

fn main() {
    let metrics = Metrics::new(2);
    let counter = AtomicU64::new(0);
    let (mut before, mut now) = (Duration::MAX, Duration::MAX);
    for _ in 0..RUNS {
        before = before.min(counter_only(&counter));
        now = now.min(timed_and_counted(&metrics));
    }
    let per_request = |total: Duration| total.as_nanos() as f64 / f64::from(REQUESTS);
    println!(
        "counter only: {:.1} ns/request; clock reads, counter and histogram: {:.1} ns/request; \
         added: {:.1} ns/request (best of {RUNS} runs of {REQUESTS})",
        per_request(before),
        per_request(now),
        per_request(now) - per_request(before)
    );
}
