//! `GET /v1/projects/{writeKey}/settings`: the settings Segment's CDN serves to its browser SDK
//! (analytics.js 2.0, `@segment/analytics-next`), pointing it back at this collector.
//!
//! With this, a site loads the unchanged SDK with `cdnURL` set to the collector
//! (`AnalyticsBrowser.load({ writeKey, cdnURL: "https://t.example.com" })`): the SDK fetches these
//! settings, then posts each call to `<collector>/v1/t`, `/v1/p`, `/v1/i`, … (or batches to
//! `/v1/b`). The settings name no device-mode destinations and no remote plugins, so the SDK loads
//! nothing else from anywhere, and switch its usage metrics off (`sampleRate: 0`), so it sends
//! nothing to Segment.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::IngestError;
use crate::router::AppState;

pub async fn settings(
    State(state): State<AppState>,
    Path(write_key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, IngestError> {
    if state.registry.write_key(&write_key).is_none() {
        return Err(IngestError::UnknownWriteKey);
    }
    let base = crate::routes::public_base_url(state.limits.public_url.as_deref(), &headers);
    let (protocol, host) = base.split_once("://").unwrap_or(("http", base.as_str()));
    let body = json!({
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": format!("{host}/v1"),
                "protocol": protocol,
            }
        },
        "plan": {
            "track": {"__default": {"enabled": true, "integrations": {}}},
            "identify": {"__default": {"enabled": true}},
            "group": {"__default": {"enabled": true}},
        },
        "metrics": {"sampleRate": 0},
        "remotePlugins": [],
        "enabledMiddleware": {},
        "middlewareSettings": {},
        "legacyVideoPluginsEnabled": false,
    });
    let mut response = Json(body).into_response();
    // Short-lived, like Segment's CDN: a changed public URL reaches browsers within minutes.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}
