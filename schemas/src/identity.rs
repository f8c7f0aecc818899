//! Which ids may identify a person, and the control records the scorer sends itself through the
//! log to merge one person's profile into another's.
//!
//! Ids such as `null`, `undefined`, `0`, `anonymous` or `guest` come from broken or careless
//! tracking code; treating them as people would fuse everybody who sent them into one profile.
//! They are ignored (configurable with `identity.illegal_ids`).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// The ids ignored unless configured otherwise (compared trimmed and case-insensitively).
pub const DEFAULT_ILLEGAL_IDS: &[&str] = &[
    "",
    "null",
    "undefined",
    "0",
    "-1",
    "anonymous",
    "guest",
    "none",
    "nil",
    "nan",
    "[object object]",
    "unknown",
    "not_authenticated",
    "id",
    "user_id",
    "email",
    "true",
    "false",
];

#[derive(Debug, Clone)]
pub struct IdentityRules {
    illegal: HashSet<String>,
}

impl Default for IdentityRules {
    fn default() -> Self {
        IdentityRules::new(DEFAULT_ILLEGAL_IDS.iter().copied())
    }
}

impl IdentityRules {
    pub fn new<'a>(illegal: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set: HashSet<String> = illegal
            .into_iter()
            .map(|s| s.trim().to_lowercase())
            .collect();
        // Blank is never an id, whatever the configuration says.
        set.insert(String::new());
        IdentityRules { illegal: set }
    }

    /// Whether `id` may stand for a person.
    pub fn is_legal(&self, id: &str) -> bool {
        let t = id.trim();
        if t.chars().any(char::is_uppercase) {
            return !self.illegal.contains(&t.to_lowercase());
        }
        !self.illegal.contains(t)
    }

    /// `Some(id)` when `id` is present and legal.
    pub fn legal<'a>(&self, id: Option<&'a str>) -> Option<&'a str> {
        id.filter(|i| self.is_legal(i))
    }
}

/// A message the scorer writes to the events log for itself (never sent by clients).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlRecord {
    pub v: u16,
    pub workspace: String,
    /// Deterministic, so that a repeat after a crash is recognised: `merge:{from}:{into}`.
    pub id: String,
    pub control: Control,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Control {
    /// Keyed by `from`: the owner of `into` asks the owner of `from` to hand `from`'s profile
    /// over. `alias` tells an `alias` call from an `identify`.
    MergeRequest {
        from: String,
        into: String,
        alias: bool,
        at_ms: i64,
    },
    /// Keyed by `into`: `from`'s profile (the scorer's own state, opaque here) to absorb.
    MergeState {
        from: String,
        into: String,
        at_ms: i64,
        state: serde_json::Value,
    },
}

impl ControlRecord {
    pub fn merge_id(from: &str, into: &str) -> String {
        format!("merge:{from}:{into}")
    }

    /// The person whose partition this record goes to.
    pub fn person(&self) -> &str {
        match &self.control {
            Control::MergeRequest { from, .. } => from,
            Control::MergeState { into, .. } => into,
        }
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.workspace, self.person())
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn illegal_ids_are_ignored_case_insensitively() {
        let rules = IdentityRules::default();
        for id in [
            "",
            "  ",
            "null",
            "NULL",
            "undefined",
            "0",
            "Anonymous",
            "guest",
        ] {
            assert!(!rules.is_legal(id), "{id:?}");
        }
        for id in ["u-1", "jane@corp.io", "00", "guest-7"] {
            assert!(rules.is_legal(id), "{id:?}");
        }
        let custom = IdentityRules::new(["visitor"]);
        assert!(!custom.is_legal("Visitor"));
        assert!(custom.is_legal("null"));
        assert!(!custom.is_legal(""));
    }
}
