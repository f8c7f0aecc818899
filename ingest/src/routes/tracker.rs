//! `GET /v1/t.js`: the JavaScript tracker (`ingest/assets/t.js`), plain JS with no build step.
//! It sends Segment-shaped batches to `/v1/batch` with the write key in the body, as
//! `text/plain` so that browsers need no CORS preflight.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The tracker's source, compiled into the binary.
pub const SCRIPT: &str = include_str!("../../assets/t.js");

pub async fn script() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}
