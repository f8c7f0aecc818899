//! The inbound event in the shape of Segment's HTTP tracking API
//! (<https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/>).
//!
//! Unknown keys are kept (`extra`) rather than refused, because Segment and RudderStack SDKs send
//! more than any one collector reads; the typed fields are the ones leadstream relies on.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The Segment call types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Track,
    Identify,
    Page,
    Screen,
    Group,
    Alias,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::Track,
        EventType::Identify,
        EventType::Page,
        EventType::Screen,
        EventType::Group,
        EventType::Alias,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Track => "track",
            EventType::Identify => "identify",
            EventType::Page => "page",
            EventType::Screen => "screen",
            EventType::Group => "group",
            EventType::Alias => "alias",
        }
    }
}

/// `context.page`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Page {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
}

/// `context.campaign`: the UTM parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Campaign {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// `context`: where the event came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Context {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<Page>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<Campaign>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// `web`, `email`, `sms`, `server`, `mobile`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Everything else an SDK sends (library, os, device, …), kept as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One event, as a Segment-compatible client sends it and as the collector enriches it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Unique per event; the collector generates one when missing and deduplicates on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// At least one of `anonymousId` and `userId` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The event name of a `track` call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The page or screen name of a `page` / `screen` call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The account of a `group` call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The id being aliased in an `alias` call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_id: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub traits: Map<String, Value>,
    #[serde(default)]
    pub context: Context,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub integrations: Map<String, Value>,
    /// When the event happened; the collector corrects it for client clock skew.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::opt"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub timestamp: Option<DateTime<Utc>>,
    /// The client's own clock at the time of the event.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::opt"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub original_timestamp: Option<DateTime<Utc>>,
    /// The client's clock when it sent the batch.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::opt"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub sent_at: Option<DateTime<Utc>>,
    /// Set by the collector; a client's value is overwritten.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::opt"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub received_at: Option<DateTime<Utc>>,
    /// Set by the collector from the write key; a client's value is overwritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// What the collector concluded about the event; a client's value is overwritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<Enrichment>,
}

/// What the collector concluded about an event. Never taken from the client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Enrichment {
    /// The user agent looks machine-made (crawler, monitor, headless browser, scanner).
    #[serde(default)]
    pub bot: bool,
    /// The corrected `timestamp` lies beyond the collector's clock plus its tolerance.
    #[serde(default)]
    pub future_timestamp: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<UserAgentInfo>,
    /// The properties the event's kind (or the workspace's tracking plan) expects that it lacks
    /// or carries in the wrong shape. The event is kept all the same; rules and reports treat a
    /// missed property as absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expectation_misses: Vec<ExpectationMiss>,
    /// The currency of a purchase or refund: its own valid `currency`, else the workspace's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The traits are what a visitor typed (an unauthenticated form post): they fill traits the
    /// person does not have yet and never overwrite one already set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub submitted_traits: bool,
}

/// One expectation an event did not meet: the field (`properties.form_id`) and the problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ExpectationMiss {
    pub field: String,
    pub problem: String,
}

impl ExpectationMiss {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ExpectationMiss {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// The parsed user agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserAgentInfo {
    /// Browser or client name (`Chrome`, `Safari`, `Googlebot`, …).
    pub name: String,
    pub version: String,
    pub os: String,
    /// `pc`, `smartphone`, `mobilephone`, `appliance`, `crawler` or `misc`.
    pub category: String,
}

impl Event {
    /// The id that stands for the person: `userId` when known, otherwise `anonymousId`.
    pub fn person_id(&self) -> Option<&str> {
        non_empty(self.user_id.as_deref()).or(non_empty(self.anonymous_id.as_deref()))
    }

    /// The event time: `timestamp`, else `originalTimestamp`, else `receivedAt`.
    pub fn event_time(&self) -> Option<DateTime<Utc>> {
        self.timestamp
            .or(self.original_timestamp)
            .or(self.received_at)
    }
}

pub(crate) fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

/// `POST /v1/batch`: Segment's batch envelope.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    /// The events; each is validated on its own, so one bad event does not drop the others.
    pub batch: Vec<Event>,
    /// Merged into every event's `context` (the event's own keys win).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Map<String, Value>>,
    /// Merged into every event's `integrations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrations: Option<Map<String, Value>>,
    /// The write key, when not sent as HTTP Basic auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_key: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::opt"
    )]
    #[schemars(with = "Option<DateTime<Utc>>")]
    pub sent_at: Option<DateTime<Utc>>,
}
