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

// Read by hand (`ContextVisitor`) rather than derived: with `#[serde(flatten)]` the derived reader
// buffers every key and value of the object, then reads each again from that buffer into the
// typed fields or `extra` (the scorer's decode of a record: -5.6 %, benches/RESULTS.md).
/// `context`: where the event came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
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

impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Context, D::Error> {
        deserializer.deserialize_map(ContextVisitor)
    }
}

/// A key of `context`: one of the typed fields, or one kept in `extra`.
enum ContextKey {
    Ip,
    UserAgent,
    Page,
    Campaign,
    Locale,
    Channel,
    Other(String),
}

impl ContextKey {
    fn known(name: &str) -> Option<ContextKey> {
        Some(match name {
            "ip" => ContextKey::Ip,
            "userAgent" => ContextKey::UserAgent,
            "page" => ContextKey::Page,
            "campaign" => ContextKey::Campaign,
            "locale" => ContextKey::Locale,
            "channel" => ContextKey::Channel,
            _ => return None,
        })
    }
}

impl<'de> Deserialize<'de> for ContextKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ContextKey, D::Error> {
        struct KeyVisitor;
        impl serde::de::Visitor<'_> for KeyVisitor {
            type Value = ContextKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key of context")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<ContextKey, E> {
                Ok(ContextKey::known(name).unwrap_or_else(|| ContextKey::Other(name.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, name: String) -> Result<ContextKey, E> {
                Ok(ContextKey::known(&name).unwrap_or(ContextKey::Other(name)))
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// Reads `context` in one pass: the typed fields as they come, every other key into `extra`.
/// Refuses a typed field given twice, as the derived reader does.
struct ContextVisitor;

impl<'de> serde::de::Visitor<'de> for ContextVisitor {
    type Value = Context;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("struct Context")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Context, A::Error> {
        fn once<'de, T: Deserialize<'de>, A: serde::de::MapAccess<'de>>(
            map: &mut A,
            slot: &mut Option<T>,
            seen: &mut bool,
            name: &'static str,
        ) -> Result<(), A::Error> {
            if std::mem::replace(seen, true) {
                return Err(serde::de::Error::duplicate_field(name));
            }
            *slot = map.next_value()?;
            Ok(())
        }
        let mut context = Context::default();
        let mut seen = [false; 6];
        while let Some(key) = map.next_key::<ContextKey>()? {
            match key {
                ContextKey::Ip => once(&mut map, &mut context.ip, &mut seen[0], "ip")?,
                ContextKey::UserAgent => {
                    once(&mut map, &mut context.user_agent, &mut seen[1], "userAgent")?
                }
                ContextKey::Page => once(&mut map, &mut context.page, &mut seen[2], "page")?,
                ContextKey::Campaign => {
                    once(&mut map, &mut context.campaign, &mut seen[3], "campaign")?
                }
                ContextKey::Locale => once(&mut map, &mut context.locale, &mut seen[4], "locale")?,
                ContextKey::Channel => {
                    once(&mut map, &mut context.channel, &mut seen[5], "channel")?
                }
                ContextKey::Other(name) => {
                    let value: Value = map.next_value()?;
                    context.extra.insert(name, value);
                }
            }
        }
        Ok(context)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_reads_its_fields_and_keeps_the_rest() {
        let text = r#"{"library":{"name":"analytics.js","version":"npm:next-1.70.0"},
            "ip":"203.0.113.9","userAgent":"Mozilla/5.0","locale":"en-US",
            "page":{"url":"https://acme.io/pricing?utm_source=x","path":"/pricing","title":null},
            "campaign":{"source":"news"},"channel":"web","timezone":"Europe/Berlin",
            "screen":{"width":1920,"height":1080}}"#;
        let context: Context = serde_json::from_str(text).expect("ok");
        assert_eq!(context.ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(context.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(context.locale.as_deref(), Some("en-US"));
        assert_eq!(context.channel.as_deref(), Some("web"));
        let page = context.page.as_ref().expect("ok");
        assert_eq!(page.path.as_deref(), Some("/pricing"));
        assert_eq!(page.title, None);
        assert_eq!(
            context.campaign.as_ref().expect("ok").source.as_deref(),
            Some("news")
        );
        let mut kept: Vec<&str> = context.extra.keys().map(String::as_str).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["library", "screen", "timezone"]);
        assert_eq!(context.extra["screen"]["width"], 1920);
        // Written and read again: the same context, from text or from a `Value`.
        let again: Context =
            serde_json::from_slice(&serde_json::to_vec(&context).expect("ok")).expect("ok");
        assert_eq!(again, context);
        let value = serde_json::to_value(&context).expect("ok");
        assert_eq!(
            serde_json::from_value::<Context>(value).expect("ok"),
            context
        );
        // Nulls are absent; an empty context is the default.
        let nulls: Context = serde_json::from_str(r#"{"ip":null,"page":null}"#).expect("ok");
        assert_eq!(nulls, Context::default());
    }

    #[test]
    fn context_refuses_a_typed_field_twice_or_in_the_wrong_shape_and_names_it() {
        let twice = serde_json::from_str::<Context>(r#"{"ip":"1.2.3.4","ip":"5.6.7.8"}"#);
        assert!(
            twice
                .expect_err("refused")
                .to_string()
                .contains("duplicate field `ip`")
        );
        let text = r#"{"context":{"library":{},"page":5}}"#;
        #[derive(Debug, Deserialize)]
        struct Outer {
            #[allow(dead_code)]
            context: Context,
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let err = serde_path_to_error::deserialize::<_, Outer>(de).expect_err("refused");
        assert_eq!(err.path().to_string(), "context.page");
        assert!(
            err.inner().to_string().contains("expected struct Page"),
            "{err}"
        );
        assert!(serde_json::from_str::<Context>("[1]").is_err());
    }
}
