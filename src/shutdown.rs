//! SIGTERM and SIGINT as events. Installing handlers matters as container PID 1, where
//! the kernel applies no default action and an unhandled SIGTERM is simply ignored.

use std::io;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The stop signals this process listens to.
pub struct StopSignals {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignals {
    /// Installs the handlers; must be called inside a tokio runtime.
    pub fn install() -> io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the next stop signal and returns its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
