//! The accept loop: one task accepts every connection and spawns it as a task of the
//! multi-thread runtime, whose work stealing spreads connections over the cores. (One
//! single-threaded runtime per core, each accepting on its own copy of the socket, left
//! the kernel to pick the acceptor: one thread often got nearly all connections, and
//! those stalled whenever that thread was preempted.)

use super::drain::{self, Drain};
use super::router;
use super::state::State;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue};
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, warn};

pub struct Acceptor {
    pub listener: TcpListener,
    pub state: Arc<State>,
    pub http: Arc<http1::Builder>,
    /// How long a connection accepted before the stop may take to send its first request.
    pub first_request_grace: Duration,
    /// Becomes true when the server starts draining.
    pub stop: watch::Receiver<bool>,
}

const CLOSE: HeaderValue = HeaderValue::from_static("close");

/// The per-connection hyper service, lent to hyper by reference so the connection task
/// can read `first_request`; answers synchronously, so nothing is boxed per request.
struct Service {
    state: Arc<State>,
    /// Set once hyper has handed this connection a request (see [`drain`]).
    first_request: AtomicBool,
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.first_request.store(true, Ordering::Relaxed);
        let shard = self.state.metrics.thread_shard();
        let mut response = router::respond(&self.state, shard, &request);
        if !self.state.is_ready() {
            // A request that arrives during the shutdown delay or the drain: its client
            // should take its next request elsewhere, and in the drain, graceful shutdown
            // may not have reached this connection yet. hyper closes after a response
            // that says so.
            response.headers_mut().insert(CONNECTION, CLOSE);
        }
        ready(Ok(response))
    }
}

/// Keeps the open-connections gauge right however a connection task ends.
struct ConnectionGuard {
    state: Arc<State>,
    shard: usize,
}

impl ConnectionGuard {
    fn new(state: &Arc<State>, shard: usize) -> Self {
        state.metrics.shard(shard).connection_opened();
        Self {
            state: Arc::clone(state),
            shard,
        }
    }

    fn failed(&self) {
        self.state.metrics.shard(self.shard).connection_failed();
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.state.metrics.shard(self.shard).connection_closed();
    }
}

impl Acceptor {
    /// Accepts until the stop, closes the listening socket and returns the drain of the
    /// connections it accepted, still running.
    pub async fn serve(self) -> Drain {
        let Acceptor {
            listener,
            state,
            http,
            first_request_grace,
            mut stop,
        } = self;
        let drain = Drain::default();
        // Connections take turns over the metrics shards for their open/close counts.
        let mut next_shard = 0usize;
        loop {
            tokio::select! {
                // A closed channel means the server is going away too.
                _ = stop.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let shard = next_shard;
                        next_shard = next_shard.wrapping_add(1);
                        let guard = ConnectionGuard::new(&state, shard);
                        let service = Service {
                            state: Arc::clone(&state),
                            first_request: AtomicBool::new(false),
                        };
                        let watcher = drain.watcher();
                        let http = Arc::clone(&http);
                        tokio::spawn(async move {
                            let connection = http.serve_connection(TokioIo::new(stream), &service);
                            let served = drain::serve(
                                connection,
                                &service.first_request,
                                watcher,
                                first_request_grace,
                            );
                            if let Err(error) = served.await {
                                guard.failed();
                                debug!("connection from {peer} ended with an error: {error}");
                            }
                        });
                    }
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        warn!("accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        // Closing this descriptor ends accepting here. A socket this process bound then
        // refuses new connections; a passed or inherited one stays open in the service
        // manager or supervisor (and in any twin on it), and its backlog waits for the next
        // instance or a twin accepts it.
        drop(listener);
        drain
    }
}
