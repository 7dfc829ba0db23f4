//! The router: which response each method and path gets (the paths themselves are in
//! [`super::route`]).

use super::State;
use super::metrics::Shard;
use super::process::Process;
use super::route::Route;
use super::state::Phase;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::time::Instant;
use tracing::debug;

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const PROMETHEUS: HeaderValue =
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
const GET_HEAD: HeaderValue = HeaderValue::from_static("GET, HEAD");

/// Answers one request. HEAD gets the GET response; hyper leaves out the body.
pub fn respond<B>(state: &State, shard: &Shard, request: &Request<B>) -> Response<Full<Bytes>> {
    let start = Instant::now();
    let route = Route::of(request.uri().path());
    let response = match (route, request.method()) {
        (Route::Other, _) => text(StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n")),
        (_, method) if method != Method::GET && method != Method::HEAD => {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                Bytes::from_static(b"method not allowed\n"),
            );
            response.headers_mut().insert(ALLOW, GET_HEAD);
            response
        }
        (Route::Root, _) => text(StatusCode::OK, state.greeting.clone()),
        (Route::Healthz, _) => text(StatusCode::OK, Bytes::from_static(b"ok\n")),
        (Route::Readyz, _) => match state.phase() {
            Phase::Serving => text(StatusCode::OK, Bytes::from_static(b"ready\n")),
            Phase::Leaving => text(
                StatusCode::SERVICE_UNAVAILABLE,
                Bytes::from_static(b"stopping\n"),
            ),
            Phase::Draining => text(
                StatusCode::SERVICE_UNAVAILABLE,
                Bytes::from_static(b"draining\n"),
            ),
        },
        (Route::Metrics, _) => {
            let process = Process::read()
                .inspect_err(|error| debug!("no process metrics: cannot read /proc: {error}"))
                .ok();
            let body = state
                .metrics
                .render(state.started, state.readiness(), process.as_ref());
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(CONTENT_TYPE, PROMETHEUS);
            response
        }
    };
    shard.record_request(route, response.status().as_u16(), start.elapsed());
    response
}

fn text(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, TEXT);
    response
}

#[cfg(test)]
mod tests {
    use super::respond;
    use crate::server::route::STATUSES;
    use crate::server::state::{Phase, State};
    use hyper::{Method, Request};

    /// Sums the samples of the series whose line starts with `prefix`.
    fn total(text: &str, prefix: &str) -> u64 {
        text.lines()
            .filter(|line| line.starts_with(prefix))
            .map(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum()
    }

    #[test]
    fn every_status_the_router_gives_is_counted() {
        let mut seen = Vec::new();
        for phase in [Phase::Serving, Phase::Leaving, Phase::Draining] {
            let state = State::new("test", 1);
            state.enter(phase);
            let mut answered = 0;
            for path in [
                "/",
                "/healthz",
                "/readyz",
                "/metrics",
                "/nope",
                "/healthz/x",
            ] {
                for method in [Method::GET, Method::HEAD, Method::POST, Method::DELETE] {
                    let request = Request::builder()
                        .method(method.clone())
                        .uri(path)
                        .body(())
                        .unwrap();
                    let status = respond(&state, state.metrics.shard(0), &request).status();
                    let status = status.as_u16();
                    assert!(STATUSES.contains(&status), "{method} {path}: {status}");
                    seen.push(status);
                    answered += 1;
                }
            }
            let text = state.metrics.render(state.started, state.readiness(), None);
            assert_eq!(total(&text, "duet_http_requests_total{"), answered);
            assert_eq!(
                total(&text, "duet_http_request_duration_seconds_count{"),
                answered
            );
        }
        for status in STATUSES {
            assert!(seen.contains(&status), "no request got {status}");
        }
    }
}
