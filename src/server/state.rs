//! What all connections share.

use super::metrics::{Metrics, Readiness};
use bytes::Bytes;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

/// Where the server is in its life; it only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Ready: /readyz answers 200 `ready`.
    Serving = 0,
    /// A stop signal came: /readyz answers 503 `stopping`, new connections are still
    /// served (the shutdown delay).
    Stopping = 1,
    /// The listening socket is closed and open connections are finishing: /readyz
    /// answers 503 `draining`.
    Draining = 2,
}

pub struct State {
    /// Built once: `GET /` only clones a reference-counted buffer.
    pub greeting: Bytes,
    pub started: Instant,
    pub metrics: Metrics,
    phase: AtomicU8,
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
            phase: AtomicU8::new(Phase::Serving as u8),
        }
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Serving,
            1 => Phase::Stopping,
            _ => Phase::Draining,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.phase() == Phase::Serving
    }

    /// The phase as the metrics show it.
    pub fn readiness(&self) -> Readiness {
        let phase = self.phase();
        Readiness {
            ready: phase == Phase::Serving,
            draining: phase == Phase::Draining,
        }
    }

    /// Moves on to `phase`; never back.
    pub fn enter(&self, phase: Phase) {
        self.phase.fetch_max(phase as u8, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::{Phase, State};

    #[test]
    fn the_phase_only_moves_forward() {
        let state = State::new("test", 1);
        assert!(state.is_ready());
        state.enter(Phase::Draining);
        state.enter(Phase::Stopping);
        assert_eq!(state.phase(), Phase::Draining);
        assert!(!state.is_ready());
    }
}
