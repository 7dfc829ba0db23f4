//! systemd's notify protocol (READY=1, STATUS=, STOPPING=1, WATCHDOG=1). Every call is a
//! silent no-op when NOTIFY_SOCKET is unset, which is how the programs run outside systemd.

use sd_notify::NotifyState;
use std::time::Duration;

/// Tells the service manager that startup is finished.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Updates the free-form status line `systemctl status` shows.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Tells the service manager that shutdown has begun.
pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

/// Half of WATCHDOG_USEC when systemd asks this process for watchdog pings.
pub fn watchdog_period() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .map(|timeout| timeout / 2)
        .filter(|period| !period.is_zero())
}

/// Pings the watchdog every `period`, forever.
pub async fn keep_watchdog_fed(period: Duration) {
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        send(&[NotifyState::Watchdog]);
    }
}

fn send(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "could not notify the service manager");
    }
}
