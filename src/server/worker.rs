//! One worker thread: its own single-threaded runtime accepting on a shared copy of the
//! listening socket. Connections stay on the thread that accepted them, so the hot path
//! has no cross-thread wake-ups or work stealing.

use super::routes;
use super::state::State;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, warn};

pub struct Worker {
    pub index: usize,
    pub listener: std::net::TcpListener,
    pub state: Arc<State>,
    pub http: http1::Builder,
    /// Becomes true when the server starts draining.
    pub stop: watch::Receiver<bool>,
    /// Dropped once this worker has closed its copy of the listening socket.
    pub closed: mpsc::Sender<()>,
    /// Dropped once this worker's connections are all finished.
    pub drained: mpsc::Sender<()>,
}

/// The per-connection hyper service; answers synchronously, so nothing is boxed per request.
#[derive(Clone)]
struct Service {
    state: Arc<State>,
    shard: usize,
}

impl hyper::service::Service<Request<Incoming>> for Service {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let shard = self.state.metrics.shard(self.shard);
        ready(Ok(routes::respond(&self.state, shard, &request)))
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

impl Worker {
    /// Runs on its own thread until drained.
    pub fn run(self) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                error!("worker {}: cannot start its runtime: {error}", self.index);
                return;
            }
        };
        runtime.block_on(self.serve());
    }

    async fn serve(self) {
        let Worker {
            index,
            listener,
            state,
            http,
            mut stop,
            closed,
            drained,
        } = self;
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(error) => {
                error!("worker {index}: cannot use the listening socket: {error}");
                return;
            }
        };
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                // A closed channel means the server is going away too.
                _ = stop.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let guard = ConnectionGuard::new(&state, index);
                        let service = Service { state: Arc::clone(&state), shard: index };
                        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                        tokio::spawn(async move {
                            if let Err(error) = connection.await {
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
        // Closing every worker's copy closes the socket: new connections are refused.
        drop(listener);
        drop(closed);
        graceful.shutdown().await;
        drop(drained);
    }
}
