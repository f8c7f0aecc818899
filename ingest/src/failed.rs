//! Failed events: every event the collector refuses once it knows the workspace (past the write
//! key and the rate limit, which are only counted) is kept with the reason, the endpoint, the time
//! and the raw payload ([`keep`]), and can be replayed through the same intake later ([`replay`]).

use chrono::{DateTime, Utc};
use leadstream_schemas::{EventType, FailedEvent, Rejection, ReplayOutcome};
use serde_json::Value;

use crate::enrich::{BatchDefaults, RequestFacts};
use crate::metrics;
use crate::router::AppState;

/// Most bytes of a refused body kept as its payload (the event size limit is far below).
const MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// What a refusal knows besides the payload.
pub struct Refusal<'a> {
    pub endpoint: &'a str,
    pub code: &'static str,
    pub field: Option<String>,
    pub problem: String,
}

/// A failed event for `payload` (one event's JSON text, or a body that was not JSON), refused in
/// the request described by `facts`.
pub fn failed_event(facts: &RequestFacts, refusal: Refusal<'_>, payload: &str) -> FailedEvent {
    let parsed: Option<Value> = serde_json::from_str(payload).ok();
    let text = |key: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    let mut payload = payload.to_string();
    if payload.len() > MAX_PAYLOAD_BYTES {
        let mut end = MAX_PAYLOAD_BYTES;
        while !payload.is_char_boundary(end) {
            end -= 1;
        }
        payload.truncate(end);
    }
    FailedEvent {
        id: uuid::Uuid::now_v7().to_string(),
        workspace: facts.workspace.clone(),
        received_at_ms: facts.received_at.timestamp_millis(),
        endpoint: refusal.endpoint.to_string(),
        code: refusal.code.to_string(),
        field: refusal.field.filter(|f| !f.is_empty()),
        problem: refusal.problem,
        event_name: text("event").or_else(|| text("name")),
        // The client's id, or one given now: a replay keeps it, so it is written once however
        // often it is replayed.
        message_id: text("messageId").unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        sent_at: facts.sent_at.map(|t| t.to_rfc3339()),
        public_key: facts.public_key,
        ip: facts.ip_text(),
        user_agent: facts.user_agent.clone(),
        payload,
        replayed_at_ms: None,
        replay_outcome: None,
    }
}

/// One refused event of a batch (or of a one-event endpoint): its text with the batch's shared
/// `context` and `integrations` merged in, so that a replay sees what the collector saw.
pub fn event_payload(raw: &str, defaults: BatchDefaults<'_>) -> String {
    if defaults.is_empty() {
        return raw.to_string();
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(mut value) => {
            crate::enrich::merge_batch_defaults(&mut value, defaults);
            value.to_string()
        }
        Err(_) => raw.to_string(),
    }
}

/// Keeps `events` before the collector answers. A sink that fails is logged and counted: the
/// client still gets its 4xx (the event was not acceptable), and the operator sees the loss.
pub async fn keep(state: &AppState, events: Vec<FailedEvent>) {
    if events.is_empty() {
        return;
    }
    let n = events.len() as u64;
    let Some(sink) = state.failed.as_ref() else {
        metrics::FAILED_EVENTS
            .with_label_values(&["not_kept"])
            .inc_by(n);
        return;
    };
    match sink.record(events).await {
        Ok(()) => metrics::FAILED_EVENTS
            .with_label_values(&["kept"])
            .inc_by(n),
        Err(e) => {
            tracing::error!(error = %e, events = n, "failed events could not be kept");
            metrics::FAILED_EVENTS
                .with_label_values(&["lost"])
                .inc_by(n);
        }
    }
}

/// Keeps the one event of a request refused with `r`.
pub async fn keep_rejection(
    state: &AppState,
    facts: &RequestFacts,
    endpoint: &str,
    r: &Rejection,
    payload: &str,
) {
    let refusal = Refusal {
        endpoint,
        code: code_of(r),
        field: Some(r.field.clone()),
        problem: r.problem.clone(),
    };
    keep(state, vec![failed_event(facts, refusal, payload)]).await;
}

/// The refusal code of a rejection: its own (the tracking plan's), else an invalid field.
pub fn code_of(r: &Rejection) -> &'static str {
    r.code.unwrap_or("invalid_field")
}

/// The call type a one-event endpoint stands for (`/v1/track`, `/v1/t`, …); `None` for batches
/// and for endpoints whose payload names its own type.
fn forced_type(endpoint: &str) -> Option<EventType> {
    let call = endpoint.strip_prefix("/v1/")?;
    crate::routes::track::call_type(call)
}

/// Replays failed events of `workspace` through intake (the workspace's plan as it is now, the
/// usual dedup), each with its original `messageId`, receive time and request facts.
pub async fn replay(
    state: &AppState,
    workspace: &str,
    events: &[FailedEvent],
) -> Result<Vec<ReplayOutcome>, crate::error::IngestError> {
    let mut outcomes = Vec::with_capacity(events.len());
    let mut records = Vec::new();
    for e in events {
        let refused = |field: Option<String>, problem: String| ReplayOutcome {
            id: e.id.clone(),
            outcome: "refused".into(),
            field,
            problem: Some(problem),
        };
        if e.workspace != workspace {
            outcomes.push(refused(None, "belongs to another workspace".into()));
            continue;
        }
        let received_at =
            DateTime::<Utc>::from_timestamp_millis(e.received_at_ms).unwrap_or_else(Utc::now);
        let facts = RequestFacts {
            workspace: e.workspace.clone(),
            public_key: e.public_key,
            received_at,
            sent_at: e
                .sent_at
                .as_deref()
                .and_then(|s| s.parse::<DateTime<Utc>>().ok()),
            ip: e.ip.as_deref().and_then(|ip| ip.parse().ok()),
            user_agent: e.user_agent.clone(),
            ip_text: Default::default(),
        };
        let mut value: Value = match crate::routes::translate::event_value(&e.endpoint, &e.payload)
        {
            Ok(v) => v,
            Err(r) => {
                outcomes.push(refused(Some(r.field), r.problem));
                continue;
            }
        };
        if let Some(obj) = value.as_object_mut()
            && obj
                .get("messageId")
                .and_then(Value::as_str)
                .is_none_or(|m| m.trim().is_empty())
        {
            obj.insert("messageId".into(), Value::String(e.message_id.clone()));
        }
        let checked = crate::intake::check_value(
            value,
            state.config.max_nesting_depth,
            BatchDefaults::default(),
            forced_type(&e.endpoint),
            &facts,
            state,
        );
        match checked {
            Ok(record) => {
                records.push(record);
                // Filled in below, once the log said which were written.
                outcomes.push(ReplayOutcome {
                    id: e.id.clone(),
                    outcome: String::new(),
                    field: None,
                    problem: None,
                });
            }
            Err(r) => outcomes.push(refused(Some(r.field), r.problem)),
        }
    }
    let written = crate::intake::append(state, records).await?;
    metrics::FAILED_EVENTS
        .with_label_values(&["replayed"])
        .inc_by(written.len() as u64);
    let mut written = written.into_iter();
    for outcome in outcomes.iter_mut().filter(|o| o.outcome.is_empty()) {
        outcome.outcome = match written.next() {
            Some(true) => "accepted",
            _ => "duplicate",
        }
        .into();
    }
    Ok(outcomes)
}
