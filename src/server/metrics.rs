//! Request and connection counters and the request-duration histogram, kept in atomics
//! so the hot path never locks, rendered in the Prometheus text format on demand along
//! with the process metrics.

use super::process::Process;
use super::route::{Route, Status};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Upper bounds of the request-duration buckets: nanoseconds, and as printed in `le`.
/// The router answers most requests in a few microseconds; the upper buckets are for a
/// starved CPU.
const BUCKETS: [(u64, &str); 16] = [
    (5_000, "0.000005"),
    (10_000, "0.00001"),
    (25_000, "0.000025"),
    (50_000, "0.00005"),
    (100_000, "0.0001"),
    (250_000, "0.00025"),
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (1_000_000_000, "1"),
];

/// One route's durations: a count per bucket (not cumulative; the last is +Inf) and
/// their sum in nanoseconds.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BUCKETS
            .iter()
            .position(|&(bound, _)| nanos <= bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }
}

/// One shard of the counters, on its own cache lines so connections on different shards
/// never contend.
#[derive(Default)]
#[repr(align(128))]
pub struct Shard {
    requests: [[AtomicU64; Status::ALL.len()]; Route::ALL.len()],
    durations: [Histogram; Route::ALL.len()],
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    connection_errors: AtomicU64,
}

impl Shard {
    /// Counts one answered request; `elapsed` is the time the router took to answer.
    pub fn record_request(&self, route: Route, status: Status, elapsed: Duration) {
        self.requests[route as usize][status as usize].fetch_add(1, Relaxed);
        self.durations[route as usize].observe(elapsed);
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

/// Where the server is in its life, as the gauges show it.
#[derive(Clone, Copy, Debug)]
pub struct Readiness {
    /// /readyz answers 200.
    pub ready: bool,
    /// The listening socket is closed and open connections are finishing.
    pub draining: bool,
}

/// All counters, spread over shards (one per worker thread); read by summing the shards.
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
    /// runtime's worker threads (as many as shards) count on separate cache lines
    /// whichever connection they are running.
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

    /// The exposition; `process` is absent when /proc could not be read.
    pub fn render(
        &self,
        started: Instant,
        readiness: Readiness,
        process: Option<&Process>,
    ) -> String {
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = self.write_to(&mut out, started, readiness);
        if let Some(process) = process {
            let _ = process.write_to(&mut out);
        }
        out
    }

    fn write_to(
        &self,
        out: &mut String,
        started: Instant,
        readiness: Readiness,
    ) -> std::fmt::Result {
        out.push_str(
            "# HELP duet_http_requests_total HTTP requests answered, by route and status.\n",
        );
        out.push_str("# TYPE duet_http_requests_total counter\n");
        for route in Route::ALL {
            for status in Status::ALL {
                let count = self.sum(|shard| &shard.requests[route as usize][status as usize]);
                if count > 0 {
                    writeln!(
                        out,
                        "duet_http_requests_total{{route=\"{}\",status=\"{}\"}} {count}",
                        route.label(),
                        status.code().as_u16()
                    )?;
                }
            }
        }
        self.write_durations(out)?;
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
                u64::from(readiness.draining),
            ),
            (
                "duet_ready",
                "gauge",
                "1 while /readyz answers 200; 0 from the stop signal on (shutdown delay, drain).",
                u64::from(readiness.ready),
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

    fn write_durations(&self, out: &mut String) -> std::fmt::Result {
        const NAME: &str = "duet_http_request_duration_seconds";
        writeln!(
            out,
            "# HELP {NAME} Time the router took to answer a request (from the parsed request head to the response handed back to hyper), by route.\n# TYPE {NAME} histogram"
        )?;
        for route in Route::ALL {
            let label = route.label();
            let row = route as usize;
            let mut cumulative = 0;
            for (bucket, (_, le)) in BUCKETS.iter().enumerate() {
                cumulative += self.sum(|shard| &shard.durations[row].buckets[bucket]);
                writeln!(
                    out,
                    "{NAME}_bucket{{route=\"{label}\",le=\"{le}\"}} {cumulative}"
                )?;
            }
            cumulative += self.sum(|shard| &shard.durations[row].buckets[BUCKETS.len()]);
            let sum = self.sum(|shard| &shard.durations[row].sum_nanos) as f64 / 1e9;
            writeln!(
                out,
                "{NAME}_bucket{{route=\"{label}\",le=\"+Inf\"}} {cumulative}\n{NAME}_sum{{route=\"{label}\"}} {sum}\n{NAME}_count{{route=\"{label}\"}} {cumulative}"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{BUCKETS, Metrics, Readiness, Route, Status};
    use std::time::{Duration, Instant};

    const SERVING: Readiness = Readiness {
        ready: true,
        draining: false,
    };

    #[test]
    fn renders_counters_by_route_and_status() {
        let metrics = Metrics::new(2);
        let quick = Duration::from_micros(3);
        metrics
            .shard(0)
            .record_request(Route::Root, Status::Ok, quick);
        metrics
            .shard(1)
            .record_request(Route::Root, Status::Ok, quick);
        metrics
            .shard(1)
            .record_request(Route::Other, Status::NotFound, quick);
        metrics.shard(0).connection_opened();
        metrics.shard(1).connection_opened();
        metrics.shard(1).connection_closed();
        let text = metrics.render(Instant::now(), SERVING, None);
        assert!(text.contains("duet_http_requests_total{route=\"/\",status=\"200\"} 2\n"));
        assert!(text.contains("duet_http_requests_total{route=\"other\",status=\"404\"} 1\n"));
        assert!(text.contains("duet_http_connections_open 1\n"));
        assert!(text.contains("duet_draining 0\n"));
        assert!(text.contains("duet_ready 1\n"));
        let stopping = Readiness {
            ready: false,
            draining: false,
        };
        let text = metrics.render(Instant::now(), stopping, None);
        assert!(text.contains("duet_draining 0\n"));
        assert!(text.contains("duet_ready 0\n"));
    }

    #[test]
    fn durations_fall_into_cumulative_buckets_by_route() {
        let metrics = Metrics::new(2);
        for (shard, micros) in [(0, 3), (1, 5), (0, 7), (1, 300), (0, 2_000_000)] {
            metrics.shard(shard).record_request(
                Route::Healthz,
                Status::Ok,
                Duration::from_micros(micros),
            );
        }
        let text = metrics.render(Instant::now(), SERVING, None);
        let series = |suffix: &str| {
            let wanted = format!("duet_http_request_duration_seconds{suffix} ");
            text.lines()
                .find_map(|line| line.strip_prefix(&wanted))
                .unwrap_or_else(|| panic!("no {wanted:?} in\n{text}"))
                .to_string()
        };
        let bucket = |le: &str| series(&format!("_bucket{{route=\"/healthz\",le=\"{le}\"}}"));
        assert_eq!(bucket("0.000005"), "2", "5 µs is on the bound, so inside");
        assert_eq!(bucket("0.00001"), "3");
        assert_eq!(bucket("0.00025"), "3");
        assert_eq!(bucket("0.0005"), "4");
        assert_eq!(bucket("1"), "4");
        assert_eq!(bucket("+Inf"), "5");
        assert_eq!(series("_count{route=\"/healthz\"}"), "5");
        assert_eq!(series("_sum{route=\"/healthz\"}"), "2.000315");
        assert_eq!(series("_count{route=\"/\"}"), "0");
        let bounds: Vec<u64> = BUCKETS.iter().map(|&(nanos, _)| nanos).collect();
        for (nanos, le) in BUCKETS {
            assert_eq!(le.parse::<f64>().unwrap(), nanos as f64 / 1e9, "{le}");
        }
        assert!(bounds.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
