//! The router: which response each method and path gets (the paths themselves are in
//! [`super::route`]).

use super::metrics::Shard;
use super::process::Process;
use super::route::{Route, Status};
use super::state::{Phase, State};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response};
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
    let (status, content_type, body) = match (route, request.method()) {
        (Route::Other, _) => (Status::NotFound, TEXT, Bytes::from_static(b"not found\n")),
        (_, method) if method != Method::GET && method != Method::HEAD => (
            Status::MethodNotAllowed,
            TEXT,
            Bytes::from_static(b"method not allowed\n"),
        ),
        (Route::Root, _) => (Status::Ok, TEXT, state.greeting.clone()),
        (Route::Healthz, _) => (Status::Ok, TEXT, Bytes::from_static(b"ok\n")),
        (Route::Readyz, _) => match state.phase() {
            Phase::Serving => (Status::Ok, TEXT, Bytes::from_static(b"ready\n")),
            Phase::Stopping => (Status::Unavailable, TEXT, Bytes::from_static(b"stopping\n")),
            Phase::Draining => (Status::Unavailable, TEXT, Bytes::from_static(b"draining\n")),
        },
        (Route::Metrics, _) => {
            let process = Process::read()
                .inspect_err(|error| debug!("no process metrics: cannot read /proc: {error}"))
                .ok();
            let body = state
                .metrics
                .render(state.started, state.readiness(), process.as_ref());
            (Status::Ok, PROMETHEUS, Bytes::from(body))
        }
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status.code();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    if status == Status::MethodNotAllowed {
        headers.insert(ALLOW, GET_HEAD);
    }
    shard.record_request(route, status, start.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::respond;
    use crate::server::route::{Route, Status};
    use crate::server::state::{Phase, State};
    use hyper::{Method, Request};

    /// The sample of the series named by `series`, 0 when absent.
    fn sample(text: &str, series: &str) -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0, |value| value.parse().unwrap())
    }

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
        for phase in [Phase::Serving, Phase::Stopping, Phase::Draining] {
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
                    let series = |status: u16| {
                        let route = Route::of(path).label();
                        format!("duet_http_requests_total{{route=\"{route}\",status=\"{status}\"}}")
                    };
                    let render = || state.metrics.render(state.started, state.readiness(), None);
                    let before = render();
                    let status = respond(&state, state.metrics.shard(0), &request).status();
                    let status = status.as_u16();
                    assert!(
                        Status::ALL.iter().any(|known| known.code() == status),
                        "{method} {path}: {status}"
                    );
                    let series = series(status);
                    assert_eq!(
                        sample(&render(), &series),
                        sample(&before, &series) + 1,
                        "{method} {path} not counted as {status}"
                    );
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
        for status in Status::ALL.map(|status| status.code().as_u16()) {
            assert!(seen.contains(&status), "no request got {status}");
        }
    }
}
