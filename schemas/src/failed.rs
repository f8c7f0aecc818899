//! Failed events: what the collector refused (past authentication and rate limits), kept with the
//! reason, the endpoint, the time and the raw payload, so that an operator can see it and replay
//! it once the client or the tracking plan is fixed (Snowplow calls these "failed events").

use serde::{Deserialize, Serialize};

/// One refused event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FailedEvent {
    /// Unique, time-ordered (UUID v7).
    pub id: String,
    pub workspace: String,
    /// When the collector received it (ms since the Unix epoch).
    pub received_at_ms: i64,
    /// The route it came in on: `/v1/batch`, `/v1/track`, `/e`, …
    pub endpoint: String,
    /// Why, machine-readable: `invalid_field`, `malformed_json`, `tracking_plan`, …
    pub code: String,
    /// The field at fault, a path inside the event (`properties.currency`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub problem: String,
    /// The event's `event` (or page/screen `name`) when the payload says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    /// The client's `messageId`, or the one the collector gave the event: a replay keeps it, so
    /// replaying twice writes the event once.
    pub message_id: String,
    /// The request's `sentAt` (RFC 3339), for the clock-skew correction on replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// The request's write key was a public one (web pages): a replay refuses what such a key may
    /// not send, as the first try did.
    #[serde(default)]
    pub public_key: bool,
    /// The request's client address and `User-Agent`, which enrichment reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The event as the client sent it (JSON text; with a batch's shared `context` merged in), or
    /// the whole body when it was not JSON.
    pub payload: String,
    /// When it was last replayed, and how that went (`accepted`, `duplicate`, or the new refusal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_outcome: Option<String>,
}

impl FailedEvent {
    /// The record's bytes on a log.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<FailedEvent, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Which failed events a listing or a replay means. Every field narrows; none: all of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailedFilter {
    /// These ids only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// The refusal's `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The event name (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Received at or after (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ms: Option<i64>,
    /// Received before (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_ms: Option<i64>,
    /// Leave out those already replayed with success (`accepted` or `duplicate`).
    #[serde(default)]
    pub pending_only: bool,
}

impl FailedFilter {
    pub fn matches(&self, e: &FailedEvent) -> bool {
        (self.ids.is_empty() || self.ids.contains(&e.id))
            && self.code.as_ref().is_none_or(|c| *c == e.code)
            && self
                .event
                .as_ref()
                .is_none_or(|n| e.event_name.as_deref() == Some(n.as_str()))
            && self.from_ms.is_none_or(|t| e.received_at_ms >= t)
            && self.to_ms.is_none_or(|t| e.received_at_ms < t)
            && !(self.pending_only && e.replayed_ok())
    }
}

impl FailedEvent {
    /// Replayed, and the collector took it (written, or already there).
    pub fn replayed_ok(&self) -> bool {
        matches!(
            self.replay_outcome.as_deref(),
            Some("accepted" | "duplicate")
        )
    }
}

/// What replaying one failed event did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReplayOutcome {
    pub id: String,
    /// `accepted`, `duplicate` (its `messageId` was written already), or `refused`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl ReplayOutcome {
    /// The text kept on the failed event.
    pub fn summary(&self) -> String {
        match (&self.field, &self.problem) {
            (Some(f), Some(p)) => format!("{}: {f}: {p}", self.outcome),
            (None, Some(p)) => format!("{}: {p}", self.outcome),
            _ => self.outcome.clone(),
        }
    }
}
