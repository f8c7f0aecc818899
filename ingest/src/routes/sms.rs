//! SMS provider webhooks: `POST /v1/webhooks/sms/{provider}?wk=WRITE_KEY`.
//!
//! The write key in the webhook URL names the workspace. Every webhook must be signed; unsigned
//! or wrongly signed ones answer 401 and write nothing.
//!
//! **`twilio`**: Twilio's form-encoded status callbacks (`MessageSid`, `MessageStatus`, `To`,
//! `From`, `ErrorCode`) and inbound messages (`MessageSid`, `From`, `To`, `Body`), verified with
//! `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value,
//! sorted by name)). Answers empty TwiML.
//!
//! **`generic`**: JSON `{"events": [{"type": "sent"|"delivered"|"failed"|"received",
//! "message_id", "to", "from", "body"?, "timestamp"?}]}`, verified with
//! `X-Leadstream-Signature: t=<unix seconds>,v1=HEX(HMAC-SHA256(secret, "<t>.<write key>.<raw
//! body>"))` with the workspace's `sms_webhook_secret`, else `ingest.sms.generic_secret`; `t`
//! within `security.webhook_tolerance_secs`.
//!
//! The `messageId` of each event is the provider's message id (`MessageSid`, `message_id`) with
//! its status, so a replayed callback or inbound message changes nothing.
//!
//! Status callbacks become `SMS Sent` / `SMS Delivered` / `SMS Failed` of the recipient; an
//! inbound message becomes `SMS Received` of the sender, or `SMS Opted Out` when its text is one
//! of `ingest.sms.stop_words`. The person is `anonymousId = "sms:" + phone number`, with the
//! number in `context.traits.phone`, until identity resolution ties it to a known person.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::IngestError;
use crate::intake::{accept_value, append, count_rejection, facts, json_error};
use crate::router::AppState;
use crate::routes::email_webhooks::webhook_workspace;
use crate::signatures::{check_generic_signature, twilio_signature_valid};

#[derive(Debug, Deserialize)]
pub struct WebhookQuery {
    wk: Option<String>,
}

fn unsigned(what: &str) -> IngestError {
    IngestError::BadSignature(what.to_string())
}

/// One SMS fact, whatever the provider.
struct SmsEvent {
    kind: &'static str,
    message_id: String,
    /// The person's number: the recipient of an outbound message, the sender of an inbound one.
    phone: String,
    body: Option<String>,
    timestamp: Option<String>,
    error_code: Option<String>,
}

impl SmsEvent {
    fn into_value(self, provider: &str) -> Value {
        let mut properties = json!({"sms_id": &self.message_id, "provider": provider});
        if let Some(b) = self.body {
            properties["body"] = json!(b);
        }
        if let Some(c) = self.error_code {
            properties["error_code"] = json!(c);
        }
        // The provider's message id with what happened to it: one status callback or inbound
        // message is one event, however often it is posted.
        let kind = self.kind.to_ascii_lowercase().replace(' ', "_");
        let mut event = json!({
            "type": "track",
            "event": self.kind,
            "messageId": format!("sms:{provider}:{}:{kind}", self.message_id),
            "anonymousId": format!("sms:{}", self.phone),
            "properties": properties,
            "context": {"channel": "sms", "traits": {"phone": self.phone}},
        });
        if let Some(t) = self.timestamp {
            event["timestamp"] = json!(t);
        }
        event
    }
}

fn inbound_kind(body: &str, stop_words: &[String]) -> &'static str {
    let text = body.trim().to_uppercase();
    if stop_words.iter().any(|w| w.to_uppercase() == text) {
        "SMS Opted Out"
    } else {
        "SMS Received"
    }
}

fn twilio_events(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    body: &[u8],
) -> Result<Vec<SmsEvent>, IngestError> {
    let Some(token) = &state.config.sms.twilio_auth_token else {
        return Err(IngestError::NotConfigured(
            "twilio webhooks: set ingest.sms.twilio_auth_token".into(),
        ));
    };
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unsigned("X-Twilio-Signature is missing"))?;
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!(
        "{}{path_and_query}",
        crate::routes::public_base_url(
            &state.config,
            state.config.sms.public_url.as_deref(),
            headers,
        )
    );
    if !twilio_signature_valid(token, &url, &params, signature) {
        return Err(unsigned("X-Twilio-Signature does not verify"));
    }
    let get = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    let message_id =
        get("MessageSid")
            .or(get("SmsSid"))
            .ok_or_else(|| IngestError::InvalidField {
                field: "MessageSid".into(),
                problem: "is required".into(),
            })?;
    let status = get("MessageStatus")
        .or(get("SmsStatus"))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let event = match (status.as_str(), get("Body")) {
        ("received" | "", Some(body)) => SmsEvent {
            kind: inbound_kind(&body, &state.config.sms.stop_words),
            message_id,
            phone: get("From").ok_or_else(|| IngestError::InvalidField {
                field: "From".into(),
                problem: "is required".into(),
            })?,
            body: Some(body),
            timestamp: None,
            error_code: None,
        },
        (status, _) => SmsEvent {
            kind: match status {
                "sent" | "queued" | "accepted" | "sending" | "scheduled" => "SMS Sent",
                "delivered" | "read" => "SMS Delivered",
                "failed" | "undelivered" | "canceled" => "SMS Failed",
                other => {
                    return Err(IngestError::InvalidField {
                        field: "MessageStatus".into(),
                        problem: format!("`{other}` is not a status leadstream knows"),
                    });
                }
            },
            message_id,
            phone: get("To").ok_or_else(|| IngestError::InvalidField {
                field: "To".into(),
                problem: "is required".into(),
            })?,
            body: None,
            timestamp: None,
            error_code: get("ErrorCode"),
        },
    };
    Ok(vec![event])
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericBatch {
    events: Vec<GenericEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct GenericEvent {
    #[serde(rename = "type")]
    kind: GenericKind,
    message_id: String,
    to: String,
    from: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum GenericKind {
    Sent,
    Delivered,
    Failed,
    Received,
}

fn generic_events(
    state: &AppState,
    headers: &HeaderMap,
    wk: Option<&str>,
    body: &[u8],
) -> Result<Vec<SmsEvent>, IngestError> {
    let (write_key, workspace) = webhook_workspace(state, wk)?;
    let Some(secret) = state
        .registry
        .settings(&workspace)
        .sms_webhook_secret
        .or_else(|| state.config.sms.generic_secret.clone())
    else {
        return Err(IngestError::NotConfigured(
            "generic SMS webhooks: set the workspace's sms_webhook_secret or \
             ingest.sms.generic_secret"
                .into(),
        ));
    };
    let signature = headers
        .get("x-leadstream-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unsigned("X-Leadstream-Signature is missing"))?;
    check_generic_signature(
        &secret,
        signature,
        write_key,
        body,
        chrono::Utc::now().timestamp(),
        state.security.webhook_tolerance_secs,
    )
    .map_err(IngestError::BadSignature)?;
    let batch: GenericBatch =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))
            .map_err(json_error)?;
    Ok(batch
        .events
        .into_iter()
        .map(|e| {
            let inbound = matches!(e.kind, GenericKind::Received);
            SmsEvent {
                kind: match e.kind {
                    GenericKind::Sent => "SMS Sent",
                    GenericKind::Delivered => "SMS Delivered",
                    GenericKind::Failed => "SMS Failed",
                    GenericKind::Received => inbound_kind(
                        e.body.as_deref().unwrap_or(""),
                        &state.config.sms.stop_words,
                    ),
                },
                message_id: e.message_id,
                phone: if inbound { e.from } else { e.to },
                body: e.body,
                timestamp: e.timestamp,
                error_code: e.error_code,
            }
        })
        .collect())
}

pub async fn webhook(
    State(state): State<Arc<AppState>>,
    Path(provider): Path<String>,
    Query(query): Query<WebhookQuery>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> Result<Response, IngestError> {
    if body.len() > state.config.max_batch_bytes {
        return Err(IngestError::BodyTooLarge {
            limit: state.config.max_batch_bytes,
        });
    }
    let events = match provider.as_str() {
        "twilio" => twilio_events(&state, &headers, &uri, &body)?,
        "generic" => generic_events(&state, &headers, query.wk.as_deref(), &body)?,
        other => {
            return Err(IngestError::NotFound(format!(
                "no SMS provider `{other}`; use twilio or generic"
            )));
        }
    };
    let facts = facts(&state, &headers, None, query.wk, None)?;
    let mut records = Vec::with_capacity(events.len());
    for (i, e) in events.into_iter().enumerate() {
        let value = e.into_value(&provider);
        let payload = value.to_string();
        match accept_value(value, &facts, &state) {
            Ok(r) => records.push(r),
            Err(r) => {
                count_rejection(&r);
                let endpoint = format!("/v1/webhooks/sms/{provider}");
                crate::failed::keep_rejection(&state, &facts, &endpoint, &r, &payload).await;
                return Err(IngestError::InvalidField {
                    field: format!("events[{i}].{}", r.field),
                    problem: r.problem,
                });
            }
        }
    }
    append(&state, records).await?;
    Ok(match provider.as_str() {
        "twilio" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/xml")],
            "<Response/>",
        )
            .into_response(),
        _ => (StatusCode::OK, axum::Json(json!({"success": true}))).into_response(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_in_any_case_and_script() {
        let words: Vec<String> = ["STOP", "СТОП", "ОТПИСАТЬСЯ"].map(String::from).to_vec();
        assert_eq!(inbound_kind(" stop ", &words), "SMS Opted Out");
        assert_eq!(inbound_kind("стоп", &words), "SMS Opted Out");
        assert_eq!(inbound_kind("Отписаться", &words), "SMS Opted Out");
        assert_eq!(inbound_kind("please stop calling", &words), "SMS Received");
    }
}
