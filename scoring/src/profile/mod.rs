//! The in-memory profile book: one [`ProfileState`] per (workspace, person) in a dashmap, so the
//! pipeline writes and readers (metrics, what-if, the hand-off) read without a global lock.
//!
//! - [`state`]: what is kept per person, compactly, and the published view of it.
//! - [`engine`]: how one event changes a person's state and scores, explained.
//!
//! Identity: a person is their `userId` when the event has one, else their `anonymousId`; the
//! log is keyed the same way, so each profile has exactly one owner (the scorer instance that
//! owns its partition). An event that carries both ids (an `identify`, or any call after it), or
//! an `alias`, makes the owner of the known person send a merge request keyed by the other id;
//! that id's owner answers with its profile's state keyed by the known person (and from then on
//! forwards the id's events there), and the known person's owner absorbs it. See [`ProfileBook::control`]
//! and the README's identity section.

pub mod engine;
pub mod state;

use std::collections::HashSet;
use std::sync::Arc;

use dashmap::DashMap;
use leadstream_schemas::{
    Control, ControlRecord, EventType, IdentityRules, LogRecord, Profile, SCHEMA_VERSION,
};

pub use engine::{Applied, ScoreChange, Settings, Skipped};
pub use state::ProfileState;

use crate::model::Model;

/// Whose profile: a person id in a workspace. Workspaces are interned: many profiles share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProfileKey {
    pub workspace: Arc<str>,
    pub person: Box<str>,
}

#[derive(Default)]
pub struct ProfileBook {
    /// Boxed: the table's spare slots then cost a pointer, not a whole state.
    profiles: DashMap<ProfileKey, Box<ProfileState>>,
    workspaces: DashMap<Box<str>, Arc<str>>,
    identity: IdentityRules,
    /// Profiles whose stored state could not be read: kept as stored, never overwritten by a
    /// fresh state; their events are parked in the dead-letter log until the state is repaired.
    /// By key, with the log partition the profile is on.
    quarantined: DashMap<ProfileKey, i32>,
}

/// What a control record did.
#[derive(Debug)]
pub enum ControlOutcome {
    /// Already handled (a replay, or a repeat after a crash).
    Skipped,
    /// The merge was refused, and why (the profiles stay apart).
    Refused(&'static str),
    /// Nothing to hand over (the id had no activity); its future events are forwarded.
    Nothing,
    /// Send this record (the state handed over) to the known person's owner.
    Send(ControlRecord),
    /// The handed-over state was absorbed.
    Absorbed(Applied),
}

impl ProfileBook {
    pub fn new() -> ProfileBook {
        ProfileBook::default()
    }

    pub fn with_identity(identity: IdentityRules) -> ProfileBook {
        ProfileBook {
            identity,
            ..ProfileBook::default()
        }
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
        ProfileKey {
            workspace: self.workspace(workspace),
            person: person.into(),
        }
    }

    /// Marks a profile whose stored state is unreadable: nothing is applied to it (see
    /// [`Self::is_quarantined`]).
    pub fn quarantine(&self, workspace: &str, person: &str, partition: i32) {
        self.quarantined
            .insert(self.key(workspace, person), partition);
    }

    /// Whether `person`'s stored state is unreadable, so its events must not be applied.
    pub fn is_quarantined(&self, workspace: &str, person: &str) -> bool {
        !self.quarantined.is_empty() && self.quarantined.contains_key(&self.key(workspace, person))
    }

    pub fn quarantined(&self) -> usize {
        self.quarantined.len()
    }

    /// Puts a stored state back (after a restart).
    pub fn insert(&self, workspace: &str, person: &str, state: ProfileState) {
        self.profiles
            .insert(self.key(workspace, person), Box::new(state));
    }

    /// Puts a stored state back unless the book holds a newer version of it (rows streamed from
    /// the store may hold a profile twice). Returns whether the profile was new to the book.
    pub fn insert_newer(&self, workspace: &str, person: &str, state: ProfileState) -> bool {
        use dashmap::mapref::entry::Entry;
        match self.profiles.entry(self.key(workspace, person)) {
            Entry::Vacant(slot) => {
                slot.insert(Box::new(state));
                true
            }
            Entry::Occupied(mut have) => {
                if have.get().version <= state.version {
                    have.insert(Box::new(state));
                }
                false
            }
        }
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
            .map(|p| (**p).clone())
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
        if let Some(into) = state.rare.merged_into.clone() {
            if let Some((p, o)) = position {
                if state.applied(p, o) {
                    return Some((key, Err(Skipped::Replayed)));
                }
                state.advance(p, o);
                state.version = next_version(state.version, position, now_ms);
            }
            return Some((key, Err(Skipped::Forwarded(into))));
        }
        let outcome = engine::apply(state, &record.event, position, model, settings, now_ms);
        match &outcome {
            Ok(_) => {
                state.version = next_version(state.version, position, now_ms);
                state.updated_at_ms = now_ms;
            }
            // The position moved on: a new version, so the stored row has it.
            Err(Skipped::DuplicateMessageId) => {
                state.version = next_version(state.version, position, now_ms);
            }
            Err(_) => {}
        }
        Some((key, outcome))
    }

    /// After `record` was applied to `key`: the merge request to send when the event ties
    /// another id to this known person for the first time (`identify` or any call with both ids;
    /// `alias` with `previousId`). Remembers that it was asked.
    pub fn merge_request(&self, record: &LogRecord, key: &ProfileKey) -> Option<ControlRecord> {
        let event = &record.event;
        let into = self.identity.legal(event.user_id.as_deref())?;
        let (from, alias) = match event.event_type {
            EventType::Alias => (event.previous_id.as_deref(), true),
            _ => (event.anonymous_id.as_deref(), false),
        };
        let from = self.identity.legal(from)?;
        if from == into || *key.person != *into {
            return None;
        }
        let mut state = self.profiles.get_mut(key)?;
        if state.rare.requested.iter().any(|r| &**r == from) {
            return None;
        }
        state.rare.get_mut().requested.push(from.into());
        let at_ms = event
            .event_time()
            .map_or(state.last_seen_ms, |t| t.timestamp_millis());
        Some(ControlRecord {
            v: SCHEMA_VERSION,
            workspace: record.workspace.clone(),
            id: ControlRecord::merge_id(from, into),
            control: Control::MergeRequest {
                from: from.to_string(),
                into: into.to_string(),
                alias,
                at_ms,
            },
        })
    }

    /// Handles a control record read at `position`; returns the profile it changed.
    ///
    /// - A merge request, at the owner of `from`: refused when `from` is a known person (two
    ///   identified people are never merged) or was already merged into somebody else (a shared
    ///   device does not fuse two users); otherwise `from` becomes a forwarding stub and its state
    ///   is sent to `into`.
    /// - A merge state, at the owner of `into`: absorbed once.
    pub fn control(
        &self,
        record: &ControlRecord,
        position: Option<(i32, i64)>,
        model: &Model,
        settings: &Settings,
        now_ms: i64,
    ) -> (ProfileKey, ControlOutcome) {
        let key = self.key(&record.workspace, record.person());
        let mut entry = self.profiles.entry(key.clone()).or_default();
        let state = entry.value_mut();
        if let Some((p, o)) = position {
            if state.applied(p, o) {
                return (key, ControlOutcome::Skipped);
            }
            state.advance(p, o);
        }
        let outcome = match &record.control {
            Control::MergeRequest {
                from, into, at_ms, ..
            } => {
                if !self.identity.is_legal(from) || !self.identity.is_legal(into) || from == into {
                    ControlOutcome::Refused("illegal id")
                } else if state.rare.merged_into.as_deref() == Some(into.as_str()) {
                    ControlOutcome::Skipped
                } else if state.rare.merged_into.is_some() {
                    ControlOutcome::Refused("already merged into another person")
                } else if state.identified {
                    ControlOutcome::Refused("both are identified people")
                } else {
                    let handed = std::mem::take(state);
                    state.positions = handed.positions.clone();
                    state.rare.get_mut().merged_into = Some(into.as_str().into());
                    if handed.event_count == 0 {
                        ControlOutcome::Nothing
                    } else {
                        ControlOutcome::Send(ControlRecord {
                            v: SCHEMA_VERSION,
                            workspace: record.workspace.clone(),
                            id: record.id.clone(),
                            control: Control::MergeState {
                                from: from.clone(),
                                into: into.clone(),
                                at_ms: *at_ms,
                                state: serde_json::to_value(&handed).unwrap_or_default(),
                            },
                        })
                    }
                }
            }
            Control::MergeState {
                from,
                state: other,
                at_ms,
                ..
            } => {
                if state.rare.absorbed.iter().any(|a| &**a == from.as_str()) {
                    ControlOutcome::Skipped
                } else {
                    match serde_json::from_value::<ProfileState>(other.clone()) {
                        Err(_) => ControlOutcome::Refused("unreadable state"),
                        Ok(other) => {
                            let at = (*at_ms).max(other.last_seen_ms);
                            let applied = engine::absorb(state, &other, model, settings, at);
                            state.rare.get_mut().absorbed.push(from.as_str().into());
                            ControlOutcome::Absorbed(applied)
                        }
                    }
                }
            }
        };
        state.version = next_version(state.version, position, now_ms);
        state.updated_at_ms = now_ms;
        (key, outcome)
    }

    /// A profile's lifecycle stage (cheap: no copy of the state).
    pub fn stage(&self, key: &ProfileKey) -> Option<leadstream_schemas::LifecycleStage> {
        self.profiles.get(key).map(|p| p.stage)
    }

    /// Drops the profiles of these log partitions (revoked: another scorer owns them now), and
    /// those of no known partition (-1); returns how many.
    pub fn drop_partitions(&self, partitions: &[i32]) -> usize {
        let before = self.profiles.len();
        let gone = |p: &i32| *p < 0 || partitions.contains(p);
        self.profiles.retain(|_, state| !gone(&state.partition));
        self.quarantined.retain(|_, p| !gone(p));
        // The memory goes back, not only the entries.
        self.profiles.shrink_to_fit();
        before - self.profiles.len()
    }

    /// Current states of the given profiles.
    pub fn snapshot(&self, keys: &HashSet<ProfileKey>) -> Vec<(ProfileKey, ProfileState)> {
        keys.iter()
            .filter_map(|k| self.profiles.get(k).map(|p| (k.clone(), (**p).clone())))
            .collect()
    }

    /// Calls `f` on every profile (what-if, exports).
    pub fn for_each(&self, mut f: impl FnMut(&ProfileKey, &ProfileState)) {
        for entry in self.profiles.iter() {
            f(entry.key(), entry.value());
        }
    }
}

/// Profile versions read from the log position of the record that made them, so that whoever
/// writes a profile (its owner, the next owner replaying after a rebalance or a crash, a
/// revoked owner whose last write lands late) orders the same: the same records give the same
/// version, later records a higher one, whatever the clocks say. Offsets count up from here, above
/// every wall-clock version (microseconds) stored before; a version never goes below the one
/// loaded, so a recreated topic (offsets from 0 again) still writes newer versions.
pub const OFFSET_VERSIONS: u64 = 1 << 53;

fn next_version(loaded: u64, position: Option<(i32, i64)>, now_ms: i64) -> u64 {
    match position {
        Some((_, offset)) => (loaded + 1).max(OFFSET_VERSIONS + offset.max(0) as u64),
        // Not from the log (what-if, tests): after the wall clock, in microseconds.
        None => (loaded + 1).max(now_ms.max(0) as u64 * 1000),
    }
}

#[cfg(test)]
mod tests;
