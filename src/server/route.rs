//! The route table: the paths the server answers, the label each is counted under, and
//! every status the router can give. The router and the metrics both read it.

use hyper::StatusCode;

/// The routes the server knows; everything else is `Other` (404).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Root,
    Healthz,
    Readyz,
    Metrics,
    Other,
}

impl Route {
    pub const ALL: [Route; 5] = [
        Route::Root,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::Other,
    ];

    pub fn of(path: &str) -> Route {
        match path {
            "/" => Route::Root,
            "/healthz" => Route::Healthz,
            "/readyz" => Route::Readyz,
            "/metrics" => Route::Metrics,
            _ => Route::Other,
        }
    }

    /// The `route` label of its metrics.
    pub fn label(self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::Other => "other",
        }
    }
}

/// Every status the router itself gives; it answers only with these, so the metrics have a
/// counter for each answer. (hyper's own 400 and 431 replies end the connection and are
/// counted as connection errors instead.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    NotFound,
    MethodNotAllowed,
    Unavailable,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Ok,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::Unavailable,
    ];

    pub fn code(self) -> StatusCode {
        match self {
            Status::Ok => StatusCode::OK,
            Status::NotFound => StatusCode::NOT_FOUND,
            Status::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Status::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Route, Status};

    /// The metrics index their counters by `as usize` over arrays as long as `ALL` (a
    /// variant left out of `ALL` panics there rather than going uncounted), and render them
    /// in the order of `ALL`.
    #[test]
    fn each_table_lists_its_variants_in_declaration_order() {
        for (index, route) in Route::ALL.into_iter().enumerate() {
            assert_eq!(route as usize, index, "{route:?}");
        }
        for (index, status) in Status::ALL.into_iter().enumerate() {
            assert_eq!(status as usize, index, "{status:?}");
        }
    }
}
