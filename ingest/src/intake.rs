//! The collector's intake core, which every channel's handler goes through once it has turned
//! its input into events: read the body (size limits, gzip), check each event (schema, ids,
//! duplicate keys, the workspace's tracking plan), enrich it (`RequestFacts`: the workspace, the
//! client's address and user agent, clock skew), drop repeats (`messageId` within the dedup
//! window), append the accepted ones to the log and answer only once it has them durably; what
//! is refused is counted and kept among the failed events. Route files only translate their
//! channel (Segment's API, PostHog's, pixels, forms, email and SMS webhooks) into events.

use std::net::SocketAddr;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use leadstream_platform::http::ErrorDetail;
use leadstream_platform::log::LogMessage;
use leadstream_schemas::{
    Event, EventType, LogRecord, Rejection, check_depth, check_event, parse_event_text,
    rejection_from_serde, validate_event,
};
use serde::Serialize;
use serde_json::Value;

use crate::auth;
use crate::enrich::{BatchDefaults, Enricher, RequestFacts, merge_batch_defaults};
use crate::error::IngestError;
use crate::metrics;
use crate::router::AppState;

/// One rejected event of a batch.
#[derive(Debug, Serialize)]
pub struct Rejected {
    pub index: usize,
    /// Path of the field at fault, from the request body: `batch[3].userId`.
    pub field: String,
    pub message: String,
}

/// The answer to a batch. Some or all accepted: 200, the rejected ones listed by index (SDKs treat
/// any 4xx as the whole batch failing). None accepted: 400 with the error also at the top level.
#[derive(Debug, Serialize)]
pub struct BatchResponse {
    pub success: bool,
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A request split into what the handlers read.
pub(crate) struct Incoming {
    pub headers: HeaderMap,
    pub peer: Option<SocketAddr>,
    /// The path it came in on (for failed events).
    pub path: String,
    pub text: String,
}

/// Splits a request into its headers, the peer address, its path and its body as text.
pub(crate) async fn read_request(
    state: &AppState,
    request: Request,
) -> Result<Incoming, IngestError> {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let text = read_body(state, &parts.headers, body).await?;
    Ok(Incoming {
        headers: parts.headers,
        peer,
        path: parts.uri.path().to_string(),
        text,
    })
}

/// Reads the body within the batch limit and checks it is UTF-8.
pub(crate) async fn read_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, IngestError> {
    let bytes = read_bytes(state, headers, body).await?;
    String::from_utf8(bytes).map_err(|e| IngestError::InvalidUtf8(e.utf8_error().valid_up_to()))
}

/// Reads the body within the batch limit, undoing `Content-Encoding: gzip`.
pub(crate) async fn read_bytes(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Vec<u8>, IngestError> {
    let limit = state.config.max_batch_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(IngestError::BodyTooLarge { limit });
    }
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over {
            IngestError::BodyTooLarge { limit }
        } else if leadstream_platform::serve::is_body_timeout(&e) {
            IngestError::BodyTimeout(state.config.client_timeout_secs)
        } else {
            IngestError::MalformedJson(format!("reading body: {e}"))
        }
    })?;
    decode_content(headers, bytes, limit)
}

/// Undoes `Content-Encoding: gzip`, refusing more than `limit` decompressed bytes (so a small
/// compressed body cannot expand without bound).
fn decode_content(headers: &HeaderMap, bytes: Bytes, limit: usize) -> Result<Vec<u8>, IngestError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        // Without a copy when the body arrived in one piece.
        None | Some("" | "identity") => Ok(Vec::from(bytes)),
        Some("gzip" | "x-gzip") => gunzip(&bytes, limit),
        Some(other) => Err(IngestError::UnsupportedEncoding(other.to_string())),
    }
}

/// Gunzips `bytes`, refusing more than `limit` decompressed bytes.
pub(crate) fn gunzip(bytes: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| IngestError::MalformedJson(format!("body is not valid gzip: {e}")))?;
    if out.len() > limit {
        return Err(IngestError::BodyTooLarge { limit });
    }
    Ok(out)
}

/// A body must be a JSON object; anything else is malformed JSON or the wrong shape.
pub(crate) fn require_object(text: &str, what: &str) -> Result<(), IngestError> {
    if text.trim_start().starts_with('{') {
        return Ok(());
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| IngestError::MalformedJson(e.to_string()))?;
    Err(IngestError::InvalidField {
        field: "body".into(),
        problem: format!("must be a JSON object: {what}"),
    })
}

/// Turns a serde_json error into "malformed JSON" (syntax) or "field X is wrong" (shape).
pub(crate) fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> IngestError {
    if !matches!(e.inner().classify(), serde_json::error::Category::Data) {
        return IngestError::MalformedJson(e.into_inner().to_string());
    }
    invalid_body(rejection_from_serde(e))
}

/// A rejection of a request's one event: the field inside the body, or the body itself.
pub(crate) fn invalid_body(r: Rejection) -> IngestError {
    IngestError::InvalidField {
        field: if r.field.is_empty() {
            "body".into()
        } else {
            r.field
        },
        problem: r.problem,
    }
}

pub(crate) fn parse_sent_at(
    value: Option<&Value>,
    field: &str,
) -> Result<Option<DateTime<Utc>>, IngestError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            s.parse::<DateTime<Utc>>()
                .map(Some)
                .map_err(|e| IngestError::InvalidField {
                    field: field.into(),
                    problem: format!("{}: {e}", leadstream_schemas::time::EXPECTED),
                })
        }
        Some(_) => Err(IngestError::InvalidField {
            field: field.into(),
            problem: format!("{} (a string)", leadstream_schemas::time::EXPECTED),
        }),
    }
}

pub(crate) fn facts(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    key: Option<String>,
    sent_at: Option<DateTime<Utc>>,
) -> Result<RequestFacts, IngestError> {
    let key = key.ok_or(IngestError::MissingWriteKey)?;
    let (workspace, public_key) = state
        .registry
        .write_key(&key)
        .map(|(w, p)| (w.to_string(), p))
        .ok_or(IngestError::UnknownWriteKey)?;
    state
        .rate_limits
        .check(&key)
        .map_err(|wait| IngestError::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })?;
    let mut facts = facts_for_workspace(state, headers, peer, workspace, sent_at);
    facts.public_key = public_key;
    Ok(facts)
}

/// The facts of a request already known to belong to `workspace`.
pub(crate) fn facts_for_workspace(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    workspace: String,
    sent_at: Option<DateTime<Utc>>,
) -> RequestFacts {
    RequestFacts {
        workspace,
        public_key: false,
        received_at: Utc::now(),
        sent_at,
        ip: state.enricher.client_ip(peer.map(|p| p.ip()), headers),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        ip_text: Default::default(),
    }
}

/// Checks one event from its JSON text; `Err` names the field relative to the event. The common
/// case (no batch-level defaults, a well-formed event) is parsed straight into the typed event;
/// anything else goes through a `Value`, which merges the defaults and names the field at fault.
pub(crate) fn check_text(
    raw: &str,
    defaults: BatchDefaults<'_>,
    forced_type: Option<EventType>,
    facts: &RequestFacts,
    state: &AppState,
) -> Result<LogRecord, Rejection> {
    let limits = &state.config;
    if raw.len() > limits.max_event_bytes {
        return Err(Rejection::new(
            "",
            format!(
                "event is {} bytes, over the limit of {}",
                raw.len(),
                limits.max_event_bytes
            ),
        ));
    }
    if defaults.is_empty()
        && let Some(event) = parse_event_text(raw, forced_type, limits.max_nesting_depth)
    {
        return accept_parsed(event, facts, state);
    }
    refuse_duplicate_keys(raw)?;
    let value: Value = serde_json::from_str(raw).map_err(|e| Rejection::new("", e.to_string()))?;
    check_value(
        value,
        limits.max_nesting_depth,
        defaults,
        forced_type,
        facts,
        state,
    )
}

/// A key given twice in one object is refused, naming it: which of the two the sender meant is
/// not for the collector to guess (a parser keeps the last silently).
pub(crate) fn refuse_duplicate_keys(text: &str) -> Result<(), Rejection> {
    match leadstream_schemas::duplicate_key(text) {
        None => Ok(()),
        Some(path) => Err(Rejection::new(
            path,
            "is given twice in its object (duplicate JSON key)",
        )),
    }
}

/// Checks one event parsed into a `Value`; `Err` names the field relative to the event.
pub(crate) fn check_value(
    mut value: Value,
    max_depth: usize,
    defaults: BatchDefaults<'_>,
    forced_type: Option<EventType>,
    facts: &RequestFacts,
    state: &AppState,
) -> Result<LogRecord, Rejection> {
    check_depth(&value, max_depth)?;
    merge_batch_defaults(&mut value, defaults);
    if let (Some(t), Some(obj)) = (forced_type, value.as_object_mut()) {
        obj.insert("type".into(), Value::String(t.as_str().into()));
    }
    accept_value(value, facts, state)
}

/// Validates one event and enriches it into the record for the log.
pub(crate) fn accept_value(
    value: Value,
    facts: &RequestFacts,
    state: &AppState,
) -> Result<LogRecord, Rejection> {
    accept_event(validate_event(value)?, facts, state)
}

/// The twin of [`accept_value`] for an event already parsed into the typed struct
/// ([`parse_event_text`]): the semantic checks, then [`accept_event`].
pub(crate) fn accept_parsed(
    event: Event,
    facts: &RequestFacts,
    state: &AppState,
) -> Result<LogRecord, Rejection> {
    check_event(&event)?;
    accept_event(event, facts, state)
}

/// Enriches one validated event into the record for the log, refusing what a write key may not
/// send and what the workspace's tracking plan refuses; records what the event's kind and the
/// plan expect of it and it lacks.
fn accept_event(
    mut event: Event,
    facts: &RequestFacts,
    state: &AppState,
) -> Result<LogRecord, Rejection> {
    let enricher: &Enricher = &state.enricher;
    // A lead made by hand goes to sales whatever its score: only an authenticated query API call
    // may make one, never a write key.
    use leadstream_schemas::EventKind;
    let kind = EventKind::classify(&event);
    match kind {
        EventKind::LeadCreated => {
            return Err(Rejection::new(
                "event",
                "`Lead Created` is reserved: turn a campaign response into a lead with the query API",
            ));
        }
        // Anyone can read a public key off a web page: CRM outcomes need a server-side key.
        EventKind::DealWon | EventKind::LeadRecycled if facts.public_key => {
            return Err(Rejection::new(
                "event",
                "CRM events need a server-side write key (or the query API), not a public one",
            ));
        }
        _ => {}
    }
    enricher.check_ids(&mut event)?;
    enricher.enrich(&mut event, facts);
    // What the kind expects and the event lacks is recorded on it, never a refusal; the plan
    // (opt in) may refuse, or drop the offending properties.
    let mut misses = kind.expectations(&event.properties);
    if let Some(verdict) = state.plans.check(&facts.workspace, &event) {
        use leadstream_schemas::plan::OnMiss;
        match verdict.action {
            OnMiss::Refuse if !verdict.misses.is_empty() => {
                let first = &verdict.misses[0];
                return Err(Rejection::new(first.field.clone(), first.problem.clone())
                    .with_code("tracking_plan"));
            }
            OnMiss::DropProperty => {
                for miss in &verdict.misses {
                    if let Some(name) = miss.field.strip_prefix("properties.") {
                        event.properties.remove(name);
                    }
                }
            }
            _ => {}
        }
        for miss in verdict.misses {
            if !misses.iter().any(|m| m.field == miss.field) {
                misses.push(miss);
            }
        }
    }
    let currency = matches!(
        kind,
        EventKind::PurchaseCompleted | EventKind::OrderRefunded
    )
    .then(|| {
        event
            .properties
            .get("currency")
            .and_then(Value::as_str)
            .and_then(leadstream_schemas::kinds::currency_code)
            .unwrap_or_else(|| enricher.currency(&facts.workspace).to_string())
    });
    if let Some(enrichment) = event.enrichment.as_mut() {
        if !misses.is_empty() {
            metrics::EXPECTATION_MISSES
                .with_label_values(&[kind.key()])
                .inc_by(misses.len() as u64);
        }
        enrichment.expectation_misses = misses;
        enrichment.currency = currency;
    }
    Ok(LogRecord::new(facts.workspace.clone(), event))
}

pub(crate) fn count_rejection(r: &Rejection) {
    let top = r
        .field
        .split(['.', '['])
        .next()
        .filter(|f| !f.is_empty())
        .unwrap_or("event");
    // Bounded label: only known top-level names, everything else as `other`.
    const KNOWN: &[&str] = &[
        "type",
        "userId",
        "anonymousId",
        "event",
        "properties",
        "traits",
        "context",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "groupId",
        "previousId",
        "messageId",
    ];
    let label = if KNOWN.contains(&top) { top } else { "other" };
    metrics::REJECTIONS.with_label_values(&[label]).inc();
    metrics::EVENTS.with_label_values(&["rejected"]).inc();
}

/// Writes `records`, leaving out those whose `messageId` was written within the dedup window
/// (or earlier in this same call), and returns once the log has them durably: for each record,
/// whether it was written (`false`: a duplicate).
pub(crate) async fn append(
    state: &AppState,
    mut records: Vec<LogRecord>,
) -> Result<Vec<bool>, IngestError> {
    let mut keys: Vec<u64> = records
        .iter()
        .map(|r| {
            let id = r.event.message_id.as_deref().unwrap_or("");
            state.dedup.key(&r.workspace, id)
        })
        .collect();
    let seen = state.dedup.seen(&keys);
    let mut in_call = crate::dedup::Keys::with_capacity_and_hasher(keys.len(), Default::default());
    let total = records.len();
    let written: Vec<bool> = keys
        .iter()
        .zip(seen)
        .map(|(&key, seen)| in_call.insert(key) && !seen)
        .collect();
    // Filtered in place: a record is large, and usually every one is new.
    let mut new = written.iter();
    records.retain(|_| new.next().copied().unwrap_or(false));
    let mut new = written.iter();
    keys.retain(|_| new.next().copied().unwrap_or(false));
    if records.len() < total {
        metrics::EVENTS
            .with_label_values(&["duplicate"])
            .inc_by((total - records.len()) as u64);
    }
    if records.is_empty() {
        return Ok(written);
    }
    let n = records.len() as u64;
    let messages = records
        .iter()
        .map(|r| LogMessage {
            key: r.key(),
            payload: r.encode(),
        })
        .collect();
    // Freed before the wait for the log, on this thread: see `free_before_waiting`.
    free_before_waiting(records);
    let started = Instant::now();
    let result = state.log.append(messages).await;
    let outcome = if result.is_ok() { "ok" } else { "error" };
    metrics::APPEND_SECONDS
        .with_label_values(&[outcome])
        .observe(started.elapsed().as_secs_f64());
    result?;
    state.dedup.remember(keys);
    metrics::EVENTS.with_label_values(&["accepted"]).inc_by(n);
    Ok(written)
}

/// Drops what a request allocated before it waits for the log. The task may resume on another
/// worker thread after that wait, and a block freed by a thread other than the one that allocated
/// it goes through the allocator's cross-thread free list: an atomic push onto the owner's page,
/// whose cache line then moves between cores, and a collection pass on the owner. `perf` of the
/// collector at 256 connections had the allocator's fast path stalled on that line (~3 µs per
/// single-event request, against ~0.5 µs for an endpoint that only appends the body).
pub(crate) fn free_before_waiting<T>(what: T) {
    drop(what);
}

/// The answer to a batch of `total` events of which `accepted` were written.
pub(crate) fn batch_response(accepted: usize, rejected: Vec<Rejected>, total: usize) -> Response {
    if rejected.is_empty() {
        let body = BatchResponse {
            success: true,
            accepted,
            rejected,
            error: None,
            code: None,
            message: None,
        };
        return (StatusCode::OK, Json(body)).into_response();
    }
    let first = &rejected[0];
    let message = format!(
        "{} of {total} events were rejected (first: {}: {}); the other {accepted} were accepted",
        rejected.len(),
        first.field,
        first.message,
    );
    let status = if accepted > 0 {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let error = ErrorDetail {
        code: "invalid_events",
        message: message.clone(),
        field: rejected.first().map(|r| r.field.clone()),
    };
    let body = BatchResponse {
        success: accepted > 0,
        accepted,
        rejected,
        error: Some(error),
        code: Some("invalid_events"),
        message: Some(message),
    };
    (status, Json(body)).into_response()
}

/// The refused events of a many-event request: each counted, kept among the failed events, and
/// listed by index (`batch[3].userId`) for the answer.
pub(crate) struct Refusals<'a> {
    facts: &'a RequestFacts,
    endpoint: &'a str,
    rejected: Vec<Rejected>,
    failed: Vec<leadstream_schemas::FailedEvent>,
}

impl<'a> Refusals<'a> {
    pub(crate) fn new(facts: &'a RequestFacts, endpoint: &'a str) -> Refusals<'a> {
        Refusals {
            facts,
            endpoint,
            rejected: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Event `index` of the request, refused with `r`; `payload` is what is kept of it.
    pub(crate) fn refuse(&mut self, index: usize, r: Rejection, payload: &str) {
        count_rejection(&r);
        let refusal = crate::failed::Refusal {
            endpoint: self.endpoint,
            code: crate::failed::code_of(&r),
            field: Some(r.field.clone()),
            problem: r.problem.clone(),
        };
        self.failed
            .push(crate::failed::failed_event(self.facts, refusal, payload));
        let field = if r.field.is_empty() {
            format!("batch[{index}]")
        } else {
            format!("batch[{index}].{}", r.field)
        };
        self.rejected.push(Rejected {
            index,
            field,
            message: r.problem,
        });
    }

    /// Keeps the refused events (before the request is answered); the list for the answer.
    pub(crate) async fn keep(self, state: &AppState) -> Vec<Rejected> {
        crate::failed::keep(state, self.failed).await;
        self.rejected
    }
}

/// Counts and keeps the refused event of a one-event request, and the error to answer with.
pub(crate) async fn refuse_one(
    state: &AppState,
    facts: &RequestFacts,
    path: &str,
    r: Rejection,
    payload: &str,
) -> IngestError {
    count_rejection(&r);
    crate::failed::keep_rejection(state, facts, path, &r, payload).await;
    invalid_body(r)
}

/// Keeps a body refused as a whole (not JSON, not an object, no events) when the request's write
/// key (from its `Authorization` header: the body could not be read) names a workspace. Returns
/// `e` to answer with.
pub(crate) async fn keep_body(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    path: &str,
    text: &str,
    e: IngestError,
) -> IngestError {
    if let Some(key) = auth::basic_user(headers)
        && let Some((workspace, public)) = state.registry.write_key(&key)
    {
        let mut facts = facts_for_workspace(state, headers, peer, workspace.to_string(), None);
        facts.public_key = public;
        keep_error(state, &facts, path, &e, text).await;
    }
    e
}

/// Keeps a request's body refused with `e`.
pub(crate) async fn keep_error(
    state: &AppState,
    facts: &RequestFacts,
    path: &str,
    e: &IngestError,
    text: &str,
) {
    let (code, field) = match e {
        IngestError::MalformedJson(_) => ("malformed_json", Some("body".to_string())),
        IngestError::InvalidField { field, .. } => ("invalid_field", Some(field.clone())),
        _ => ("invalid", None),
    };
    let problem = match e {
        IngestError::InvalidField { problem, .. } => problem.clone(),
        other => other.to_string(),
    };
    let refusal = crate::failed::Refusal {
        endpoint: path,
        code,
        field,
        problem,
    };
    crate::failed::keep(
        state,
        vec![crate::failed::failed_event(facts, refusal, text)],
    )
    .await;
}
