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

/// Event counts over the rolling windows, as of the profile's `updated_at_ms`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WindowCounts {
    pub d7: u64,
    pub d30: u64,
    pub d90: u64,
}

impl WindowCounts {
    pub fn add(&mut self, other: &WindowCounts) {
        self.d7 += other.d7;
        self.d30 += other.d30;
        self.d90 += other.d90;
    }
}

/// Email engagement. Opens and clicks the collector flagged as machine-made (security scanners,
/// mail proxies) are counted apart and score nothing by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EmailStats {
    pub opens: u64,
    pub clicks: u64,
    pub bot_opens: u64,
    pub bot_clicks: u64,
    pub bounces: u64,
    pub unsubscribed: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SmsStats {
    pub replies: u64,
    pub opted_out: bool,
}

/// What the RFM analysis reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Purchases {
    pub count: u64,
    pub revenue: f64,
    /// Milliseconds since the Unix epoch; 0 when none.
    pub last_purchase_ms: i64,
}

/// A campaign touch (UTM parameters) and when it happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Touch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub at_ms: i64,
}

/// One change of lifecycle stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StageChange {
    pub stage: LifecycleStage,
    pub at_ms: i64,
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
    /// The qualifying lead score (the model's `qualification.score`, named in `score_name`).
    pub score: f64,
    #[serde(default)]
    pub score_name: String,
    pub lifecycle_stage: LifecycleStage,
    /// Milliseconds since the Unix epoch.
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub updated_at_ms: i64,
    /// Every named score of the model, as of the last activity (decay applies from there).
    #[serde(default)]
    pub scores: BTreeMap<String, f64>,
    /// Fit grade A–F from traits, and the fit points behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    #[serde(default)]
    pub fit_points: f64,
    /// Events per kind over the last 7, 30 and 90 days.
    #[serde(default)]
    pub windows: BTreeMap<String, WindowCounts>,
    /// Events per channel (`web`, `email`, `sms`, `forms`, `events`, `commerce`, `crm`, `other`).
    #[serde(default)]
    pub channels: BTreeMap<String, u64>,
    /// Events per channel over the last 7, 30 and 90 days.
    #[serde(default)]
    pub channel_windows: BTreeMap<String, WindowCounts>,
    /// The last pages visited (paths), oldest first.
    #[serde(default)]
    pub pages: Vec<String>,
    #[serde(default)]
    pub email: EmailStats,
    #[serde(default)]
    pub sms: SmsStats,
    #[serde(default)]
    pub purchases: Purchases,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_touch: Option<Touch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_touch: Option<Touch>,
    /// Every change of lifecycle stage, oldest first.
    #[serde(default)]
    pub stage_history: Vec<StageChange>,
    /// How many times the lead was handed to sales.
    #[serde(default)]
    pub handoffs: u32,
    /// The account (`group` call's `groupId`) the person belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The account's traits as of this person's latest `group` call (name, industry, employees…).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub account_traits: Map<String, Value>,
    /// When this person's latest `group` call happened (ms since the epoch; 0 when none).
    #[serde(default)]
    pub account_at_ms: i64,
    /// Known by a `userId` (not only by an anonymous id).
    #[serde(default)]
    pub identified: bool,
    /// This (anonymous) profile was merged into that person's; its activity counts there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// Ids (anonymous ids, aliases) whose profiles were merged into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_ids: Vec<String>,
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
            score_name: String::new(),
            lifecycle_stage: LifecycleStage::Name,
            first_seen_ms: 0,
            last_seen_ms: 0,
            updated_at_ms: 0,
            scores: BTreeMap::new(),
            grade: None,
            fit_points: 0.0,
            windows: BTreeMap::new(),
            channels: BTreeMap::new(),
            channel_windows: BTreeMap::new(),
            pages: Vec::new(),
            email: EmailStats::default(),
            sms: SmsStats::default(),
            purchases: Purchases::default(),
            first_touch: None,
            last_touch: None,
            stage_history: Vec::new(),
            handoffs: 0,
            account: None,
            account_traits: Map::new(),
            account_at_ms: 0,
            identified: false,
            merged_into: None,
            merged_ids: Vec::new(),
        }
    }
}
