//! The route table: the paths the server answers, the label each is counted under, and
//! every status the router can give. The router and the metrics both read it.

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

/// Every status the router itself produces (hyper's own 400/431 replies end the
/// connection and are counted as connection errors instead).
pub const STATUSES: [u16; 4] = [200, 404, 405, 503];
