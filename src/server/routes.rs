//! The router: which response each method and path gets.

use super::State;
use super::metrics::{Route, Shard};
use super::state::Phase;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const PROMETHEUS: HeaderValue =
    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
const GET_HEAD: HeaderValue = HeaderValue::from_static("GET, HEAD");

/// Answers one request. HEAD gets the GET response; hyper leaves out the body.
pub fn respond<B>(state: &State, shard: &Shard, request: &Request<B>) -> Response<Full<Bytes>> {
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
            let body = state.metrics.render(state.started, state.phase());
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(CONTENT_TYPE, PROMETHEUS);
            response
        }
    };
    shard.record_request(route, response.status().as_u16());
    response
}

fn text(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, TEXT);
    response
}
