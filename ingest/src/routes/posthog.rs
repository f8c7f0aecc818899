//! PostHog's capture API, for users switching from PostHog who keep posthog-js and PostHog's server
//! SDKs: `POST /e`, `/i/v0/e`, `/batch`, `/capture`, `/track` (each also with a trailing `/`).
//!
//! The body: one event, an array of events, or `{"batch": [...]}`; JSON, gzip
//! (`Content-Encoding: gzip`, or posthog-js's `?compression=gzip-js` on a raw body), or
//! base64 (`data=` in a form body, or `?compression=base64`). The project key is `api_key` (or
//! `token`) in the body, in an event or its `properties.token`, or `?token=`; it must be one of
//! the workspace's write keys. Each event becomes the Segment-shaped call intake checks
//! ([`to_segment`]): `$identify` and `$set` an identify (traits from `$set`, `$set_once`),
//! `$pageview` a page (`$current_url` and friends into `context.page`), `$screen` a screen,
//! `$groupidentify` a group, `$create_alias` an alias, every other event a track with its name;
//! `uuid` is the `messageId`, `distinct_id` the `userId` (or the `anonymousId` when PostHog marks
//! the person anonymous or personless), `$anon_distinct_id` the `anonymousId` of an identify.
//!
//! The answer is PostHog's `{"status": 1}` (with `accepted` and `rejected` when some were
//! refused); nothing accepted is a 400 whose body carries PostHog's `detail` as well as ours.

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use leadstream_schemas::Rejection;
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::enrich::BatchDefaults;
use crate::error::IngestError;
use crate::intake::{Refusals, check_value, facts, gunzip, read_bytes};
use crate::router::AppState;

/// Whether `endpoint` is one of PostHog's capture routes (for replaying failed events).
pub fn is_posthog_endpoint(endpoint: &str) -> bool {
    matches!(
        endpoint.trim_end_matches('/'),
        "/e" | "/i/v0/e" | "/batch" | "/capture" | "/track"
    )
}

/// The properties PostHog's SDKs set that [`to_segment`] moves elsewhere.
const MOVED: &[&str] = &[
    "$set",
    "$set_once",
    "$anon_distinct_id",
    "token",
    "distinct_id",
    "$current_url",
    "$pathname",
    "$referrer",
    "$title",
    "$screen_name",
    "$group_type",
    "$group_key",
    "$group_set",
    "alias",
    "$lib",
    "$lib_version",
    "$useragent",
    "$raw_user_agent",
];

fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// One PostHog event as the Segment-shaped event intake checks. `Err` names the field inside the
/// PostHog event.
pub fn to_segment(event: &Value) -> Result<Value, Rejection> {
    let Some(e) = event.as_object() else {
        return Err(Rejection::new("", "must be a JSON object (one event)"));
    };
    let name = match e.get("event") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(Rejection::new("event", "is required"));
        }
        Some(_) => return Err(Rejection::new("event", "must be a string")),
    };
    let empty = Map::new();
    let props = match e.get("properties") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(p)) => p,
        Some(_) => return Err(Rejection::new("properties", "must be an object")),
    };
    let distinct = match e.get("distinct_id").or_else(|| props.get("distinct_id")) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        // PostHog accepts numeric ids and turns them into text.
        Some(Value::Number(n)) => Some(n.to_string()),
        None | Some(Value::Null) | Some(Value::String(_)) => None,
        Some(_) => return Err(Rejection::new("distinct_id", "must be a string")),
    };
    let Some(distinct) = distinct else {
        return Err(Rejection::new("distinct_id", "is required"));
    };
    let anonymous = props.get("$process_person_profile") == Some(&Value::Bool(false))
        || props.get("$is_identified") == Some(&Value::Bool(false))
        || text(props, "$device_id") == Some(distinct.as_str());

    let mut out = Map::new();
    let set = |out: &mut Map<String, Value>, k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    if let Some(uuid) = e.get("uuid").and_then(Value::as_str) {
        set(&mut out, "messageId", json!(uuid));
    }
    if let Some(ts) = e.get("timestamp").filter(|v| !v.is_null()) {
        set(&mut out, "timestamp", ts.clone());
    }
    // Traits: `$set` and `$set_once`, at the top of the event or in its properties.
    let mut traits = Map::new();
    for key in ["$set_once", "$set"] {
        for source in [e.get(key), props.get(key)].into_iter().flatten() {
            if let Some(map) = source.as_object() {
                for (k, v) in map {
                    traits.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let rest: Map<String, Value> = props
        .iter()
        .filter(|(k, _)| !MOVED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    match name.as_str() {
        "$identify" | "$set" | "$set_once" => {
            set(&mut out, "type", json!("identify"));
            set(&mut out, "userId", json!(distinct));
            if let Some(anon) = text(props, "$anon_distinct_id") {
                set(&mut out, "anonymousId", json!(anon));
            }
            set(&mut out, "traits", Value::Object(traits));
        }
        "$pageview" => {
            set(&mut out, "type", json!("page"));
            if let Some(title) = text(props, "$title") {
                set(&mut out, "name", json!(title));
            }
            set(&mut out, "properties", Value::Object(rest));
        }
        "$screen" => {
            set(&mut out, "type", json!("screen"));
            if let Some(screen) = text(props, "$screen_name") {
                set(&mut out, "name", json!(screen));
            }
            set(&mut out, "properties", Value::Object(rest));
        }
        "$groupidentify" => {
            set(&mut out, "type", json!("group"));
            match text(props, "$group_key") {
                Some(key) => set(&mut out, "groupId", json!(key)),
                None => return Err(Rejection::new("properties.$group_key", "is required")),
            }
            let mut group_traits = props
                .get("$group_set")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(t) = text(props, "$group_type") {
                group_traits.entry("group_type").or_insert_with(|| json!(t));
            }
            set(&mut out, "traits", Value::Object(group_traits));
        }
        "$create_alias" => {
            // PostHog's alias(previous_id, distinct_id): the event's distinct id is the old one,
            // `alias` the id it is now known by.
            set(&mut out, "type", json!("alias"));
            match text(props, "alias") {
                Some(alias) => set(&mut out, "userId", json!(alias)),
                None => return Err(Rejection::new("properties.alias", "is required")),
            }
            set(&mut out, "previousId", json!(distinct));
        }
        other => {
            set(&mut out, "type", json!("track"));
            set(&mut out, "event", json!(other));
            set(&mut out, "properties", Value::Object(rest));
            if !traits.is_empty() {
                // A track cannot carry traits: keep them where the event's context says so.
                out.insert("__traits".into(), Value::Object(traits));
            }
        }
    }
    if !matches!(
        name.as_str(),
        "$identify" | "$set" | "$set_once" | "$create_alias"
    ) {
        let id_key = if anonymous { "anonymousId" } else { "userId" };
        set(&mut out, id_key, json!(distinct));
    }

    let mut context = Map::new();
    let mut page = Map::new();
    for (from, to) in [
        ("$current_url", "url"),
        ("$pathname", "path"),
        ("$referrer", "referrer"),
        ("$title", "title"),
    ] {
        if let Some(v) = text(props, from).filter(|v| *v != "$direct") {
            page.insert(to.into(), json!(v));
        }
    }
    if !page.is_empty() {
        context.insert("page".into(), Value::Object(page));
    }
    if let Some(lib) = text(props, "$lib") {
        let mut library = Map::new();
        library.insert("name".into(), json!(lib));
        if let Some(v) = text(props, "$lib_version") {
            library.insert("version".into(), json!(v));
        }
        context.insert("library".into(), Value::Object(library));
    }
    if let Some(ua) = text(props, "$raw_user_agent").or_else(|| text(props, "$useragent")) {
        context.insert("userAgent".into(), json!(ua));
    }
    if let Some(traits) = out.remove("__traits") {
        context.insert("traits".into(), traits);
    }
    out.insert("context".into(), Value::Object(context));
    Ok(Value::Object(out))
}

/// The events of a decoded body, the body's own project key and `sent_at`.
struct Decoded {
    events: Vec<Value>,
    key: Option<String>,
    sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn key_of(v: &Value) -> Option<String> {
    ["api_key", "token"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .or_else(|| v.get("properties")?.get("token")?.as_str())
        .filter(|k| !k.is_empty())
        .map(str::to_string)
}

/// The body as JSON text: undoes posthog-js's encodings.
fn body_text(
    headers: &HeaderMap,
    query: &Map<String, Value>,
    bytes: Vec<u8>,
    limit: usize,
) -> Result<String, IngestError> {
    let compression = query.get("compression").and_then(Value::as_str);
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let bytes = if form {
        // `data=<base64 JSON>` (and sometimes `compression=`).
        let data = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "data")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| IngestError::InvalidField {
                field: "data".into(),
                problem: "is required in a form body".into(),
            })?;
        base64_decode(&data)?
    } else {
        match compression {
            Some("gzip-js" | "gzip") if bytes.starts_with(&[0x1f, 0x8b]) => gunzip(&bytes, limit)?,
            Some("base64") => base64_decode(&String::from_utf8_lossy(&bytes))?,
            Some("lz64") => {
                return Err(IngestError::InvalidField {
                    field: "compression".into(),
                    problem: "lz64 is not supported; use gzip-js (posthog-js's default) or none"
                        .into(),
                });
            }
            _ => bytes,
        }
    };
    String::from_utf8(bytes).map_err(|e| IngestError::InvalidUtf8(e.utf8_error().valid_up_to()))
}

fn base64_decode(data: &str) -> Result<Vec<u8>, IngestError> {
    let data = data.trim();
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(data))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(data))
        .map_err(|e| IngestError::MalformedJson(format!("`data` is not valid base64: {e}")))
}

fn decode(text: &str) -> Result<Decoded, IngestError> {
    let value: Value =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
            .map_err(crate::intake::json_error)?;
    let sent_at = ["sent_at", "sentAt"]
        .iter()
        .find_map(|k| value.get(*k).and_then(Value::as_str))
        .and_then(|s| s.parse().ok());
    let key = key_of(&value);
    let events = match value {
        Value::Array(events) => events,
        Value::Object(mut obj) => match obj.remove("batch").or_else(|| obj.remove("data")) {
            Some(Value::Array(events)) => events,
            Some(_) => {
                return Err(IngestError::InvalidField {
                    field: "batch".into(),
                    problem: "must be an array of events".into(),
                });
            }
            None => vec![Value::Object(obj)],
        },
        _ => {
            return Err(IngestError::InvalidField {
                field: "body".into(),
                problem: "must be an event, an array of events or {\"batch\": [...]}".into(),
            });
        }
    };
    Ok(Decoded {
        events,
        key,
        sent_at,
    })
}

/// `POST /e`, `/i/v0/e`, `/batch`, `/capture`, `/track`.
pub async fn capture(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, IngestError> {
    let (parts, body): (_, Body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let path = parts.uri.path().to_string();
    let query: Map<String, Value> = parts
        .uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect()
        })
        .unwrap_or_default();
    let headers = parts.headers;
    let bytes = read_bytes(&state, &headers, body).await?;
    let limit = state.config.max_batch_bytes;
    let text = body_text(&headers, &query, bytes, limit)?;
    let decoded = match decode(&text) {
        Ok(d) => d,
        Err(e) => {
            return Err(crate::intake::keep_body(&state, &headers, peer, &path, &text, e).await);
        }
    };
    let key = decoded
        .key
        .clone()
        .or_else(|| decoded.events.iter().find_map(key_of))
        .or_else(|| {
            query
                .get("token")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| crate::auth::basic_user(&headers))
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|k| k.trim().to_string())
        });
    let facts = facts(&state, &headers, peer, key, decoded.sent_at)?;

    let total = decoded.events.len();
    let mut records = Vec::with_capacity(total);
    let mut refusals = Refusals::new(&facts, &path);
    for (index, event) in decoded.events.iter().enumerate() {
        let checked = event_with_offset(event, facts.received_at).and_then(|v| {
            check_value(
                v,
                state.config.max_nesting_depth,
                BatchDefaults::default(),
                None,
                &facts,
                &state,
            )
        });
        match checked {
            Ok(record) => records.push(record),
            Err(r) => refusals.refuse(index, r, &event.to_string()),
        }
    }
    let accepted = records.len();
    let rejected = refusals.keep(&state).await;
    crate::intake::append(&state, records).await?;
    if rejected.is_empty() || accepted > 0 {
        let mut body = json!({"status": 1});
        if !rejected.is_empty() {
            body["accepted"] = json!(accepted);
            body["rejected"] = json!(rejected);
        }
        return Ok((StatusCode::OK, Json(body)).into_response());
    }
    let message = format!("all {total} events were rejected");
    let first = rejected
        .first()
        .map(|r| format!("{}: {}", r.field, r.message));
    Ok((
        StatusCode::BAD_REQUEST,
        Json(json!({
            "type": "validation_error",
            "code": "invalid_events",
            "message": message,
            "detail": first.unwrap_or(message.clone()),
            "accepted": 0,
            "rejected": rejected,
            "error": {"code": "invalid_events", "message": message,
                      "field": rejected.first().map(|r| r.field.clone())},
        })),
    )
        .into_response())
}

/// The Segment-shaped event of a PostHog event, with posthog-js's `offset` (ms before sending)
/// turned into a timestamp when the event has none.
fn event_with_offset(
    event: &Value,
    received_at: chrono::DateTime<chrono::Utc>,
) -> Result<Value, Rejection> {
    let mut value = to_segment(event)?;
    if value.get("timestamp").is_none()
        && let Some(offset) = event.get("offset").and_then(Value::as_i64)
    {
        let at = received_at - chrono::Duration::milliseconds(offset.clamp(0, 86_400_000 * 365));
        value["timestamp"] = json!(at.to_rfc3339());
    }
    Ok(value)
}

/// `GET|POST /decide` and `/flags`: posthog-js asks for feature flags at start; leadstream has
/// none, and says so in the shape the SDK expects, so that nothing else in it breaks.
pub async fn decide() -> Response {
    (
        StatusCode::OK,
        Json(json!({
            "featureFlags": {},
            "featureFlagPayloads": {},
            "flags": {},
            "errorsWhileComputingFlags": false,
            "sessionRecording": false,
            "supportedCompression": ["gzip-js"],
            "autocapture_opt_out": false,
            "capturePerformance": false,
            "config": {"enable_collect_everything": true},
        })),
    )
        .into_response()
}
