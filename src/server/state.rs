//! What all connections share.

use super::metrics::Metrics;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub struct State {
    /// Built once: `GET /` only clones a reference-counted buffer.
    pub greeting: Bytes,
    pub started: Instant,
    pub metrics: Metrics,
    draining: AtomicBool,
}

impl State {
    pub fn new(host_name: &str, workers: usize) -> Self {
        Self {
            greeting: Bytes::from(format!(
                "Hello from duet-server {} on {host_name}\n",
                env!("CARGO_PKG_VERSION")
            )),
            started: Instant::now(),
            metrics: Metrics::new(workers),
            draining: AtomicBool::new(false),
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}
