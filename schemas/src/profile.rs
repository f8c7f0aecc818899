//! The behavioural profile and score types the scorer keeps and the query API serves.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where a person stands in the funnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleStage {
    /// Known only by behaviour (anonymous or identified), not yet qualified.
    #[default]
    Name,
    /// Marketing-qualified lead: the score crossed the threshold.
    Mql,
    /// Handed to sales.
    SalesAccepted,
    /// Handed back by sales for more nurturing.
    Recycled,
    Customer,
}

impl LifecycleStage {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::Name => "name",
            LifecycleStage::Mql => "mql",
            LifecycleStage::SalesAccepted => "sales_accepted",
            LifecycleStage::Recycled => "recycled",
            LifecycleStage::Customer => "customer",
        }
    }

    pub fn parse(s: &str) -> Option<LifecycleStage> {
        [
            LifecycleStage::Name,
            LifecycleStage::Mql,
            LifecycleStage::SalesAccepted,
            LifecycleStage::Recycled,
            LifecycleStage::Customer,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A person's profile. Stores keep every version; the highest `version` is the current one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Profile {
    pub workspace: String,
    /// The person's id: the `userId` once known, otherwise the `anonymousId`.
    pub profile_id: String,
    /// Monotonic per profile; stores keep the highest.
    pub version: u64,
    /// Latest traits from `identify` calls (later values overwrite earlier ones).
    pub traits: Map<String, Value>,
    /// Events per kind (`EventKind::key`), over all time.
    pub counts: BTreeMap<String, u64>,
    pub event_count: u64,
    /// The lead score.
    pub score: f64,
    pub lifecycle_stage: LifecycleStage,
    /// Milliseconds since the Unix epoch.
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub updated_at_ms: i64,
}

impl Profile {
    pub fn new(workspace: impl Into<String>, profile_id: impl Into<String>) -> Self {
        Profile {
            workspace: workspace.into(),
            profile_id: profile_id.into(),
            version: 0,
            traits: Map::new(),
            counts: BTreeMap::new(),
            event_count: 0,
            score: 0.0,
            lifecycle_stage: LifecycleStage::Name,
            first_seen_ms: 0,
            last_seen_ms: 0,
            updated_at_ms: 0,
        }
    }
}
