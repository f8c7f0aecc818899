//! The message written to the log (a Kafka topic or the embedded log).
//!
//! JSON, one record per message, with `v` the schema version. Readers accept every version up to
//! their own [`SCHEMA_VERSION`] and refuse newer ones (they go to the dead-letter path), so old and
//! new readers can share a topic during a rolling upgrade: a writer bumps `v` only for a change an
//! old reader would misread, and adds optional fields without a bump.
//!
//! The message key is `"{workspace}/{person}"` with the person the `userId` when present,
//! otherwise the `anonymousId`: the profile the event counts toward, so that one person's profile
//! is kept by exactly one scorer instance (the owner of its partition). Merging an anonymous
//! profile into a known one goes through the log as [`crate::ControlRecord`]s (see the README's
//! identity section).
//!
//! The same topic also carries the scorer's control records; [`Decoded::decode`] tells them apart
//! (a control record has `control`, an event record has `event`).

use serde::{Deserialize, Serialize};

use crate::event::{Event, non_empty};

/// The newest record version this build writes and reads.
pub const SCHEMA_VERSION: u16 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Schema version of this record.
    pub v: u16,
    pub workspace: String,
    /// The enriched event (`messageId`, `receivedAt`, `timestamp` and `workspace` are set).
    pub event: Event,
}

/// Why a log message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record is not valid JSON for schema version {SCHEMA_VERSION}: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("record has schema version {0}, newer than this reader's {SCHEMA_VERSION}")]
    TooNew(u16),
}

impl LogRecord {
    pub fn new(workspace: impl Into<String>, event: Event) -> Self {
        LogRecord {
            v: SCHEMA_VERSION,
            workspace: workspace.into(),
            event,
        }
    }

    /// The partitioning key: `"{workspace}/{userId or anonymousId}"`.
    pub fn key(&self) -> String {
        let person = non_empty(self.event.user_id.as_deref())
            .or(non_empty(self.event.anonymous_id.as_deref()))
            .unwrap_or("");
        format!("{}/{}", self.workspace, person)
    }

    pub fn encode(&self) -> Vec<u8> {
        // A typical record is 0.5–1 KB: one allocation instead of growing from 128 bytes.
        let mut out = Vec::with_capacity(1024);
        // Serializing plain data structs with string keys into memory cannot fail.
        let _ = serde_json::to_writer(&mut out, self);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<LogRecord, DecodeError> {
        match serde_json::from_slice::<LogRecord>(bytes) {
            Ok(record) if record.v > SCHEMA_VERSION => Err(DecodeError::TooNew(record.v)),
            Ok(record) => Ok(record),
            Err(e) => Err(too_new(bytes).unwrap_or(DecodeError::Malformed(e))),
        }
    }
}

/// A record this reader could not read may be one from a newer writer: say so rather than
/// "malformed".
fn too_new(bytes: &[u8]) -> Option<DecodeError> {
    #[derive(Deserialize)]
    struct Version {
        v: u16,
    }
    let Version { v } = serde_json::from_slice(bytes).ok()?;
    (v > SCHEMA_VERSION).then_some(DecodeError::TooNew(v))
}

/// One message of the events log: an event, or a control record of the scorer.
// Short-lived, and events are the common case: not boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    Event(LogRecord),
    Control(crate::ControlRecord),
}

impl Decoded {
    /// One pass over the bytes: an event record has `event`, a control record `id` and
    /// `control`.
    pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
        #[derive(Deserialize)]
        struct Either {
            v: u16,
            workspace: String,
            #[serde(default)]
            event: Option<Event>,
            #[serde(default)]
            id: Option<String>,
            #[serde(default)]
            control: Option<crate::Control>,
        }
        let either: Either = match serde_json::from_slice(bytes) {
            Ok(either) => either,
            Err(e) => return Err(too_new(bytes).unwrap_or(DecodeError::Malformed(e))),
        };
        let Either {
            v,
            workspace,
            event,
            id,
            control,
        } = either;
        if v > SCHEMA_VERSION {
            return Err(DecodeError::TooNew(v));
        }
        match (control, id, event) {
            (Some(control), Some(id), _) => Ok(Decoded::Control(crate::ControlRecord {
                v,
                workspace,
                id,
                control,
            })),
            (None, _, Some(event)) => Ok(Decoded::Event(LogRecord {
                v,
                workspace,
                event,
            })),
            (Some(_), None, _) => Err(DecodeError::Malformed(serde::de::Error::missing_field(
                "id",
            ))),
            (None, _, None) => Err(DecodeError::Malformed(serde::de::Error::missing_field(
                "event",
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_and_keys_by_person() {
        let event: Event = serde_json::from_value(
            json!({"type": "identify", "anonymousId": "a1", "userId": "u1"}),
        )
        .expect("event");
        let record = LogRecord::new("acme", event);
        assert_eq!(record.key(), "acme/u1");
        assert_eq!(LogRecord::decode(&record.encode()).expect("decode"), record);
        assert_eq!(
            Decoded::decode(&record.encode()).expect("decode"),
            Decoded::Event(record)
        );
        let control = crate::ControlRecord {
            v: SCHEMA_VERSION,
            workspace: "acme".into(),
            id: crate::ControlRecord::merge_id("a1", "u1"),
            control: crate::Control::MergeRequest {
                from: "a1".into(),
                into: "u1".into(),
                alias: false,
                at_ms: 5,
            },
        };
        assert_eq!(control.key(), "acme/a1");
        assert_eq!(
            Decoded::decode(&control.encode()).expect("decode"),
            Decoded::Control(control)
        );
    }

    #[test]
    fn refuses_newer_versions_and_garbage() {
        let newer = br#"{"v": 99, "workspace": "w", "event": {"type": "track"}}"#;
        assert!(matches!(
            LogRecord::decode(newer),
            Err(DecodeError::TooNew(99))
        ));
        assert!(matches!(
            LogRecord::decode(b"\xff"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Decoded::decode(newer),
            Err(DecodeError::TooNew(99))
        ));
        for garbage in [
            &b"\xff"[..],
            br#"{"v": 1, "workspace": "w"}"#,
            br#"{"v": 1, "workspace": "w", "control": {"op": "merge_request", "from": "a", "into": "b", "alias": false, "at_ms": 1}}"#,
            br#"{"v": 1, "workspace": "w", "event": {"type": "launch"}}"#,
        ] {
            assert!(
                matches!(Decoded::decode(garbage), Err(DecodeError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(garbage)
            );
        }
    }
}
