//! Failed events and expectation misses, for whoever runs the tracking:
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/failed-events?code=&event=&from=&to=&pending=&limit=` | what the collector refused, newest first: reason, endpoint, time, raw payload, replay state |
//! | `POST /v1/failed-events/replay` | re-submits a selection (`ids`, `code`, `event`, `from_ms`, `to_ms`) through intake, as it is now (read-write token) |
//! | `GET /v1/expectation-misses?from=&to=&event=` | accepted events that missed what their kind or the tracking plan expects, per event name and property |
//!
//! A replay keeps each event's `messageId`, receive time and request facts, so the usual dedup
//! writes an event once however often it is replayed; by default only events not yet replayed
//! with success are taken.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use chrono::{DateTime, Utc};
use leadstream_schemas::{Enrichment, FailedEvent, FailedFilter, ReplayOutcome};
use serde::{Deserialize, Serialize};

use crate::auth::{Workspace, Writer};
use crate::error::QueryError;
use crate::extract::Params;
use crate::router::AppState;

const MAX_LIMIT: usize = 1000;
/// Most events one replay re-submits.
const MAX_REPLAY: usize = 10_000;
/// Most events one expectation report reads.
const MAX_REPORT_EVENTS: usize = 200_000;

fn time(field: &str, value: Option<&str>) -> Result<Option<i64>, QueryError> {
    value
        .map(|v| {
            v.parse::<DateTime<Utc>>()
                .map(|t| t.timestamp_millis())
                .map_err(|e| QueryError::InvalidField {
                    field: field.into(),
                    problem: format!("must be an RFC 3339 date-time: {e}"),
                })
        })
        .transpose()
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The refusal's code (`invalid_field`, `malformed_json`, `tracking_plan`, …).
    #[serde(default)]
    pub code: Option<String>,
    /// The event name.
    #[serde(default)]
    pub event: Option<String>,
    /// Received at or after (RFC 3339).
    #[serde(default)]
    pub from: Option<String>,
    /// Received before (RFC 3339).
    #[serde(default)]
    pub to: Option<String>,
    /// Only those not replayed with success yet.
    #[serde(default)]
    pub pending: Option<bool>,
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct FailedList {
    pub count: usize,
    pub failed_events: Vec<FailedEvent>,
}

pub async fn list(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Params(q): Params<ListQuery>,
) -> Result<Json<FailedList>, QueryError> {
    let limit = crate::extract::limit(q.limit, 100, MAX_LIMIT)?;
    let filter = FailedFilter {
        ids: Vec::new(),
        code: q.code,
        event: q.event,
        from_ms: time("from", q.from.as_deref())?,
        to_ms: time("to", q.to.as_deref())?,
        pending_only: q.pending.unwrap_or(false),
    };
    let failed_events = state.failed.list(&workspace, &filter, limit).await?;
    Ok(Json(FailedList {
        count: failed_events.len(),
        failed_events,
    }))
}

/// A replay's selection: the filter (at least one of its fields), and whether events already
/// replayed with success are taken again (`false` by default).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// These failed events.
    #[serde(default)]
    pub ids: Vec<String>,
    /// The refusal's code.
    #[serde(default)]
    pub code: Option<String>,
    /// The event name.
    #[serde(default)]
    pub event: Option<String>,
    /// Received at or after (ms since the epoch).
    #[serde(default)]
    pub from_ms: Option<i64>,
    /// Received before (ms since the epoch).
    #[serde(default)]
    pub to_ms: Option<i64>,
    #[serde(default)]
    pub include_replayed: bool,
    /// At most this many (default and maximum 10,000), oldest first.
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ReplayReport {
    pub selected: usize,
    pub accepted: usize,
    pub duplicate: usize,
    pub refused: usize,
    pub outcomes: Vec<ReplayOutcome>,
}

pub async fn replay(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    body: Bytes,
) -> Result<Json<ReplayReport>, QueryError> {
    let request: ReplayRequest = crate::extract::parse(&body)?;
    let filter = FailedFilter {
        ids: request.ids,
        code: request.code,
        event: request.event,
        from_ms: request.from_ms,
        to_ms: request.to_ms,
        pending_only: !request.include_replayed,
    };
    if filter
        == (FailedFilter {
            pending_only: filter.pending_only,
            ..FailedFilter::default()
        })
    {
        return Err(QueryError::InvalidField {
            field: "body".into(),
            problem: "name what to replay: `ids`, `code`, `event`, `from_ms` or `to_ms`".into(),
        });
    }
    let limit = crate::extract::limit(request.limit, MAX_REPLAY, MAX_REPLAY)?;
    let mut selected = state.failed.list(&workspace, &filter, limit).await?;
    // Oldest first, as they arrived.
    selected.reverse();
    let outcomes = leadstream_ingest::failed::replay(&state.intake, &workspace, &selected)
        .await
        .map_err(|e| QueryError::LogUnavailable(e.to_string()))?;
    let now = Utc::now().timestamp_millis();
    for (event, outcome) in selected.iter_mut().zip(&outcomes) {
        event.replayed_at_ms = Some(now);
        event.replay_outcome = Some(outcome.summary());
    }
    state.failed.put(&selected).await?;
    let count = |o: &str| outcomes.iter().filter(|x| x.outcome == o).count();
    tracing::info!(
        workspace,
        selected = selected.len(),
        "failed events replayed"
    );
    Ok(Json(ReplayReport {
        selected: selected.len(),
        accepted: count("accepted"),
        duplicate: count("duplicate"),
        refused: count("refused"),
        outcomes,
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MissesQuery {
    /// Events received at or after (RFC 3339; default: 7 days ago).
    #[serde(default)]
    pub from: Option<String>,
    /// Events received before (RFC 3339; default: now).
    #[serde(default)]
    pub to: Option<String>,
    /// One event name only.
    #[serde(default)]
    pub event: Option<String>,
}

/// One (event, property, problem) and how often it happened.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MissCount {
    pub event: String,
    pub field: String,
    pub problem: String,
    pub count: u64,
    /// The newest event time it was seen at (ms since the epoch).
    pub last_seen_ms: i64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MissReport {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Events read, and those of them that missed something.
    pub events: usize,
    pub events_with_misses: usize,
    /// More events than one report reads were in the period: narrow it.
    pub truncated: bool,
    pub misses: Vec<MissCount>,
}

pub async fn misses(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Params(q): Params<MissesQuery>,
) -> Result<Json<MissReport>, QueryError> {
    let now = Utc::now().timestamp_millis();
    let to_ms = time("to", q.to.as_deref())?.unwrap_or(now + 1);
    let from_ms = time("from", q.from.as_deref())?.unwrap_or(to_ms - 7 * 86_400_000);
    if from_ms >= to_ms {
        return Err(QueryError::InvalidField {
            field: "from".into(),
            problem: "must be before `to`".into(),
        });
    }
    let rows = state
        .store
        .events(&workspace, from_ms, to_ms, MAX_REPORT_EVENTS + 1)
        .await?;
    let truncated = rows.len() > MAX_REPORT_EVENTS;
    let mut by: BTreeMap<(String, String, String), (u64, i64)> = BTreeMap::new();
    let mut with_misses = std::collections::HashSet::new();
    for row in rows.iter().take(MAX_REPORT_EVENTS) {
        if q.event.as_ref().is_some_and(|e| *e != row.event)
            || !row.enrichment.contains("expectation_misses")
        {
            continue;
        }
        let Ok(enrichment) = serde_json::from_str::<Enrichment>(&row.enrichment) else {
            continue;
        };
        for miss in enrichment.expectation_misses {
            with_misses.insert(row.message_id.as_str());
            let entry = by
                .entry((row.event.clone(), miss.field, miss.problem))
                .or_insert((0, i64::MIN));
            entry.0 += 1;
            entry.1 = entry.1.max(row.timestamp_ms);
        }
    }
    let mut misses: Vec<MissCount> = by
        .into_iter()
        .map(|((event, field, problem), (count, last))| MissCount {
            event,
            field,
            problem,
            count,
            last_seen_ms: last,
        })
        .collect();
    misses.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.event.cmp(&b.event)));
    Ok(Json(MissReport {
        from_ms,
        to_ms,
        events: rows.len().min(MAX_REPORT_EVENTS),
        events_with_misses: with_misses.len(),
        truncated,
        misses,
    }))
}
