//! `/health` (the pipeline reports in), `/ready` (the store answers and the profiles of every
//! assigned partition are loaded), `/metrics`, for a scorer that runs on its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
    /// Who may read `/metrics`.
    pub metrics: leadstream_platform::telemetry::MetricsAccess,
    /// The pipeline's [`crate::pipeline::Pipeline::loaded`].
    pub loaded: Arc<AtomicBool>,
}

pub fn router(state: ScorerState) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .route(
            "/health",
            get(|State(s): State<ScorerState>| async move { s.heartbeats.response() }),
        )
        .route("/ready", get(ready))
        .route(
            "/metrics",
            get(move |r: axum::extract::Request| metrics.clone().serve(r)),
        )
        .layer(leadstream_platform::http::Front::new("scorer"))
        .with_state(state)
}

async fn ready(State(state): State<ScorerState>) -> Response {
    if !state.loaded.load(Ordering::Relaxed) {
        return leadstream_platform::http::ready_response(Err(
            "the profiles of the assigned partitions are not loaded yet (is the store up?)",
        ));
    }
    leadstream_platform::http::ready_response(state.store.check().await)
}
