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

/// The drain with a stand-in for hyper's connection, under paused time (the runtime's clock
/// only moves when every task waits), in the manner of hyper-util's graceful-shutdown tests.
#[cfg(test)]
mod tests {
    use super::{Drain, Graceful, serve};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll};
    use std::time::Duration;
    use tokio::sync::mpsc;
    use tokio::time::Instant;

    const GRACE: Duration = Duration::from_secs(10);

    /// What the peer of a stand-in connection does.
    enum Peer {
        /// Sends a request: the connection hands it to the service, which sets the flag.
        Request,
        /// Closes the connection.
        Close,
    }

    /// A connection that, like hyper's, sets `first_request` from inside its own poll and
    /// ends at once on graceful shutdown when no request is in progress (none ever is here:
    /// the stand-in answers each request within the poll that reads it).
    struct StandIn {
        peer: mpsc::UnboundedReceiver<Peer>,
        first_request: Arc<AtomicBool>,
        shut_down: Arc<AtomicBool>,
    }

    impl Future for StandIn {
        type Output = hyper::Result<()>;

        fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
            loop {
                match self.peer.poll_recv(context) {
                    Poll::Ready(Some(Peer::Request)) => {
                        self.first_request.store(true, Ordering::Relaxed)
                    }
                    Poll::Ready(Some(Peer::Close)) | Poll::Ready(None) => {
                        return Poll::Ready(Ok(()));
                    }
                    Poll::Pending if self.shut_down.load(Ordering::Relaxed) => {
                        return Poll::Ready(Ok(()));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
    }

    impl Graceful for StandIn {
        fn graceful_shutdown(self: Pin<&mut Self>) {
            self.shut_down.store(true, Ordering::Relaxed);
        }
    }

    /// One served stand-in: its peer, whether graceful shutdown reached it, and when its
    /// task ended.
    struct Served {
        peer: mpsc::UnboundedSender<Peer>,
        shut_down: Arc<AtomicBool>,
        ended: tokio::task::JoinHandle<Instant>,
    }

    fn connect(drain: &Drain) -> Served {
        let (peer, receiver) = mpsc::unbounded_channel();
        let first_request = Arc::new(AtomicBool::new(false));
        let shut_down = Arc::new(AtomicBool::new(false));
        let connection = StandIn {
            peer: receiver,
            first_request: Arc::clone(&first_request),
            shut_down: Arc::clone(&shut_down),
        };
        let watcher = drain.watcher();
        let ended = tokio::spawn(async move {
            serve(connection, &first_request, watcher, GRACE)
                .await
                .expect("stand-in ends cleanly");
            Instant::now()
        });
        Served {
            peer,
            shut_down,
            ended,
        }
    }

    /// Lets every task run until all wait (the clock does not move meanwhile).
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_request_during_the_grace_is_served_then_the_connection_closes() {
        let drain = Drain::default();
        let connection = connect(&drain);
        settle().await;
        let stop = Instant::now();
        let drained = tokio::spawn(drain.shutdown());
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            !connection.ended.is_finished(),
            "closed before its first request"
        );
        assert!(!connection.shut_down.load(Ordering::Relaxed));

        connection.peer.send(Peer::Request).unwrap();
        let ended = connection.ended.await.unwrap();
        assert_eq!(ended - stop, Duration::from_secs(3));
        assert!(connection.shut_down.load(Ordering::Relaxed));
        drained.await.unwrap();
        assert_eq!(Instant::now() - stop, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_with_no_request_is_shut_down_when_the_grace_ends() {
        let drain = Drain::default();
        let connection = connect(&drain);
        settle().await;
        let stop = Instant::now();
        drain.shutdown().await;
        assert_eq!(Instant::now() - stop, GRACE);
        assert!(connection.shut_down.load(Ordering::Relaxed));
        assert_eq!(connection.ended.await.unwrap() - stop, GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_has_had_a_request_is_shut_down_at_once() {
        let drain = Drain::default();
        let connection = connect(&drain);
        connection.peer.send(Peer::Request).unwrap();
        settle().await;
        let stop = Instant::now();
        drain.shutdown().await;
        assert_eq!(Instant::now(), stop);
        assert!(connection.shut_down.load(Ordering::Relaxed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_ends_by_itself_releases_the_drain() {
        let drain = Drain::default();
        let connection = connect(&drain);
        let other = connect(&drain);
        connection.peer.send(Peer::Close).unwrap();
        let ended = connection.ended.await.unwrap();
        assert!(!connection.shut_down.load(Ordering::Relaxed));

        // The other one closes by itself during the grace: the drain ends with it.
        let drained = tokio::spawn(drain.shutdown());
        tokio::time::sleep(Duration::from_secs(1)).await;
        other.peer.send(Peer::Close).unwrap();
        drained.await.unwrap();
        assert_eq!(Instant::now() - ended, Duration::from_secs(1));
        assert!(!other.shut_down.load(Ordering::Relaxed));
    }

    #[tokio::test(start_paused = true)]
    async fn with_no_connections_the_drain_ends_at_once() {
        let stop = Instant::now();
        Drain::default().shutdown().await;
        assert_eq!(Instant::now(), stop);
    }
}
