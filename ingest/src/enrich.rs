//! What the collector adds to an event before it goes to the log.
//!
//! - `receivedAt`: the collector's clock.
//! - `messageId`: generated (UUIDv4) when the client sent none.
//! - `timestamp`: corrected for the client's clock skew as Segment does,
//!   `receivedAt − (sentAt − originalTimestamp)`, when the client sent `sentAt`; otherwise the
//!   client's `timestamp` / `originalTimestamp`, otherwise `receivedAt`.
//! - `context.ip` and `context.userAgent` from the connection when the client sent none.
//! - batch-level `context` and `integrations`, merged under the event's own keys.
//! - `workspace`, from the write key (a client's value is overwritten).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use leadstream_schemas::Event;
use serde_json::{Map, Value};

/// What the request says about every event in it.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub workspace: String,
    pub received_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// Batch-level `context` and `integrations`, merged into each event of a batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchDefaults<'a> {
    pub context: Option<&'a Map<String, Value>>,
    pub integrations: Option<&'a Map<String, Value>>,
}

/// Merges batch-level `context` / `integrations` into one raw event (event keys win, nested
/// objects merge key by key).
pub fn merge_batch_defaults(event: &mut Value, defaults: BatchDefaults<'_>) {
    let Some(obj) = event.as_object_mut() else {
        return;
    };
    for (name, defaults) in [
        ("context", defaults.context),
        ("integrations", defaults.integrations),
    ] {
        let Some(defaults) = defaults else { continue };
        let slot = obj.entry(name).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(target) = slot {
            merge_under(target, defaults);
        }
    }
}

fn merge_under(target: &mut Map<String, Value>, defaults: &Map<String, Value>) {
    for (k, v) in defaults {
        match (target.get_mut(k), v) {
            (None, _) => {
                target.insert(k.clone(), v.clone());
            }
            (Some(Value::Object(t)), Value::Object(d)) => merge_under(t, d),
            (Some(_), _) => {}
        }
    }
}

pub fn enrich(event: &mut Event, facts: &RequestFacts) {
    event.workspace = Some(facts.workspace.clone());
    event.received_at = Some(facts.received_at);
    if event
        .message_id
        .as_deref()
        .is_none_or(|m| m.trim().is_empty())
    {
        event.message_id = Some(uuid::Uuid::new_v4().to_string());
    }
    let client_time = event.original_timestamp.or(event.timestamp);
    if event.original_timestamp.is_none() {
        event.original_timestamp = client_time;
    }
    let sent_at = event.sent_at.or(facts.sent_at);
    event.sent_at = sent_at;
    event.timestamp = Some(match (client_time, sent_at) {
        (Some(t), Some(sent)) => facts.received_at - (sent - t),
        (Some(t), None) => t,
        (None, _) => facts.received_at,
    });
    if event.context.ip.is_none() {
        event.context.ip = facts.ip.map(|ip| ip.to_string());
    }
    if event.context.user_agent.is_none() {
        event.context.user_agent = facts.user_agent.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts() -> RequestFacts {
        RequestFacts {
            workspace: "acme".into(),
            received_at: "2026-01-01T12:00:10Z".parse().expect("time"),
            sent_at: None,
            ip: Some("203.0.113.9".parse().expect("ip")),
            user_agent: Some("curl/8".into()),
        }
    }

    fn event(v: Value) -> Event {
        serde_json::from_value(v).expect("event")
    }

    #[test]
    fn skew_is_corrected_from_sent_at() {
        // The client's clock is 1 hour fast: it says it sent at 13:00:05 an event of 13:00:00.
        let mut e = event(json!({"type": "track", "event": "x", "userId": "u",
            "originalTimestamp": "2026-01-01T13:00:00Z", "sentAt": "2026-01-01T13:00:05Z"}));
        enrich(&mut e, &facts());
        assert_eq!(
            e.timestamp,
            Some("2026-01-01T12:00:05Z".parse().expect("time"))
        );
        assert_eq!(
            e.original_timestamp,
            Some("2026-01-01T13:00:00Z".parse().expect("time"))
        );
    }

    #[test]
    fn fills_ids_times_and_connection_facts_but_keeps_client_values() {
        let mut e =
            event(json!({"type": "track", "event": "x", "userId": "u", "workspace": "evil"}));
        enrich(&mut e, &facts());
        assert_eq!(e.workspace.as_deref(), Some("acme"));
        assert!(e.message_id.as_deref().is_some_and(|m| m.len() == 36));
        assert_eq!(e.timestamp, e.received_at);
        assert_eq!(e.context.ip.as_deref(), Some("203.0.113.9"));
        let mut e = event(
            json!({"type": "track", "event": "x", "userId": "u", "messageId": "m1",
            "context": {"ip": "198.51.100.1", "userAgent": "sdk"}}),
        );
        enrich(&mut e, &facts());
        assert_eq!(e.message_id.as_deref(), Some("m1"));
        assert_eq!(e.context.ip.as_deref(), Some("198.51.100.1"));
        assert_eq!(e.context.user_agent.as_deref(), Some("sdk"));
    }

    #[test]
    fn batch_context_merges_under_event_keys() {
        let mut raw =
            json!({"type": "track", "context": {"locale": "de-DE", "library": {"name": "mine"}}});
        let ctx = json!({"locale": "en-US", "channel": "web", "library": {"name": "sdk", "version": "1"}});
        merge_batch_defaults(
            &mut raw,
            BatchDefaults {
                context: ctx.as_object(),
                integrations: None,
            },
        );
        assert_eq!(raw["context"]["locale"], "de-DE");
        assert_eq!(raw["context"]["channel"], "web");
        assert_eq!(
            raw["context"]["library"],
            json!({"name": "mine", "version": "1"})
        );
    }
}
