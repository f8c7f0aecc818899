//! The Segment-compatible tracking API: `POST /v1/batch` (and `/v1/import`, `/v1/b`) with many
//! events, and `POST /v1/{track,identify,page,screen,group,alias}` (or their first letters) with
//! one.
//!
//! A batch is checked event by event: the valid ones are written and the answer lists the rejected
//! ones by index, with the field and the problem. Some or all accepted: 200; none: 400. The answer
//! comes only after the log confirms every accepted event as durable.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use leadstream_schemas::{EventType, parse_event_text};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::sync::Arc;

use crate::auth;
use crate::enrich::BatchDefaults;
use crate::error::IngestError;
use crate::intake::{
    Incoming, Refusals, accept_parsed, append, batch_response, check_text, check_value, facts,
    free_before_waiting, invalid_body, json_error, keep_body, keep_error, parse_sent_at,
    read_request, refuse_duplicate_keys, refuse_one, require_object,
};
use crate::router::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(borrow)]
    batch: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    context: Option<Map<String, Value>>,
    #[serde(default)]
    integrations: Option<Map<String, Value>>,
    #[serde(default)]
    write_key: Option<String>,
    #[serde(default)]
    sent_at: Option<Value>,
}

/// `POST /v1/batch`.
pub async fn batch(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Response, IngestError> {
    let Incoming {
        headers,
        peer,
        path,
        text,
    } = read_request(&state, request).await?;
    let envelope = require_object(&text, "a batch envelope {\"batch\": [...]}").and_then(|()| {
        serde_path_to_error::deserialize::<_, Envelope<'_>>(
            &mut serde_json::Deserializer::from_str(&text),
        )
        .map_err(json_error)
    });
    let envelope = match envelope {
        Ok(e) => e,
        Err(e) => return Err(keep_body(&state, &headers, peer, &path, &text, e).await),
    };
    let key = auth::write_key(&headers, envelope.write_key.as_deref());
    let sent_at = parse_sent_at(envelope.sent_at.as_ref(), "sentAt")?;
    let facts = facts(&state, &headers, peer, key, sent_at)?;
    let Some(batch) = envelope.batch else {
        let e = IngestError::InvalidField {
            field: "batch".into(),
            problem: "is required: an array of events".into(),
        };
        keep_error(&state, &facts, &path, &e, &text).await;
        return Err(e);
    };

    let mut records = Vec::with_capacity(batch.len());
    let mut refusals = Refusals::new(&facts, &path);
    let defaults = BatchDefaults {
        context: envelope.context.as_ref(),
        integrations: envelope.integrations.as_ref(),
    };
    for (index, raw) in batch.iter().enumerate() {
        match check_text(raw.get(), defaults, None, &facts, &state) {
            Ok(record) => records.push(record),
            Err(r) => {
                let payload = crate::failed::event_payload(raw.get(), defaults);
                refusals.refuse(index, r, &payload);
            }
        }
    }
    let accepted = records.len();
    let total = batch.len();
    let rejected = refusals.keep(&state).await;
    free_before_waiting((batch, envelope.context, envelope.integrations, facts));
    free_before_waiting((text, headers, path));
    append(&state, records).await?;

    Ok(batch_response(accepted, rejected, total))
}

/// `POST /v1/{track,identify,page,screen,group,alias}`: one event, its type from the path.
pub async fn single(
    State(state): State<Arc<AppState>>,
    Path(call): Path<String>,
    request: Request,
) -> Result<Response, IngestError> {
    let event_type = call_type(&call).ok_or_else(|| {
        IngestError::NotFound(format!(
            "no endpoint /v1/{call}; use batch, track, identify, page, screen, group or alias"
        ))
    })?;
    let Incoming {
        headers,
        peer,
        path,
        text,
    } = read_request(&state, request).await?;
    if text.len() > state.config.max_event_bytes {
        return Err(IngestError::BodyTooLarge {
            limit: state.config.max_event_bytes,
        });
    }
    // The common case: the key in the Authorization header, a well-formed event parsed straight
    // into the typed struct. Anything else (a key in the body, a mistake to name) below.
    if let Some(key) = auth::basic_user(&headers)
        && let Some(event) =
            parse_event_text(&text, Some(event_type), state.config.max_nesting_depth)
    {
        let facts = facts(&state, &headers, peer, Some(key), event.sent_at)?;
        let record = match accept_parsed(event, &facts, &state) {
            Ok(r) => r,
            Err(r) => return Err(refuse_one(&state, &facts, &path, r, &text).await),
        };
        free_before_waiting((facts, text, headers, path));
        append(&state, vec![record]).await?;
        return Ok(success());
    }
    let parsed = refuse_duplicate_keys(&text)
        .map_err(invalid_body)
        .and_then(|()| {
            serde_path_to_error::deserialize::<_, Value>(&mut serde_json::Deserializer::from_str(
                &text,
            ))
            .map_err(json_error)
        })
        .and_then(|value| match value.is_object() {
            true => Ok(value),
            false => Err(IngestError::InvalidField {
                field: "body".into(),
                problem: "must be a JSON object (one event)".into(),
            }),
        });
    let value = match parsed {
        Ok(v) => v,
        Err(e) => return Err(keep_body(&state, &headers, peer, &path, &text, e).await),
    };
    let key = auth::write_key(&headers, value.get("writeKey").and_then(Value::as_str));
    let sent_at = parse_sent_at(value.get("sentAt"), "sentAt")?;
    let facts = facts(&state, &headers, peer, key, sent_at)?;
    let record = match check_value(
        value,
        state.config.max_nesting_depth,
        BatchDefaults::default(),
        Some(event_type),
        &facts,
        &state,
    ) {
        Ok(r) => r,
        Err(r) => return Err(refuse_one(&state, &facts, &path, r, &text).await),
    };
    free_before_waiting((facts, text, headers, path));
    append(&state, vec![record]).await?;
    Ok(success())
}

/// The call a single-event path names: the full name, or its first letter, which is where
/// Segment's browser SDK (analytics.js) posts (`/v1/t`, `/v1/p`, `/v1/i`, `/v1/s`, `/v1/g`,
/// `/v1/a`; the six first letters differ).
pub(crate) fn call_type(call: &str) -> Option<EventType> {
    EventType::ALL.into_iter().find(|t| {
        let name = t.as_str();
        call == name || call == &name[..1]
    })
}

fn success() -> Response {
    (StatusCode::OK, Json(serde_json::json!({"success": true}))).into_response()
}
