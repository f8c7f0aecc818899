//! The in-memory profile book: one [`ProfileState`] per (workspace, person) in a dashmap, so the
//! pipeline writes and readers (metrics, what-if, the hand-off) read without a global lock.
//!
//! - [`state`]: what is kept per person, compactly, and the published view of it.
//! - [`engine`]: how one event changes a person's state and scores, explained.
//!
//! Identity, today: a person is their `userId` when the event has one, else their `anonymousId`.

pub mod engine;
pub mod state;

use std::collections::HashSet;
use std::sync::Arc;

use dashmap::DashMap;
use leadstream_schemas::{LogRecord, Profile};

pub use engine::{Applied, ScoreChange, Settings, Skipped};
pub use state::ProfileState;

use crate::model::Model;

/// (workspace, person id). Workspaces are interned: many profiles share one.
pub type ProfileKey = (Arc<str>, Box<str>);

#[derive(Default)]
pub struct ProfileBook {
    profiles: DashMap<ProfileKey, ProfileState>,
    workspaces: DashMap<Box<str>, Arc<str>>,
}

impl ProfileBook {
    pub fn new() -> ProfileBook {
        ProfileBook::default()
    }

    fn workspace(&self, name: &str) -> Arc<str> {
        if let Some(w) = self.workspaces.get(name) {
            return w.clone();
        }
        self.workspaces
            .entry(name.into())
            .or_insert_with(|| Arc::from(name))
            .clone()
    }

    pub fn key(&self, workspace: &str, person: &str) -> ProfileKey {
        (self.workspace(workspace), person.into())
    }

    /// Puts a stored state back (after a restart).
    pub fn insert(&self, workspace: &str, person: &str, state: ProfileState) {
        self.profiles.insert(self.key(workspace, person), state);
    }

    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    pub fn state(&self, workspace: &str, person: &str) -> Option<ProfileState> {
        self.profiles
            .get(&self.key(workspace, person))
            .map(|p| p.clone())
    }

    /// The published profile of one person.
    pub fn get(&self, workspace: &str, person: &str, model: &Model) -> Option<Profile> {
        let now = chrono::Utc::now().timestamp_millis();
        self.profiles
            .get(&self.key(workspace, person))
            .map(|p| p.view(workspace, person, model, now))
    }

    /// Applies one event read at `position`; returns the person's key and what changed, or why
    /// nothing did. `None` for an event with no person (the collector refuses those).
    pub fn apply(
        &self,
        record: &LogRecord,
        position: Option<(i32, i64)>,
        model: &Model,
        settings: &Settings,
        now_ms: i64,
    ) -> Option<(ProfileKey, Result<Applied, Skipped>)> {
        let person = record.event.person_id()?;
        let key = self.key(&record.workspace, person);
        let mut entry = self.profiles.entry(key.clone()).or_default();
        let state = entry.value_mut();
        let outcome = engine::apply(state, &record.event, position, model, settings, now_ms);
        if outcome.is_ok() {
            // Monotonic across restarts: never below the wall clock in microseconds.
            state.version = (state.version + 1).max(now_ms.max(0) as u64 * 1000);
            state.updated_at_ms = now_ms;
        }
        Some((key, outcome))
    }

    /// Current states of the given profiles.
    pub fn snapshot(&self, keys: &HashSet<ProfileKey>) -> Vec<(ProfileKey, ProfileState)> {
        keys.iter()
            .filter_map(|k| self.profiles.get(k).map(|p| (k.clone(), p.clone())))
            .collect()
    }

    /// Calls `f` on every profile (what-if, exports).
    pub fn for_each(&self, mut f: impl FnMut(&ProfileKey, &ProfileState)) {
        for entry in self.profiles.iter() {
            f(entry.key(), entry.value());
        }
    }
}

#[cfg(test)]
mod tests;
