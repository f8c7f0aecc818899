//! `/health` (the process lives), `/ready` (the log accepts writes), `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use leadstream_platform::http::ready_response;
use serde_json::json;

use crate::router::AppState;

pub async fn health() -> Response {
    (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
}

pub async fn ready(State(state): State<AppState>) -> Response {
    ready_response(state.log.check().await)
}

pub async fn metrics() -> Response {
    leadstream_platform::telemetry::metrics_handler().await
}
