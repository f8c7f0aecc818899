//! The CRM hands leads back: `POST /v1/profiles/{id}/recycle` returns a lead to marketing with a
//! reason (lost deal, no response, …), `POST /v1/profiles/{id}/won` marks a won deal (the person
//! becomes a customer).
//!
//! Both append an event (`Lead Recycled`, `Deal Won`) to the events log, so the scorer applies it
//! in order with everything else the person does, exactly once, and explains the score change the
//! model's `[recycling]` makes. An `Idempotency-Key` header makes a retried call the same event.
//! The answer is 202 once the log has the event durably.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use leadstream_platform::log::LogMessage;
use leadstream_schemas::{Event, LifecycleStage, LogRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::auth::Writer;
use crate::error::QueryError;
use crate::extract::{check_id, parse};
use crate::router::AppState;

const MAX_TEXT: usize = 1000;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecycleRequest {
    /// Why sales returns the lead: `lost_deal`, `no_response`, `bad_timing`, or the CRM's own.
    pub reason: String,
    #[serde(default)]
    pub note: Option<String>,
    /// The CRM's own id of the lead or deal, kept with the event.
    #[serde(default)]
    pub crm_id: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WonRequest {
    #[serde(default)]
    pub amount: Option<f64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub crm_id: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Accepted {
    pub accepted: bool,
    pub profile_id: String,
    pub event: &'static str,
    pub message_id: String,
}

fn check_text(field: &str, value: Option<&str>, required: bool) -> Result<(), QueryError> {
    match value {
        Some(v) if v.trim().is_empty() && required => Err(QueryError::InvalidField {
            field: field.into(),
            problem: "must not be empty".into(),
        }),
        Some(v) if v.len() > MAX_TEXT => Err(QueryError::InvalidField {
            field: field.into(),
            problem: format!("must be at most {MAX_TEXT} bytes"),
        }),
        _ => Ok(()),
    }
}

/// The event's message id: from `Idempotency-Key` (so a retried call is one event), else new.
pub(crate) fn message_id(headers: &HeaderMap, what: &str, id: &str) -> Result<String, QueryError> {
    match headers.get("idempotency-key") {
        None => Ok(format!("crm-{}", uuid::Uuid::now_v7())),
        Some(v) => {
            let key = v.to_str().map_err(|_| QueryError::InvalidField {
                field: "Idempotency-Key".into(),
                problem: "must be visible ASCII".into(),
            })?;
            check_text("Idempotency-Key", Some(key), true)?;
            Ok(format!("crm-{what}-{id}-{key}"))
        }
    }
}

pub(crate) async fn append(
    state: &AppState,
    workspace: &str,
    id: &str,
    name: &'static str,
    message_id: String,
    properties: Map<String, Value>,
) -> Result<Accepted, QueryError> {
    let now = chrono::Utc::now();
    let event: Event = serde_json::from_value(json!({
        "type": "track",
        "userId": id,
        "event": name,
        "properties": properties,
        "messageId": message_id,
        "timestamp": now,
        "receivedAt": now,
        "workspace": workspace,
        "context": {"library": {"name": "leadstream-crm", "version": env!("CARGO_PKG_VERSION")}},
    }))
    .map_err(|e| QueryError::Internal(format!("building the {name} event: {e}")))?;
    leadstream_schemas::validate::check_event(&event).map_err(|r| QueryError::InvalidField {
        field: r.field,
        problem: r.problem,
    })?;
    let record = LogRecord::new(workspace, event);
    state
        .log
        .append(vec![LogMessage {
            key: record.key(),
            payload: record.encode(),
        }])
        .await
        .map_err(|e| QueryError::LogUnavailable(e.to_string()))?;
    tracing::info!(workspace, profile = id, event = name, %message_id, "CRM call accepted");
    Ok(Accepted {
        accepted: true,
        profile_id: id.to_string(),
        event: name,
        message_id,
    })
}

/// The known profile `id`, following a merged anonymous id to its person.
pub(crate) async fn profile_for(
    state: &AppState,
    workspace: &str,
    id: &str,
) -> Result<leadstream_schemas::Profile, QueryError> {
    let p = state
        .store
        .profile(workspace, id)
        .await?
        .ok_or(QueryError::NotFound {
            what: "profile",
            id: id.to_string(),
        })?;
    match &p.merged_into {
        Some(into) => Ok(state.store.profile(workspace, into).await?.unwrap_or(p)),
        None => Ok(p),
    }
}

pub async fn recycle(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Accepted>), QueryError> {
    check_id(&id)?;
    let req: RecycleRequest = parse(&body)?;
    check_text("reason", Some(&req.reason), true)?;
    check_text("note", req.note.as_deref(), false)?;
    check_text("crm_id", req.crm_id.as_deref(), false)?;
    let profile = profile_for(&state, &workspace, &id).await?;
    // Only a lead sales has can be handed back.
    if !matches!(
        profile.lifecycle_stage,
        LifecycleStage::Mql | LifecycleStage::SalesAccepted
    ) {
        return Err(QueryError::Conflict {
            field: "id".into(),
            problem: format!(
                "profile `{}` is at lifecycle stage `{}`, not with sales: only a marketing-qualified or sales-accepted lead can be recycled",
                profile.profile_id,
                serde_json::to_value(profile.lifecycle_stage)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
        });
    }
    let mut properties = Map::new();
    properties.insert("reason".into(), json!(req.reason.trim()));
    if let Some(note) = req.note {
        properties.insert("note".into(), json!(note));
    }
    if let Some(crm_id) = req.crm_id {
        properties.insert("crm_id".into(), json!(crm_id));
    }
    let message_id = message_id(&headers, "recycle", &profile.profile_id)?;
    let accepted = append(
        &state,
        &workspace,
        &profile.profile_id,
        "Lead Recycled",
        message_id,
        properties,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

pub async fn won(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Accepted>), QueryError> {
    check_id(&id)?;
    let req: WonRequest = if body.iter().all(u8::is_ascii_whitespace) {
        WonRequest {
            amount: None,
            currency: None,
            crm_id: None,
        }
    } else {
        parse(&body)?
    };
    if req.amount.is_some_and(|a| !a.is_finite() || a < 0.0) {
        return Err(QueryError::InvalidField {
            field: "amount".into(),
            problem: "must be a number at or above 0".into(),
        });
    }
    if let Some(c) = &req.currency
        && (c.len() != 3 || !c.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(QueryError::InvalidField {
            field: "currency".into(),
            problem: "must be an ISO 4217 code such as EUR".into(),
        });
    }
    check_text("crm_id", req.crm_id.as_deref(), false)?;
    let profile = profile_for(&state, &workspace, &id).await?;
    let mut properties = Map::new();
    if let Some(a) = req.amount {
        properties.insert("amount".into(), json!(a));
    }
    if let Some(c) = req.currency {
        properties.insert("currency".into(), json!(c.to_ascii_uppercase()));
    }
    if let Some(crm_id) = req.crm_id {
        properties.insert("crm_id".into(), json!(crm_id));
    }
    let message_id = message_id(&headers, "won", &profile.profile_id)?;
    let accepted = append(
        &state,
        &workspace,
        &profile.profile_id,
        "Deal Won",
        message_id,
        properties,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}
