//! `/health` (this process's loops report in) and `/ready` (the store answers).

use axum::extract::State;
use axum::response::Response;
use leadstream_platform::http::ready_response;

use crate::router::AppState;

pub async fn health(State(state): State<AppState>) -> Response {
    state.heartbeats.response()
}

pub async fn ready(State(state): State<AppState>) -> Response {
    ready_response(state.store.check().await)
}
