//! Request and connection counters, kept in atomics so the hot path never locks,
//! rendered in the Prometheus text format on demand.

use super::state::Phase;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// The routes the server knows; everything else is `Other` (404).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Root,
    Healthz,
    Readyz,
    Metrics,
    Other,
}

impl Route {
    const ALL: [Route; 5] = [
        Route::Root,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::Other,
    ];

    pub fn of(path: &str) -> Route {
        match path {
            "/" => Route::Root,
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            "/metrics" => Route::Metrics,
            _ => Route::Other,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::Other => "other",
        }
    }
}

/// Every status the router itself produces (hyper's own 400/431 replies end the
/// connection and are counted as connection errors instead).
const STATUSES: [u16; 4] = [200, 404, 405, 503];

/// One shard of the counters, on its own cache lines so connections on different shards
/// never contend.
#[derive(Default)]
#[repr(align(128))]
pub struct Shard {
    requests: [[AtomicU64; STATUSES.len()]; Route::ALL.len()],
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    connection_errors: AtomicU64,
}

impl Shard {
    pub fn record_request(&self, route: Route, status: u16) {
        if let Some(column) = STATUSES.iter().position(|&known| known == status) {
            self.requests[route as usize][column].fetch_add(1, Relaxed);
        }
    }

    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Relaxed);
        self.connections_total.fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    pub fn connection_failed(&self) {
        self.connection_errors.fetch_add(1, Relaxed);
    }
}

/// All counters, spread over shards (one per core); read by summing the shards.
pub struct Metrics {
    shards: Box<[Shard]>,
}

impl Metrics {
    pub fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Shard::default()).collect(),
        }
    }

    /// Shard `index`, modulo the number of shards.
    pub fn shard(&self, index: usize) -> &Shard {
        &self.shards[index % self.shards.len()]
    }

    /// The calling thread's shard: each thread takes the next index on first use, so the
    /// runtime's worker threads (one per core, as many as shards) count on separate cache
    /// lines whichever connection they are running.
    pub fn thread_shard(&self) -> &Shard {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static INDEX: usize = NEXT.fetch_add(1, Relaxed);
        }
        self.shard(INDEX.with(|index| *index))
    }

    fn sum(&self, read: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| read(shard).load(Relaxed))
            .sum()
    }

    pub fn open_connections(&self) -> u64 {
        self.sum(|shard| &shard.connections_open)
    }

    pub fn render(&self, started: Instant, phase: Phase) -> String {
        let mut out = String::with_capacity(2048);
        // Writing into a String cannot fail.
        let _ = self.write_to(&mut out, started, phase);
        out
    }

    fn write_to(&self, out: &mut String, started: Instant, phase: Phase) -> std::fmt::Result {
        out.push_str(
            "# HELP duet_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE duet_http_requests_total counter\n");
        for route in Route::ALL {
            for (column, status) in STATUSES.iter().enumerate() {
                let count = self.sum(|shard| &shard.requests[route as usize][column]);
                if count > 0 {
                    writeln!(
                        out,
                        "duet_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
                        route.label()
                    )?;
                }
            }
        }
        let gauges: [(&str, &str, &str, u64); 5] = [
            (
                "duet_http_connections_open",
                "gauge",
                "Client connections currently open.",
                self.open_connections(),
            ),
            (
                "duet_http_connections_total",
                "counter",
                "Client connections accepted.",
                self.sum(|shard| &shard.connections_total),
            ),
            (
                "duet_http_connection_errors_total",
                "counter",
                "Connections ended by an error: malformed request (400), headers too large (431), header-read timeout, reset.",
                self.sum(|shard| &shard.connection_errors),
            ),
            (
                "duet_draining",
                "gauge",
                "1 while the server drains before exit.",
                u64::from(phase == Phase::Draining),
            ),
            (
                "duet_ready",
                "gauge",
                "1 while /readyz answers 200; 0 from the stop signal on (shutdown delay, drain).",
                u64::from(phase == Phase::Serving),
            ),
        ];
        for (name, kind, help, value) in gauges {
            writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            )?;
        }
        writeln!(
            out,
            "# HELP duet_uptime_seconds Seconds since the server started.\n# TYPE duet_uptime_seconds gauge\nduet_uptime_seconds {:.3}",
            started.elapsed().as_secs_f64()
        )?;
        writeln!(
            out,
            "# HELP duet_build_info Build information.\n# TYPE duet_build_info gauge\nduet_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{Metrics, Route};
    use crate::server::state::Phase;
    use std::time::Instant;

    #[test]
    fn renders_counters_by_route_and_status() {
        let metrics = Metrics::new(2);
        metrics.shard(0).record_request(Route::Root, 200);
        metrics.shard(1).record_request(Route::Root, 200);
        metrics.shard(1).record_request(Route::Other, 404);
        metrics.shard(0).connection_opened();
        metrics.shard(1).connection_opened();
        metrics.shard(1).connection_closed();
        let text = metrics.render(Instant::now(), Phase::Serving);
        assert!(text.contains("duet_http_requests_total{route=\"/\",status=\"200\"} 2\n"));
        assert!(text.contains("duet_http_requests_total{route=\"other\",status=\"404\"} 1\n"));
        assert!(text.contains("duet_http_connections_open 1\n"));
        assert!(text.contains("duet_draining 0\n"));
        assert!(text.contains("duet_ready 1\n"));
        let text = metrics.render(Instant::now(), Phase::Leaving);
        assert!(text.contains("duet_draining 0\n"));
        assert!(text.contains("duet_ready 0\n"));
    }
}
