//! What the browser SDKs fetch before they send anything, answered so that they send everything
//! to this collector and load nothing from anywhere else.
//!
//! - `GET /v1/projects/{writeKey}/settings`: what Segment's CDN serves its browser SDK
//!   (analytics.js 2.0, `@segment/analytics-next`). A site sets only `cdnURL` to the collector
//!   (`AnalyticsBrowser.load({ writeKey, cdnURL: "https://t.example.com" })`): the SDK fetches
//!   these settings, then posts each call to `<collector>/v1/t`, `/v1/p`, `/v1/i`, … (or batches
//!   to `/v1/b`). No device-mode destinations, no remote plugins, usage metrics off
//!   (`sampleRate: 0`), so nothing goes to Segment.
//! - `GET /sourceConfig/?writeKey=…`: what RudderStack's control plane serves its browser SDK
//!   (`@rudderstack/analytics-js`). A site passes the collector as data plane URL and as
//!   `configUrl` (`rudderanalytics.load(writeKey, "https://t.example.com", { configUrl:
//!   "https://t.example.com" })`); the SDK then posts each call to `<collector>/v1/page`, …. No
//!   destinations, and the SDK's own error and metrics reporting off.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

use crate::error::IngestError;
use crate::router::AppState;

pub async fn segment_settings(
    State(state): State<Arc<AppState>>,
    Path(write_key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, IngestError> {
    if state.registry.write_key(&write_key).is_none() {
        return Err(IngestError::UnknownWriteKey);
    }
    let base = crate::routes::public_base_url(&state.config, None, &headers);
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
    Ok(cached_json(body, state.config.public_url.is_some()))
}

#[derive(Deserialize)]
pub struct SourceConfigQuery {
    #[serde(rename = "writeKey")]
    write_key: Option<String>,
}

pub async fn rudderstack_source_config(
    State(state): State<Arc<AppState>>,
    Query(query): Query<SourceConfigQuery>,
    headers: HeaderMap,
) -> Result<Response, IngestError> {
    // The SDK sends the key both in the query and as Basic auth.
    let write_key = crate::auth::write_key(&headers, query.write_key.as_deref())
        .ok_or(IngestError::MissingWriteKey)?;
    let workspace = state
        .registry
        .write_key(&write_key)
        .map(|(workspace, _)| workspace.to_string())
        .ok_or(IngestError::UnknownWriteKey)?;
    let body = json!({
        "isHosted": false,
        "source": {
            "id": workspace,
            "name": workspace,
            "workspaceId": workspace,
            "writeKey": write_key,
            "enabled": true,
            "config": {
                "statsCollection": {
                    "errors": {"enabled": false},
                    "metrics": {"enabled": false},
                },
            },
            "destinations": [],
        },
    });
    Ok(cached_json(body, state.config.public_url.is_some()))
}

/// Short-lived, like Segment's CDN: a changed public URL reaches browsers within minutes. Without
/// `ingest.public_url` the answer names the request's `Host`, so no shared cache may keep it (one
/// poisoned `Host` must not reach other visitors): `private` and `Vary: Host`.
fn cached_json(body: serde_json::Value, fixed_base: bool) -> Response {
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    if fixed_base {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
    } else {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=300"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Host"));
    }
    response
}
