//! duet-client: polls the server, logs each answer, rides out a server that is away.

pub mod backoff;
pub mod connection;

use crate::cli::{Args, UsageError};
use crate::shutdown::StopSignals;
use backoff::Backoff;
use clap::Parser;
use connection::Connection;
use hyper::Uri;
use hyper::header::HeaderValue;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// Command line of duet-client. SERVER_HOST, SERVER_PORT, POLL_INTERVAL and DUET_PATH set
/// what their flags set, so units and images configure the client without a command line.
#[derive(Parser, Debug)]
#[command(
    name = "duet-client",
    version,
    args_override_self = true,
    about = "Client of the duet pair: polls the server and logs each answer"
)]
pub struct ClientArgs {
    /// Server host name or IP address
    #[arg(
        long,
        env = "SERVER_HOST",
        default_value = "127.0.0.1",
        value_name = "H"
    )]
    pub host: String,
    /// Server port
    #[arg(long, env = "SERVER_PORT", default_value = "8080", value_name = "N")]
    pub port: String,
    /// Time between polls (5, 500ms, 2s)
    #[arg(long, env = "POLL_INTERVAL", default_value = "5s", value_name = "DUR")]
    pub interval: String,
    /// Path to request
    #[arg(long, env = "DUET_PATH", default_value = "/", value_name = "P")]
    pub path: String,
    /// Limit for one request, connecting included
    #[arg(long, default_value = "2s", value_name = "DUR")]
    pub timeout: String,
    /// Poll N times, then exit: 0 only if every poll got a 2xx answer
    #[arg(long, value_name = "N", conflicts_with = "probe")]
    pub count: Option<String>,
    /// One request: exit 0 on a 2xx answer, else 1 (a health check without curl)
    #[arg(long)]
    pub probe: bool,
    /// Log level or directives (default: RUST_LOG, else info)
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// Validated settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// The Host header: host and port, IPv6 literals in brackets.
    pub host_header: HeaderValue,
    pub interval: Duration,
    pub target: Uri,
    pub timeout: Duration,
    pub count: Option<u64>,
    pub probe: bool,
}

impl Config {
    pub fn from_args(args: &Args<ClientArgs>) -> Result<Self, UsageError> {
        let host = args.value("host", |text| {
            if text.is_empty() || text.contains(['/', ' ', '@']) {
                Err("expected a host name or IP address")
            } else {
                Ok(text.to_string())
            }
        })?;
        let port = args.value("port", |text| match text.parse::<u16>() {
            Ok(0) | Err(_) => Err("expected a port number from 1 to 65535"),
            Ok(port) => Ok(port),
        })?;
        let host_header = host_header(&host, port)
            .map_err(|_| args.invalid("host", "not usable in a Host header"))?;
        Ok(Self {
            host,
            port,
            host_header,
            interval: args.value("interval", crate::cli::positive_duration)?,
            target: args.value("path", |text| {
                if !text.starts_with('/') {
                    return Err("must start with /".to_string());
                }
                text.parse::<Uri>().map_err(|error| error.to_string())
            })?,
            timeout: args.value("timeout", crate::cli::positive_duration)?,
            count: args.optional("count", |text| match text.parse::<u64>() {
                Ok(0) | Err(_) => Err("expected a whole number of polls, at least 1"),
                Ok(count) => Ok(count),
            })?,
            probe: args.parsed.probe,
        })
    }

    /// Host as the resolver wants it: IPv6 literals without brackets.
    fn connect_host(&self) -> String {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string()
    }
}

/// The Host header for `host` and `port`, IPv6 literals in brackets.
fn host_header(host: &str, port: u16) -> Result<HeaderValue, hyper::header::InvalidHeaderValue> {
    if host.contains(':') && !host.starts_with('[') {
        HeaderValue::from_str(&format!("[{host}]:{port}"))
    } else {
        HeaderValue::from_str(&format!("{host}:{port}"))
    }
}

/// Runs the probe or the poll loop until done or a stop signal; returns the exit status.
pub async fn run(config: Config) -> ExitCode {
    let signals = match StopSignals::install() {
        Ok(signals) => signals,
        Err(error) => {
            error!("cannot install signal handlers: {error}");
            return ExitCode::FAILURE;
        }
    };
    let connection = Connection::new(
        config.connect_host(),
        config.port,
        config.host_header.clone(),
        config.target.clone(),
    );
    let url = format!("http://{}:{}{}", config.host, config.port, config.target);
    if config.probe {
        probe(connection, &config, &url, signals).await
    } else {
        poll(connection, &config, &url, signals).await
    }
}

/// One request: exit 0 on a 2xx answer, else 1 (a stop signal counts as a failure).
async fn probe(
    mut connection: Connection,
    config: &Config,
    url: &str,
    mut signals: StopSignals,
) -> ExitCode {
    let started = Instant::now();
    let ok = tokio::select! {
        outcome = attempt(&mut connection, config) => match outcome {
            Ok(reply) => log_reply(&reply, started.elapsed()),
            Err(error) => {
                warn!("server unreachable: {url} error=\"{error}\"");
                false
            }
        },
        signal = signals.recv() => {
            info!("{signal}: stopping");
            false
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Polls every interval (`--count` times, or until a stop signal), retrying with capped
/// backoff while the server is away.
async fn poll(
    mut connection: Connection,
    config: &Config,
    url: &str,
    mut signals: StopSignals,
) -> ExitCode {
    info!("polling {url} every {:?}", config.interval);
    let mut backoff = Backoff::new(
        Duration::from_millis(100),
        config
            .interval
            .clamp(Duration::from_secs(1), Duration::from_secs(30)),
    );
    let mut down_since: Option<(Instant, u64)> = None;
    let mut polls = 0u64;
    let mut failed = 0u64;
    loop {
        let started = Instant::now();
        let outcome = tokio::select! {
            outcome = attempt(&mut connection, config) => outcome,
            signal = signals.recv() => {
                info!("{signal}: stopping");
                return ExitCode::SUCCESS;
            }
        };
        polls += 1;
        let wait_until = match outcome {
            Ok(reply) => {
                if let Some((since, attempts)) = down_since.take() {
                    info!(
                        "server is back: {url} down_for={:?} failed_attempts={attempts}",
                        since.elapsed()
                    );
                }
                backoff.reset();
                if !log_reply(&reply, started.elapsed()) {
                    failed += 1;
                }
                started + config.interval
            }
            Err(error) => {
                failed += 1;
                let attempts = down_since.get_or_insert((started, 0));
                attempts.1 += 1;
                let delay = backoff.next_delay();
                warn!(
                    "server unreachable: {url} error=\"{error}\" attempt={} retry_in={delay:?}",
                    attempts.1
                );
                Instant::now() + delay
            }
        };
        if config.count.is_some_and(|count| polls >= count) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(wait_until.into()) => {}
            signal = signals.recv() => {
                info!("{signal}: stopping");
                return ExitCode::SUCCESS;
            }
        }
    }
    if failed == 0 {
        info!("all {polls} polls succeeded");
        ExitCode::SUCCESS
    } else {
        warn!("{failed} of {polls} polls failed");
        ExitCode::FAILURE
    }
}

/// One request under the timeout, as Ok(reply) or a printable error.
async fn attempt(
    connection: &mut Connection,
    config: &Config,
) -> Result<connection::Reply, String> {
    match tokio::time::timeout(config.timeout, connection.get()).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(error)) => {
            connection.reset();
            Err(error.to_string())
        }
        Err(_) => {
            connection.reset();
            Err(format!("no answer within {:?}", config.timeout))
        }
    }
}

/// Logs one answer; true if it was a 2xx.
fn log_reply(reply: &connection::Reply, latency: Duration) -> bool {
    let status = reply.status.as_u16();
    if reply.status.is_success() {
        info!(
            "poll status={status} latency={latency:?} bytes={} reused={}",
            reply.bytes, reply.reused
        );
        true
    } else {
        warn!(
            "poll status={status} latency={latency:?} bytes={} reused={}",
            reply.bytes, reply.reused
        );
        false
    }
}
