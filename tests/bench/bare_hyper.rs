//! Bare hyper 1 hello-world, built from the crate's own dependency versions: the floor that
//! duet-server's features (routing, metrics, timeouts, logging) are measured against by
//! tests/bench/crate_bench.py.
//!
//! Usage: bare-hyper [ADDR] [BODY_BYTES]   (defaults 127.0.0.1:8081 and 13)

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::exit;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn usage_error(message: &str) -> ! {
    eprintln!("bare-hyper: {message} (usage: bare-hyper [ADDR] [BODY_BYTES])");
    exit(2)
}

fn body_of_size(size: usize) -> Bytes {
    let text = b"Hello, world!\n";
    Bytes::from(text.iter().copied().cycle().take(size).collect::<Vec<u8>>())
}

async fn serve(listener: TcpListener, body: Bytes) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("bare-hyper: accept: {error}");
                continue;
            }
        };
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request: Request<Incoming>| {
                let mut response = Response::new(Full::new(body.clone()));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                async move { Ok::<_, Infallible>(response) }
            });
            // Client resets under load are expected; nothing to report.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = match args.next() {
        None => SocketAddr::from(([127, 0, 0, 1], 8081)),
        Some(text) => text
            .parse()
            .unwrap_or_else(|_| usage_error(&format!("bad address {text:?}"))),
    };
    let size: usize = match args.next() {
        None => 13,
        Some(text) => text
            .parse()
            .unwrap_or_else(|_| usage_error(&format!("bad body size {text:?}"))),
    };
    if args.next().is_some() {
        usage_error("too many arguments");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bare-hyper: tokio runtime: {error}");
            exit(1)
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("bare-hyper: bind {addr}: {error}");
                exit(1)
            }
        };
        serve(listener, body_of_size(size)).await;
    });
}
