//! duet-server: a small HTTP/1.1 server that is correct as container PID 1 and as a
//! systemd service (socket activation, notify protocol, watchdog, bounded drain).

pub mod listen;
pub mod metrics;
pub mod routes;

use crate::cli::{Args, UsageError};
use crate::notify;
use crate::shutdown::StopSignals;
use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use metrics::Metrics;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// Request heads (request line plus headers) larger than this get 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Command line of duet-server.
#[derive(Parser, Debug)]
#[command(
    name = "duet-server",
    version,
    args_override_self = true,
    about = "HTTP server of the duet pair: / /healthz /readyz /metrics"
)]
pub struct ServerArgs {
    /// Address to listen on, unless systemd passes a socket (LISTEN_FDS)
    #[arg(
        long,
        env = "DUET_LISTEN",
        default_value = "0.0.0.0:8080",
        value_name = "ADDR"
    )]
    pub listen: String,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT (5, 500ms, 2s)
    #[arg(
        long,
        env = "DUET_DRAIN_TIMEOUT",
        default_value = "5s",
        value_name = "DUR"
    )]
    pub drain_timeout: String,
    /// Time a client gets to send a complete request head; also how long an idle
    /// keep-alive connection stays open
    #[arg(
        long,
        env = "DUET_HEADER_READ_TIMEOUT",
        default_value = "10s",
        value_name = "DUR"
    )]
    pub header_read_timeout: String,
    /// Log level or directives (default: RUST_LOG, else info)
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// Validated settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub drain_timeout: Duration,
    pub header_read_timeout: Duration,
}

impl Config {
    pub fn from_args(args: &Args<ServerArgs>) -> Result<Self, UsageError> {
        Ok(Self {
            listen: args.value("listen", |text| {
                text.parse::<SocketAddr>()
                    .map_err(|_| "expected IP:PORT such as 0.0.0.0:8080 or [::]:8080")
            })?,
            drain_timeout: args.value("drain_timeout", crate::duration::parse)?,
            header_read_timeout: args
                .value("header_read_timeout", crate::cli::positive_duration)?,
        })
    }
}

/// What every connection shares.
pub struct State {
    greeting: Bytes,
    started: Instant,
    draining: AtomicBool,
    metrics: Metrics,
}

impl State {
    pub fn new(host_name: &str) -> Self {
        Self {
            greeting: Bytes::from(format!(
                "Hello from duet-server {} on {host_name}\n",
                env!("CARGO_PKG_VERSION")
            )),
            started: Instant::now(),
            draining: AtomicBool::new(false),
            metrics: Metrics::default(),
        }
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// The per-connection hyper service; answers synchronously, so no boxing per request.
#[derive(Clone)]
struct Service(Arc<State>);

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        ready(Ok(routes::respond(&self.0, &request)))
    }
}

/// Keeps the open-connections gauge right however a connection task ends.
struct ConnectionGuard(Arc<State>);

impl ConnectionGuard {
    fn new(state: &Arc<State>) -> Self {
        state.metrics.connection_opened();
        Self(Arc::clone(state))
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.metrics.connection_closed();
    }
}

/// Serves until SIGTERM/SIGINT, drains, and returns the exit status (0 after a drain).
pub async fn run(
    config: Config,
    listener: std::net::TcpListener,
    origin: listen::Origin,
) -> ExitCode {
    let mut signals = match StopSignals::install() {
        Ok(signals) => signals,
        Err(error) => {
            error!("cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            error!("cannot use the listening socket: {error}");
            return ExitCode::FAILURE;
        }
    };
    let address = listener
        .local_addr()
        .map(|address| address.to_string())
        .unwrap_or_else(|_| "?".into());

    let state = Arc::new(State::new(&crate::host::name()));
    let mut http = http1::Builder::new();
    // Without a timer hyper silently skips the header-read timeout (hyperium/hyper#3178).
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .keep_alive(true);

    if let Some(period) = notify::watchdog_period() {
        info!("feeding the systemd watchdog every {period:?}");
        tokio::spawn(notify::keep_watchdog_fed(period));
    }
    let socket = match origin {
        listen::Origin::Passed => "passed",
        listen::Origin::Bound => "bound",
    };
    info!(
        "listening address={address} socket={socket} version={}",
        env!("CARGO_PKG_VERSION")
    );
    notify::ready(&format!("serving on {address}"));

    let graceful = GracefulShutdown::new();
    let signal = loop {
        tokio::select! {
            signal = signals.recv() => break signal,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let guard = ConnectionGuard::new(&state);
                    let connection = http.serve_connection(TokioIo::new(stream), Service(Arc::clone(&state)));
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            guard.0.metrics.connection_failed();
                            debug!("connection from {peer} ended with an error: {error}");
                        }
                        drop(guard);
                    });
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    };

    state.draining.store(true, Ordering::Relaxed);
    drop(listener);
    let open = state.metrics.open_connections();
    info!(
        "{signal}: draining open_connections={open} drain_timeout={:?}",
        config.drain_timeout
    );
    notify::stopping(&format!("draining {open} connections"));

    tokio::select! {
        _ = graceful.shutdown() => info!("drained; exiting"),
        _ = tokio::time::sleep(config.drain_timeout) => warn!(
            "drain timeout reached; closing open_connections={}",
            state.metrics.open_connections()
        ),
        signal = signals.recv() => warn!("second stop signal {signal}; exiting without waiting"),
    }
    ExitCode::SUCCESS
}
