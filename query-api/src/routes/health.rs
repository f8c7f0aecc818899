//! `/health` (this process's loops report in) and `/ready` (the store answers; in the all-in-one,
//! also: the scorer in this process has loaded the profiles of the partitions it owns).

use axum::extract::State;
use axum::response::Response;
use leadstream_platform::http::ready_response;

use crate::router::AppState;

pub async fn health(State(state): State<AppState>) -> Response {
    state.heartbeats.response()
}

pub async fn ready(State(state): State<AppState>) -> Response {
    if let Some(loaded) = &state.scorer_loaded
        && !loaded.load(std::sync::atomic::Ordering::Relaxed)
    {
        return ready_response(Err(
            "the scorer has not loaded the profiles of its assigned partitions yet (is the store up?)",
        ));
    }
    ready_response(state.store.check().await)
}
