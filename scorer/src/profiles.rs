//! The in-memory profile book: one [`Profile`] per (workspace, person), in a dashmap so that the
//! pipeline writes and readers (metrics, later the hand-off) read without a global lock.
//!
//! Identity, first cut: a person is their `userId` when the event has one, else their
//! `anonymousId`. (Merging an anonymous history into the identified person comes with identity
//! resolution.)

use std::collections::HashSet;

use dashmap::DashMap;
use leadstream_schemas::{EventKind, EventType, LogRecord, Profile};

use crate::scoring::Scoring;

pub type ProfileKey = (String, String);

#[derive(Default)]
pub struct ProfileBook {
    profiles: DashMap<ProfileKey, Profile>,
}

impl ProfileBook {
    pub fn new() -> ProfileBook {
        ProfileBook::default()
    }

    /// Loads stored profiles (after a restart).
    pub fn load(&self, profiles: Vec<Profile>) {
        for p in profiles {
            self.profiles
                .insert((p.workspace.clone(), p.profile_id.clone()), p);
        }
    }

    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    pub fn get(&self, workspace: &str, profile_id: &str) -> Option<Profile> {
        self.profiles
            .get(&(workspace.to_string(), profile_id.to_string()))
            .map(|p| p.clone())
    }

    /// Applies one event; returns the profile key it changed, or `None` for an event with no
    /// person (the collector refuses those, so only a foreign writer can produce one).
    pub fn apply(&self, record: &LogRecord, scoring: &Scoring, now_ms: i64) -> Option<ProfileKey> {
        let event = &record.event;
        let person = event.person_id()?.to_string();
        let key = (record.workspace.clone(), person.clone());
        let kind = EventKind::classify(event);
        let at = event
            .event_time()
            .map(|t| t.timestamp_millis())
            .unwrap_or(now_ms);

        let mut entry = self
            .profiles
            .entry(key.clone())
            .or_insert_with(|| Profile::new(&record.workspace, person));
        let p = entry.value_mut();
        p.first_seen_ms = if p.event_count == 0 {
            at
        } else {
            p.first_seen_ms.min(at)
        };
        p.last_seen_ms = p.last_seen_ms.max(at);
        p.event_count += 1;
        *p.counts.entry(kind.key().to_string()).or_insert(0) += 1;
        if event.event_type == EventType::Identify {
            for (k, v) in &event.traits {
                p.traits.insert(k.clone(), v.clone());
            }
        }
        p.score += scoring.points(kind);
        p.lifecycle_stage = scoring.stage_after(p.lifecycle_stage, p.score, kind);
        // Monotonic across restarts: never below the wall clock in microseconds.
        p.version = (p.version + 1).max(now_ms.max(0) as u64 * 1000);
        p.updated_at_ms = now_ms;
        Some(key)
    }

    /// Current versions of the given profiles.
    pub fn snapshot(&self, keys: &HashSet<ProfileKey>) -> Vec<Profile> {
        keys.iter()
            .filter_map(|k| self.profiles.get(k).map(|p| p.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadstream_schemas::{Event, LifecycleStage};
    use serde_json::json;

    fn record(v: serde_json::Value) -> LogRecord {
        let e: Event = serde_json::from_value(v).expect("event");
        LogRecord::new("w", e)
    }

    #[test]
    fn counts_traits_score_and_stage() {
        let book = ProfileBook::new();
        let scoring = Scoring::new(15.0);
        let events = [
            json!({"type": "page", "userId": "u", "timestamp": "2026-01-02T00:00:00Z"}),
            json!({"type": "identify", "userId": "u", "traits": {"email": "u@x.io", "plan": "free"}, "timestamp": "2026-01-01T00:00:00Z"}),
            json!({"type": "identify", "userId": "u", "traits": {"plan": "pro"}}),
            json!({"type": "track", "userId": "u", "event": "Form Submitted", "properties": {"form_id": "f"}}),
            json!({"type": "track", "userId": "u", "event": "File Downloaded", "properties": {"file_name": "a.pdf"}}),
            json!({"type": "track", "anonymousId": "someone-else", "event": "Page Viewed"}),
        ];
        for e in events {
            book.apply(&record(e), &scoring, 1_800_000_000_000);
        }
        let p = book.get("w", "u").expect("profile");
        assert_eq!(p.event_count, 5);
        assert_eq!(p.counts["page_viewed"], 1);
        assert_eq!(p.counts["identify"], 2);
        assert_eq!(p.counts["form_submitted"], 1);
        assert_eq!(p.traits["plan"], "pro");
        assert_eq!(p.traits["email"], "u@x.io");
        assert_eq!(p.score, 16.0);
        assert_eq!(p.lifecycle_stage, LifecycleStage::Mql);
        assert_eq!(p.first_seen_ms, 1_767_225_600_000);
        assert!(book.get("w", "someone-else").is_some());
        assert_eq!(book.len(), 2);
    }
}
