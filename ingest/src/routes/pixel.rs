//! `GET /v1/p.gif`: the tracking pixel, for pages and emails that can only load an image.
//!
//! The event comes in the query string:
//!
//! | parameter | meaning |
//! |---|---|
//! | `wk` (or `writeKey`) | the write key |
//! | `e` | a `track` event name; without it the hit is a page view |
//! | `aid`, `uid`, `mid` | anonymousId, userId, messageId |
//! | `url`, `path`, `ref`, `title` | `context.page` |
//! | `utm_source`, `utm_medium`, `utm_campaign`, `utm_term`, `utm_content` | `context.campaign` |
//! | `p.NAME` | property `NAME` (numbers and `true` / `false` are typed, the rest are strings) |
//!
//! It always answers a 1×1 transparent GIF that no cache keeps, also when the event is refused
//! (an image tag cannot show an error): the outcome is counted in
//! `leadstream_ingest_pixel_hits_total{outcome}` and named in the `X-Leadstream-Outcome` header.
//! Without `aid` and `uid`, a first-party cookie (`ingest.cookie`, default `ls_aid`) carries the
//! anonymous id; it is set on the first hit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use leadstream_platform::config::CookieConfig;
use serde_json::{Map, Value, json};

use crate::auth;
use crate::error::IngestError;
use crate::intake::{accept_value, append, count_rejection, facts};
use crate::metrics;
use crate::router::AppState;

/// The smallest transparent 1×1 GIF (43 bytes).
pub const GIF: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The GIF with headers that keep every cache from storing it.
pub fn gif_response(outcome: &str, set_cookie: Option<String>) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (
                header::CACHE_CONTROL,
                "no-cache, no-store, must-revalidate, max-age=0",
            ),
            (header::PRAGMA, "no-cache"),
            (header::EXPIRES, "0"),
        ],
        GIF,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(outcome) {
        response.headers_mut().insert("x-leadstream-outcome", v);
    }
    if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// A cookie value leadstream would have set: 1-128 of `[A-Za-z0-9_-]`.
fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(crate) fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| valid_id(v))
}

fn set_cookie(config: &CookieConfig, id: &str) -> String {
    let mut c = format!(
        "{}={id}; Max-Age={}; Path=/; SameSite=Lax",
        config.name,
        u64::from(config.max_age_days) * 86_400
    );
    if let Some(domain) = &config.domain {
        c.push_str("; Domain=");
        c.push_str(domain);
    }
    c
}

/// `true` / `false` and plain decimals (`-12`, `3.50`) are typed; everything else is a string.
fn typed(v: &str) -> Value {
    let decimal = !v.is_empty()
        && v.trim_start_matches('-')
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
        && v.matches('.').count() <= 1;
    match v {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ if decimal => v
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Value::String(v.to_string()), Value::Number),
        _ => Value::String(v.to_string()),
    }
}

/// The Segment-shaped event a pixel hit stands for.
fn event_from_query(q: &HashMap<String, String>, anonymous_id: Option<&str>) -> Value {
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let mut page = Map::new();
    for (param, field) in [
        ("url", "url"),
        ("path", "path"),
        ("ref", "referrer"),
        ("title", "title"),
    ] {
        if let Some(v) = get(param) {
            page.insert(field.into(), Value::String(v));
        }
    }
    let mut campaign = Map::new();
    for (param, field) in [
        ("utm_source", "source"),
        ("utm_medium", "medium"),
        ("utm_campaign", "name"),
        ("utm_term", "term"),
        ("utm_content", "content"),
    ] {
        if let Some(v) = get(param) {
            campaign.insert(field.into(), Value::String(v));
        }
    }
    let properties: Map<String, Value> = q
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("p.")
                .map(|name| (name.to_string(), typed(v)))
        })
        .collect();
    let mut event = json!({
        "properties": properties,
        "context": {"page": page, "campaign": campaign, "channel": "pixel"},
    });
    let obj = event.as_object_mut().expect("object literal");
    match get("e") {
        Some(name) => {
            obj.insert("type".into(), json!("track"));
            obj.insert("event".into(), json!(name));
        }
        None => {
            obj.insert("type".into(), json!("page"));
            if let Some(title) = get("title") {
                obj.insert("name".into(), json!(title));
            }
        }
    }
    for (param, field) in [("uid", "userId"), ("mid", "messageId")] {
        if let Some(v) = get(param) {
            obj.insert(field.into(), json!(v));
        }
    }
    if let Some(aid) = get("aid").or(anonymous_id.map(str::to_string)) {
        obj.insert("anonymousId".into(), json!(aid));
    }
    event
}

pub async fn pixel(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let headers = request.headers();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let cookie_config = &state.config.cookie;

    // The anonymous id: the query's, else the cookie's, else a new one (set as the cookie).
    let mut new_cookie = None;
    let cookie_id = if cookie_config.enabled && !query.contains_key("aid") {
        match read_cookie(headers, &cookie_config.name) {
            Some(id) => Some(id),
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                new_cookie = Some(set_cookie(cookie_config, &id));
                Some(id)
            }
        }
    } else {
        None
    };

    let key = auth::write_key(
        headers,
        query
            .get("wk")
            .or(query.get("writeKey"))
            .map(String::as_str),
    );
    let outcome = match facts(&state, headers, peer, key, None) {
        Err(e) => outcome_of_error(&e),
        Ok(facts) => {
            let event = event_from_query(&query, cookie_id.as_deref());
            let payload = event.to_string();
            match accept_value(event, &facts, &state) {
                Err(r) => {
                    count_rejection(&r);
                    crate::failed::keep_rejection(&state, &facts, "/v1/p.gif", &r, &payload).await;
                    format!("rejected; field={}; {}", r.field, r.problem)
                }
                Ok(record) => match append(&state, vec![record]).await {
                    Ok(_) => "accepted".to_string(),
                    Err(e) => {
                        tracing::warn!(error = %e, "pixel event not written");
                        outcome_of_error(&e)
                    }
                },
            }
        }
    };
    let label = outcome.split(';').next().unwrap_or("other").to_string();
    metrics::PIXEL_HITS
        .with_label_values(&[label.as_str()])
        .inc();
    gif_response(&outcome, new_cookie)
}

fn outcome_of_error(e: &IngestError) -> String {
    match e {
        IngestError::MissingWriteKey | IngestError::UnknownWriteKey => "unauthorized".into(),
        IngestError::RateLimited { .. } => "rate_limited".into(),
        IngestError::LogUnavailable(_) => "log_unavailable".into(),
        _ => "error".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gif_is_a_gif() {
        assert_eq!(&GIF[..6], b"GIF89a");
        assert_eq!(GIF[GIF.len() - 1], 0x3b);
    }

    #[test]
    fn query_becomes_an_event() {
        let q: HashMap<String, String> = [
            ("e", "Email Opened"),
            ("uid", "u1"),
            ("p.email_id", "m-7"),
            ("p.n", "3"),
            ("p.ok", "true"),
            ("p.zip", "1e5"),
            ("url", "https://x.io/a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let e = event_from_query(&q, Some("cookie-id"));
        assert_eq!(e["type"], "track");
        assert_eq!(e["event"], "Email Opened");
        assert_eq!(e["userId"], "u1");
        assert_eq!(e["anonymousId"], "cookie-id");
        assert_eq!(e["properties"]["email_id"], "m-7");
        assert_eq!(e["properties"]["n"], 3.0);
        assert_eq!(e["properties"]["ok"], true);
        assert_eq!(e["properties"]["zip"], "1e5");
        assert_eq!(e["context"]["page"]["url"], "https://x.io/a");
    }

    #[test]
    fn cookies_are_read_only_when_sane() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ls_aid=abc-123; b=2"),
        );
        assert_eq!(read_cookie(&h, "ls_aid").as_deref(), Some("abc-123"));
        h.insert(header::COOKIE, HeaderValue::from_static("ls_aid=<script>"));
        assert_eq!(read_cookie(&h, "ls_aid"), None);
    }
}
