//! The query API's metrics: `leadstream_query_<noun>_<unit>[_total]`.

use std::sync::LazyLock;

use prometheus::{HistogramVec, register_histogram_vec};

/// Request latency by matched route and status.
pub static REQUEST_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "leadstream_query_request_duration_seconds",
        "Query API request latency, by route and status.",
        &["route", "status"],
        vec![
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
        ]
    )
    .expect("metric registers once")
});
