//! What the scorer hands to sales: one `lead.qualified` record per crossing of the qualification
//! threshold, on the hand-off topic (embedded: the hand-off log), keyed `workspace/profile`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::profile::{Profile, Touch};

/// One rule's contribution to the qualifying score, for "why this lead".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Contribution {
    pub rule: String,
    pub score: String,
    pub points: f64,
    pub message_id: String,
    pub kind: String,
    pub event: String,
    pub at_ms: i64,
}

/// `lead.qualified`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LeadQualified {
    /// Always `lead.qualified`.
    #[serde(rename = "type")]
    pub record_type: String,
    /// `workspace/profile/crossing`: the same for every copy of one hand-off, so a receiver
    /// that has seen it can drop a repeat.
    pub idempotency_key: String,
    pub workspace: String,
    pub profile_id: String,
    /// 1 for the first hand-off, 2 after one recycling, …
    pub crossing: u32,
    pub qualified_at_ms: i64,
    /// The qualifying score's name and value, and the threshold it crossed.
    pub score_name: String,
    pub score: f64,
    pub threshold: f64,
    pub scores: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// The events that contributed the most points, largest first.
    pub top_contributions: Vec<Contribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_touch: Option<Touch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_touch: Option<Touch>,
    pub profile: Profile,
    /// The scoring model's digest.
    pub model: String,
}

impl LeadQualified {
    pub const TYPE: &'static str = "lead.qualified";

    pub fn idempotency_key(workspace: &str, profile_id: &str, crossing: u32) -> String {
        format!("{workspace}/{profile_id}/{crossing}")
    }
}
