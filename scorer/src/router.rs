//! `/health` (the pipeline reports in), `/ready` (the store answers), `/metrics`, for a scorer
//! that runs on its own.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use leadstream_platform::store::Store;
use leadstream_platform::telemetry::Heartbeats;

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
    leadstream_platform::http::ready_response(state.store.check().await)
}
