//! duet-server: a small HTTP/1.1 server that is correct as container PID 1 and as a
//! systemd service (socket activation, notify protocol, watchdog, bounded drain).

pub mod acceptor;
pub mod drain;
pub mod host;
pub mod listen;
pub mod metrics;
pub mod notify;
pub mod process;
pub mod route;
pub mod router;
pub mod state;

use crate::cli::{Args, UsageError};
use crate::shutdown::StopSignals;
use acceptor::Acceptor;
use clap::Parser;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use state::{Phase, State};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info, warn};

/// Request heads (request line plus headers) larger than this get 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Most worker threads `--workers` accepts.
pub const MAX_WORKERS: usize = 1024;

/// Command line of duet-server.
#[derive(Parser, Debug)]
#[command(
    name = "duet-server",
    version,
    args_override_self = true,
    about = "HTTP server of the duet pair: / /healthz /readyz /metrics"
)]
pub struct ServerArgs {
    /// Address to listen on, unless a socket is inherited (--listen-fd) or systemd passes
    /// one (LISTEN_FDS)
    #[arg(
        long,
        env = "DUET_LISTEN",
        default_value = "0.0.0.0:8080",
        value_name = "ADDR"
    )]
    pub listen: String,
    /// Serve on the listening TCP socket inherited on this file descriptor instead of
    /// binding --listen (supervisord's [fcgi-program:x] passes one as fd 0)
    #[arg(long, env = "DUET_LISTEN_FD", value_name = "FD")]
    pub listen_fd: Option<String>,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT (5, 500ms, 2s)
    #[arg(
        long,
        env = "DUET_DRAIN_TIMEOUT",
        default_value = "5s",
        value_name = "DUR"
    )]
    pub drain_timeout: String,
    /// After SIGTERM/SIGINT, how long to keep accepting and serving, with /readyz
    /// answering 503, before the drain, so that load balancers stop sending traffic
    /// first (0, 5, 500ms, 2s); a second signal ends it early
    #[arg(
        long,
        env = "DUET_SHUTDOWN_DELAY",
        default_value = "0",
        value_name = "DUR"
    )]
    pub shutdown_delay: String,
    /// Time a client gets to send a complete request head; also how long an idle
    /// keep-alive connection stays open
    #[arg(
        long,
        env = "DUET_HEADER_READ_TIMEOUT",
        default_value = "10s",
        value_name = "DUR"
    )]
    pub header_read_timeout: String,
    /// Worker threads serving connections (default: one per CPU this process may use,
    /// after CPU affinity and cgroup CPU quota)
    #[arg(
        long,
        env = "DUET_WORKERS",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub workers: Option<String>,
    /// Log level or directives (default: RUST_LOG, else info)
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// Validated settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// The inherited listening socket to serve on, checked.
    pub listen_fd: Option<std::os::fd::RawFd>,
    pub drain_timeout: Duration,
    pub shutdown_delay: Duration,
    pub header_read_timeout: Duration,
    pub workers: usize,
}

impl Config {
    pub fn from_args(args: &Args<ServerArgs>) -> Result<Self, UsageError> {
        Ok(Self {
            listen: args.value("listen", |text| {
                text.parse::<SocketAddr>()
                    .map_err(|_| "expected IP:PORT such as 0.0.0.0:8080 or [::]:8080")
            })?,
            listen_fd: match args.optional("listen_fd", listen::check_inherited)? {
                Some(_) if listen::systemd_passes_sockets() => {
                    return Err(args.invalid(
                        "listen_fd",
                        "systemd passes a socket too (LISTEN_FDS); use one of the two",
                    ));
                }
                fd => fd,
            },
            drain_timeout: args.value("drain_timeout", crate::duration::parse)?,
            shutdown_delay: args.value("shutdown_delay", crate::duration::parse)?,
            header_read_timeout: args
                .value("header_read_timeout", crate::cli::positive_duration)?,
            workers: match args.optional("workers", parse_workers)? {
                Some(workers) => workers,
                None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            },
        })
    }
}

fn parse_workers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(workers @ 1..=MAX_WORKERS) => Ok(workers),
        _ => Err(format!(
            "expected a whole number of threads from 1 to {MAX_WORKERS}"
        )),
    }
}

/// Serves until SIGTERM/SIGINT, keeps serving for the shutdown delay, drains, and returns
/// the exit status (0 after a drain).
/// The calling thread handles signals and systemd; a multi-thread runtime with
/// `config.workers` worker threads serves the connections.
pub fn run(config: Config, listener: std::net::TcpListener, origin: listen::Origin) -> ExitCode {
    let workers = config.workers;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            error!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(supervise(config, listener, origin, workers))
}

fn http_settings(config: &Config) -> http1::Builder {
    let mut http = http1::Builder::new();
    // Without a timer hyper silently skips the header-read timeout (hyperium/hyper#3178).
    // The timer runs from the moment a request head is awaited, so it also closes
    // kept-alive connections left idle.
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_header_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    http
}

async fn supervise(
    config: Config,
    listener: std::net::TcpListener,
    origin: listen::Origin,
    workers: usize,
) -> ExitCode {
    let mut signals = match StopSignals::install() {
        Ok(signals) => signals,
        Err(error) => {
            error!("cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    let address = listener
        .local_addr()
        .map(|address| address.to_string())
        .unwrap_or_else(|_| "?".into());
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            error!("cannot use the listening socket: {error}");
            return ExitCode::FAILURE;
        }
    };
    let state = Arc::new(State::new(&host::name(), workers));
    let http = Arc::new(http_settings(&config));
    // A connection the stop finds before its first request still gets it answered (see
    // drain.rs), for as long as hyper would wait for a request head, within the drain.
    let first_request_grace = config.header_read_timeout.min(config.drain_timeout);
    let (stop, stopped) = watch::channel(false);
    let acceptor = Acceptor {
        listener,
        state: Arc::clone(&state),
        http,
        first_request_grace,
        stop: stopped,
    };
    let accepting = tokio::spawn(acceptor.serve());

    if let Some(period) = notify::watchdog_period() {
        info!("feeding the systemd watchdog every {period:?}");
        tokio::spawn(notify::keep_watchdog_fed(period));
    }
    let socket = origin.as_str();
    info!(
        "listening address={address} socket={socket} workers={workers} version={}",
        env!("CARGO_PKG_VERSION")
    );
    notify::ready(&format!("serving on {address}"));

    let signal = signals.recv().await;
    state.enter(Phase::Stopping);
    if !config.shutdown_delay.is_zero() {
        let delay = config.shutdown_delay;
        info!("{signal}: not ready; serving for the shutdown delay of {delay:?}");
        notify::stopping(&format!("shutdown delay {delay:?}"));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            signal = signals.recv() => info!("{signal}: shutdown delay cut short"),
        }
    }
    state.enter(Phase::Draining);
    notify::stopping("draining");
    let _ = stop.send(true);
    // The acceptor returns once the listening socket is closed.
    let drain = match accepting.await {
        Ok(drain) => drain,
        Err(error) => {
            error!("the accept loop failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let open = state.metrics.open_connections();
    info!(
        "{signal}: draining open_connections={open} drain_timeout={:?}",
        config.drain_timeout
    );
    notify::status(&format!("draining {open} connections"));

    tokio::select! {
        _ = drain.shutdown() => info!("drained; exiting"),
        _ = tokio::time::sleep(config.drain_timeout) => warn!(
            "drain timeout reached; closing open_connections={}",
            state.metrics.open_connections()
        ),
        signal = signals.recv() => warn!("{signal} during the drain; exiting without waiting"),
    }
    // Returning ends the process, and with it any connection still open.
    ExitCode::SUCCESS
}
