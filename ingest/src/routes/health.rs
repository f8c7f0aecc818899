//! `/health` (the process lives), `/ready` (the log accepts writes), `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::router::AppState;

pub async fn health() -> Response {
    (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
}

pub async fn ready(State(state): State<AppState>) -> Response {
    match state.log.check().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": e.to_string()})),
        )
            .into_response(),
    }
}

pub async fn metrics() -> Response {
    leadstream_platform::telemetry::metrics_handler().await
}
