//! `/health` (the pipeline reports in), `/ready` (the store answers), `/metrics`, for a scorer
//! that runs on its own.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadstream_platform::store::Store;
use leadstream_platform::telemetry::Heartbeats;
use serde_json::json;

#[derive(Clone)]
pub struct ScorerState {
    pub store: Arc<dyn Store>,
    pub heartbeats: Heartbeats,
}

pub fn router(state: ScorerState) -> Router {
    Router::new()
        .route(
            "/health",
            get(|State(s): State<ScorerState>| async move { s.heartbeats.response() }),
        )
        .route("/ready", get(ready))
        .route(
            "/metrics",
            get(leadstream_platform::telemetry::metrics_handler),
        )
        .with_state(state)
}

async fn ready(State(state): State<ScorerState>) -> Response {
    match state.store.check().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": e.to_string()})),
        )
            .into_response(),
    }
}
