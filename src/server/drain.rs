//! Ending the connections on a stop signal without dropping a request the server
//! has already taken on.
//!
//! hyper's `http1::Connection::graceful_shutdown` closes a connection at once when it sits
//! between requests, and a connection that has read and written nothing yet counts as such
//! (hyper 1.x `Dispatcher::disable_keep_alive` in src/proto/h1/dispatch.rs). Clients retry
//! a kept-alive connection that closes between requests, but a connection closed before
//! its first request is answered is an error to them (curl: "Empty reply from server").
//! With socket activation the listening socket outlives the process, so connections still
//! in the backlog go to the next instance; a stop signal that falls between `accept` and
//! the arrival of the first request was the one way a restart lost requests. Such a
//! connection therefore gets a bounded grace to deliver its first request before
//! graceful shutdown applies to it.

use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::HttpService;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::watch;

/// The stop signal to the connections, and the wait until they have all ended.
pub struct Drain {
    signal: watch::Sender<()>,
}

/// A connection's subscription to the [`Drain`]; the drain waits until every one is dropped.
pub struct Watcher {
    signal: watch::Receiver<()>,
}

impl Default for Drain {
    fn default() -> Self {
        Self {
            signal: watch::channel(()).0,
        }
    }
}

impl Drain {
    /// Subscribes a connection. Call it before spawning the connection's task, so a stop
    /// that comes before the task first runs is not missed.
    pub fn watcher(&self) -> Watcher {
        Watcher {
            signal: self.signal.subscribe(),
        }
    }

    /// Tells every watched connection to finish and waits until all have.
    pub async fn shutdown(self) {
        let _ = self.signal.send(());
        self.signal.closed().await;
    }
}

/// What the drain needs of a connection besides running it.
pub trait Graceful: Future<Output = hyper::Result<()>> {
    /// Finish the request in progress (answered with `Connection: close`), then close.
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, B, S> Graceful for http1::Connection<I, S>
where
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http1::Connection::graceful_shutdown(self);
    }
}

/// Runs `connection` to its end. Once the drain starts, a connection that has not handed
/// a request to its service yet (`first_request` still false) keeps being served until
/// its first request arrives or `grace` passes; then graceful shutdown applies.
pub async fn serve<C: Graceful>(
    connection: C,
    first_request: &AtomicBool,
    mut watcher: Watcher,
    grace: Duration,
) -> hyper::Result<()> {
    let mut connection = pin!(connection);
    tokio::select! {
        biased;
        result = connection.as_mut() => return result,
        // An error means the drain itself is gone: stop as well.
        _ = watcher.signal.changed() => {}
    }
    if !first_request.load(Ordering::Relaxed) {
        let mut deadline = pin!(tokio::time::sleep(grace));
        // The service sets the flag from inside `connection.poll`, so checking it after
        // each poll sees the first request as soon as hyper dispatches it.
        let ended = poll_fn(|context| {
            if let Poll::Ready(result) = connection.as_mut().poll(context) {
                return Poll::Ready(Some(result));
            }
            if first_request.load(Ordering::Relaxed) || deadline.as_mut().poll(context).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        if let Some(result) = ended {
            return result;
        }
    }
    connection.as_mut().graceful_shutdown();
    connection.await
}
