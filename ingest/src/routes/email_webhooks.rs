//! Email provider webhooks: `POST /v1/webhooks/email/{provider}?wk=WRITE_KEY`.
//!
//! **`sendgrid`**: SendGrid's Event Webhook (a JSON array of events), verified with its signed
//! event webhook (ECDSA, `ingest.email.sendgrid_verification_key`). `processed` → `Email Sent`,
//! `delivered`, `open`, `click`, `bounce` / `dropped` → `Email Bounced`, `spamreport` →
//! `Email Complained`, `unsubscribe` / `group_unsubscribe` → `Email Unsubscribed`; `deferred`
//! and unknown events are skipped and counted. The person is the custom argument `user_id` when
//! the send set one, else the lower-cased email. `sg_event_id` becomes the `messageId`; a signed
//! timestamp further than `security.webhook_tolerance_secs` from now is refused (401). Machine
//! opens (`sg_machine_open`, Apple Mail Privacy Protection) and scanner user agents are flagged
//! `bot`. Events that do not validate are listed in the answer, which is still 200: SendGrid
//! would otherwise retry the whole batch for days.
//!
//! **`generic`**: `{"events": [{"type": "sent"|"delivered"|"opened"|"clicked"|"bounced"|
//! "unsubscribed"|"complained", "message_id", "recipient", "user_id"?, "campaign_id"?, "url"?,
//! "timestamp"?, "user_agent"?, "event_id"?}]}`, verified with `X-Leadstream-Signature:
//! t=<unix seconds>,v1=HEX` (HMAC-SHA256 of `<t>.<write key>.<body>` with the workspace's
//! `email_webhook_secret`, else `ingest.email.webhook_secret`; `t` within
//! `security.webhook_tolerance_secs`). `event_id` becomes the `messageId` (else one derived from
//! the event, and for one without a timestamp from the signed post), so a replayed post changes
//! nothing. Like `/v1/batch`: the rejected events are listed by index and the others written;
//! 200 when any was accepted, 400 when none was.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

use crate::error::IngestError;
use crate::intake::{Rejected, accept_value, append, count_rejection, facts, json_error};
use crate::metrics;
use crate::router::AppState;
use crate::signatures::{SendgridKey, check_fresh, check_generic_signature};

/// The write key in a webhook's URL and its workspace (401 without a known one).
pub(crate) fn webhook_workspace<'a>(
    state: &AppState,
    wk: Option<&'a str>,
) -> Result<(&'a str, String), IngestError> {
    let wk = wk.ok_or(IngestError::MissingWriteKey)?;
    let (workspace, _) = state
        .registry
        .write_key(wk)
        .ok_or(IngestError::UnknownWriteKey)?;
    Ok((wk, workspace.to_string()))
}

/// The `t=` of a checked `X-Leadstream-Signature`.
pub(crate) fn signed_timestamp(signature: &str) -> &str {
    signature
        .split(',')
        .find_map(|p| p.trim().strip_prefix("t="))
        .unwrap_or("")
}

#[derive(Debug, Deserialize)]
pub struct WebhookQuery {
    wk: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, IngestError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| IngestError::BadSignature(format!("{name} is missing")))
}

/// One provider event as leadstream's event, plus whether it is machine-made.
struct Mapped {
    value: Value,
    machine: bool,
}

fn sendgrid_event(e: &Map<String, Value>) -> Result<Option<Mapped>, (String, String)> {
    let text = |k: &str| {
        e.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let kind = text("event").ok_or(("event".to_string(), "is required".to_string()))?;
    let name = match kind.as_str() {
        "processed" => "Email Sent",
        "delivered" => "Email Delivered",
        "open" => "Email Opened",
        "click" => "Email Clicked",
        "bounce" | "dropped" => "Email Bounced",
        "spamreport" => "Email Complained",
        "unsubscribe" | "group_unsubscribe" => "Email Unsubscribed",
        _ => return Ok(None),
    };
    let email = text("email").ok_or(("email".to_string(), "is required".to_string()))?;
    let person = text("user_id")
        .or(text("userId"))
        .unwrap_or_else(|| email.trim().to_ascii_lowercase());
    let message = text("sg_message_id")
        .or(text("smtp-id"))
        .ok_or(("sg_message_id".to_string(), "is required".to_string()))?;
    let mut properties = json!({"email_id": message, "provider": "sendgrid", "email": email});
    for (from, to) in [
        ("campaign_id", "campaign_id"),
        ("url", "link_url"),
        ("reason", "reason"),
        ("type", "bounce_type"),
    ] {
        if let Some(v) = text(from) {
            properties[to] = json!(v);
        }
    }
    let mut value = json!({"type": "track", "event": name, "userId": person, "properties": properties,
        "context": {"channel": "email"}});
    if let Some(id) = text("sg_event_id") {
        value["messageId"] = json!(id);
    }
    if let Some(ts) = e
        .get("timestamp")
        .and_then(Value::as_i64)
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
    {
        value["timestamp"] = json!(ts.to_rfc3339());
    }
    if let Some(ua) = text("useragent") {
        value["context"]["userAgent"] = json!(ua);
    }
    if let Some(ip) = text("ip") {
        value["context"]["ip"] = json!(ip);
    }
    let machine = e
        .get("sg_machine_open")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Some(Mapped { value, machine }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericBatch {
    events: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericEvent {
    #[serde(rename = "type")]
    kind: GenericKind,
    message_id: String,
    recipient: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    campaign_id: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    /// The sender's id of this event; a repeat of it is the same event.
    #[serde(default)]
    event_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum GenericKind {
    Sent,
    Delivered,
    Opened,
    Clicked,
    Bounced,
    Unsubscribed,
    Complained,
}

/// The `messageId` of a generic event: the sender's `event_id`, else one derived from what the
/// event says (and, for an event without a timestamp, which signed post it is and where in it),
/// so that the same signed post replayed is the same events, dropped as repeats.
fn generic_message_id(e: &GenericEvent, kind: &str, signed_at: &str, index: usize) -> String {
    use sha2::{Digest, Sha256};
    if let Some(id) = e.event_id.as_deref().filter(|s| !s.trim().is_empty()) {
        return format!("email:{id}");
    }
    let mut h = Sha256::new();
    for part in [kind, &e.message_id, e.url.as_deref().unwrap_or("")] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    match &e.timestamp {
        Some(t) => h.update(t.as_bytes()),
        None => h.update(format!("{signed_at}#{index}").as_bytes()),
    }
    format!("email:{}", &hex::encode(h.finalize())[..32])
}

fn generic_event(raw: Value, signed_at: &str, index: usize) -> Result<Mapped, (String, String)> {
    let e: GenericEvent = serde_path_to_error::deserialize(raw).map_err(|e| {
        let r = leadstream_schemas::rejection_from_serde(e);
        (r.field, r.problem)
    })?;
    let name = match e.kind {
        GenericKind::Sent => "Email Sent",
        GenericKind::Delivered => "Email Delivered",
        GenericKind::Opened => "Email Opened",
        GenericKind::Clicked => "Email Clicked",
        GenericKind::Bounced => "Email Bounced",
        GenericKind::Unsubscribed => "Email Unsubscribed",
        GenericKind::Complained => "Email Complained",
    };
    let message_id = generic_message_id(&e, name, signed_at, index);
    let mut properties =
        json!({"email_id": e.message_id, "provider": "generic", "email": e.recipient});
    if let Some(c) = e.campaign_id {
        properties["campaign_id"] = json!(c);
    }
    if let Some(u) = e.url {
        properties["link_url"] = json!(u);
    }
    let person = e
        .user_id
        .unwrap_or_else(|| e.recipient.trim().to_ascii_lowercase());
    let mut value = json!({"type": "track", "event": name, "userId": person, "properties": properties,
        "messageId": message_id, "context": {"channel": "email"}});
    if let Some(t) = e.timestamp {
        value["timestamp"] = json!(t);
    }
    if let Some(ua) = e.user_agent {
        value["context"]["userAgent"] = json!(ua);
    }
    Ok(Mapped {
        value,
        machine: false,
    })
}

pub async fn webhook(
    State(state): State<Arc<AppState>>,
    Path(provider): Path<String>,
    Query(query): Query<WebhookQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IngestError> {
    if body.len() > state.config.max_batch_bytes {
        return Err(IngestError::BodyTooLarge {
            limit: state.config.max_batch_bytes,
        });
    }
    let config = &state.config.email;
    let mapped: Vec<Result<Option<Mapped>, (String, String)>> = match provider.as_str() {
        "sendgrid" => {
            let key = config.sendgrid_verification_key.as_deref().ok_or_else(|| {
                IngestError::NotConfigured(
                    "sendgrid webhooks: set ingest.email.sendgrid_verification_key".into(),
                )
            })?;
            let key = SendgridKey::parse(key).ok_or_else(|| {
                IngestError::NotConfigured(
                    "ingest.email.sendgrid_verification_key is not a base64 DER P-256 public key"
                        .into(),
                )
            })?;
            let signature = header(&headers, "x-twilio-email-event-webhook-signature")?;
            let timestamp = header(&headers, "x-twilio-email-event-webhook-timestamp")?;
            if !key.verify(timestamp, &body, signature) {
                return Err(IngestError::BadSignature(
                    "the SendGrid signature does not verify".into(),
                ));
            }
            // A signed post is good for the tolerance only: an old one replayed is refused.
            let at = timestamp.trim().parse::<i64>().map_err(|_| {
                IngestError::BadSignature(
                    "X-Twilio-Email-Event-Webhook-Timestamp is not Unix seconds".into(),
                )
            })?;
            check_fresh(
                at,
                chrono::Utc::now().timestamp(),
                state.security.webhook_tolerance_secs,
            )
            .map_err(IngestError::BadSignature)?;
            let events: Vec<Map<String, Value>> =
                serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body))
                    .map_err(json_error)?;
            events.iter().map(sendgrid_event).collect()
        }
        "generic" => {
            let (write_key, workspace) = webhook_workspace(&state, query.wk.as_deref())?;
            let secret = state
                .registry
                .settings(&workspace)
                .email_webhook_secret
                .or_else(|| config.webhook_secret.clone())
                .ok_or_else(|| {
                    IngestError::NotConfigured(
                        "generic email webhooks: set the workspace's email_webhook_secret or \
                         ingest.email.webhook_secret"
                            .into(),
                    )
                })?;
            let signature = header(&headers, "x-leadstream-signature")?;
            check_generic_signature(
                &secret,
                signature,
                write_key,
                &body,
                chrono::Utc::now().timestamp(),
                state.security.webhook_tolerance_secs,
            )
            .map_err(IngestError::BadSignature)?;
            let signed_at = signed_timestamp(signature);
            let batch: GenericBatch =
                serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body))
                    .map_err(json_error)?;
            batch
                .events
                .into_iter()
                .enumerate()
                .map(|(i, e)| generic_event(e, signed_at, i).map(Some))
                .collect()
        }
        other => {
            return Err(IngestError::NotFound(format!(
                "no email provider `{other}`; use sendgrid or generic"
            )));
        }
    };
    let facts = facts(&state, &headers, None, query.wk, None)?;

    let mut records = Vec::new();
    let mut rejected = Vec::new();
    let mut skipped = 0;
    for (index, m) in mapped.into_iter().enumerate() {
        let checked = match m {
            Ok(None) => Ok(None),
            Ok(Some(m)) => {
                let payload = m.value.to_string();
                match accept_value(m.value, &facts, &state) {
                    Ok(r) => Ok(Some((r, m.machine))),
                    Err(r) => {
                        count_rejection(&r);
                        let endpoint = format!("/v1/webhooks/email/{provider}");
                        crate::failed::keep_rejection(&state, &facts, &endpoint, &r, &payload)
                            .await;
                        Err((r.field, r.problem))
                    }
                }
            }
            Err(e) => Err(e),
        };
        match checked {
            Ok(Some((mut record, machine))) => {
                let scanner = state
                    .scanners
                    .scanner_agent(record.event.context.user_agent.as_deref());
                if let Some(en) = record.event.enrichment.as_mut() {
                    en.bot |= machine || scanner;
                }
                records.push(record);
            }
            Ok(None) => skipped += 1,
            Err((field, message)) => {
                let field = if field.is_empty() {
                    format!("[{index}]")
                } else {
                    format!("[{index}].{field}")
                };
                rejected.push(Rejected {
                    index,
                    field,
                    message,
                });
            }
        }
    }
    let accepted = records.len();
    append(&state, records).await?;
    metrics::EMAIL_WEBHOOK_EVENTS
        .with_label_values(&[provider.as_str(), "accepted"])
        .inc_by(accepted as u64);
    metrics::EMAIL_WEBHOOK_EVENTS
        .with_label_values(&[provider.as_str(), "skipped"])
        .inc_by(skipped);
    metrics::EMAIL_WEBHOOK_EVENTS
        .with_label_values(&[provider.as_str(), "rejected"])
        .inc_by(rejected.len() as u64);
    // As for batches: some accepted is a 200 with the rejected ones listed (a provider retries a
    // whole 4xx post); SendGrid always gets its 200 (it retries for days otherwise).
    let status = if rejected.is_empty() || accepted > 0 || provider == "sendgrid" {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    Ok((status, Json(json!({"success": rejected.is_empty(), "accepted": accepted, "skipped": skipped, "rejected": rejected})))
        .into_response())
}
