//! `/health` (the process lives), `/ready` (the log accepts writes), `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use leadstream_platform::http::ready_response;
use serde_json::json;
use std::sync::Arc;

use crate::router::AppState;

pub async fn health() -> Response {
    (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
}

/// Ready while the sink accepts writes: the broker, or the spool while it has room. The body
/// shows the spool, so a probe can tell "ready, but spooling" from "ready".
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let check = state.log.check().await;
    let Some(spool) = state.log.spool() else {
        return ready_response(check);
    };
    let (status, state_name, reason) = match &check {
        Ok(()) if spool.active => (
            StatusCode::OK,
            "ready",
            Some("spooling: the broker is not confirming writes".to_string()),
        ),
        Ok(()) => (StatusCode::OK, "ready", None),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            Some(e.to_string()),
        ),
    };
    (
        status,
        Json(json!({"status": state_name, "reason": reason, "spool": spool})),
    )
        .into_response()
}
