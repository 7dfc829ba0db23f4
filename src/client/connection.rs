//! One kept-alive HTTP/1.1 connection to the server, reopened when it closes.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderValue, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::fmt;
use tokio::net::TcpStream;

/// What one successful exchange returned.
pub struct Reply {
    pub status: StatusCode,
    pub bytes: usize,
    pub reused: bool,
}

#[derive(Debug)]
pub enum PollError {
    Connect(std::io::Error),
    Http(hyper::Error),
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PollError::Connect(error) => write!(f, "connect: {error}"),
            PollError::Http(error) => write!(f, "http: {error}"),
        }
    }
}

pub struct Connection {
    host: String,
    port: u16,
    host_header: HeaderValue,
    target: Uri,
    sender: Option<SendRequest<Empty<Bytes>>>,
}

const AGENT: HeaderValue =
    HeaderValue::from_static(concat!("duet-client/", env!("CARGO_PKG_VERSION")));

impl Connection {
    pub fn new(host: String, port: u16, host_header: HeaderValue, target: Uri) -> Self {
        Self {
            host,
            port,
            host_header,
            target,
            sender: None,
        }
    }

    /// Sends one GET and reads the whole body. A kept-alive connection the server closed
    /// meanwhile (its idle timeout) gets one retry on a fresh connection.
    pub async fn get(&mut self) -> Result<Reply, PollError> {
        let mut reused = false;
        let sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => {
                reused = true;
                sender
            }
            _ => self.connect().await?,
        };
        match self.exchange(sender).await {
            Ok(reply) => Ok(Reply { reused, ..reply }),
            Err(PollError::Http(error)) if reused && !error.is_timeout() => {
                tracing::debug!("kept-alive connection failed ({error}); reconnecting");
                let sender = self.connect().await?;
                self.exchange(sender).await
            }
            Err(error) => Err(error),
        }
    }

    /// Forgets the connection (after a timeout its state is unknown).
    pub fn reset(&mut self) {
        self.sender = None;
    }

    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, PollError> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(PollError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(PollError::Http)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!("connection closed with an error: {error}");
            }
        });
        Ok(sender)
    }

    async fn exchange(
        &mut self,
        mut sender: SendRequest<Empty<Bytes>>,
    ) -> Result<Reply, PollError> {
        sender.ready().await.map_err(PollError::Http)?;
        let mut request = Request::new(Empty::new());
        *request.uri_mut() = self.target.clone();
        request.headers_mut().insert(HOST, self.host_header.clone());
        request.headers_mut().insert(USER_AGENT, AGENT);
        let response = sender
            .send_request(request)
            .await
            .map_err(PollError::Http)?;
        let status = response.status();
        let mut body = response.into_body();
        let mut bytes = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(PollError::Http)?.into_data() {
                bytes += data.len();
            }
        }
        self.sender = Some(sender);
        Ok(Reply {
            status,
            bytes,
            reused: false,
        })
    }
}
