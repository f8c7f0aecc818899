//! `/health` (the process lives) and `/ready` (the store answers).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::router::AppState;

pub async fn health(State(state): State<AppState>) -> Response {
    state.heartbeats.response()
}

pub async fn ready(State(state): State<AppState>) -> Response {
    match state.store.check().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": e.to_string()})),
        )
            .into_response(),
    }
}
