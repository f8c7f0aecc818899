//! One person's state as the scorer keeps it in memory: compact (fixed arrays and small vectors,
//! names of scores and rules as 32-bit hashes) because a million of them must fit in about a
//! gigabyte. [`ProfileState::view`] turns it into the published [`Profile`].

use std::collections::{BTreeMap, VecDeque};

use leadstream_schemas::{
    EmailStats, EventKind, LifecycleStage, Profile, Purchases, SmsStats, StageChange, Touch,
    WindowCounts,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Grade, Model};

/// Every kind, indexed by `kind as usize`.
pub const KINDS: usize = EventKind::NAMED.len() + 5;
pub const DAY_MS: i64 = 86_400_000;
/// Daily buckets are kept this long (the longest rolling window).
pub const WINDOW_DAYS: u32 = 90;

pub fn all_kinds() -> impl Iterator<Item = EventKind> {
    EventKind::NAMED.iter().copied().chain([
        EventKind::Identify,
        EventKind::Group,
        EventKind::Alias,
        EventKind::ScreenViewed,
        EventKind::Custom,
    ])
}

/// A stable 32-bit name hash (FNV-1a), so that state survives model reloads that reorder rules.
pub fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The channel of a kind, for the per-channel counts.
pub fn channel_of(kind: EventKind) -> &'static str {
    use EventKind::*;
    match kind {
        PageViewed | ScreenViewed | FileDownloaded => "web",
        EmailSent | EmailDelivered | EmailOpened | EmailClicked | EmailBounced
        | EmailUnsubscribed | EmailComplained => "email",
        SmsSent | SmsDelivered | SmsFailed | SmsReceived | SmsOptedOut => "sms",
        FormSubmitted => "forms",
        WebinarRegistered | WebinarAttended => "events",
        PurchaseCompleted | OrderRefunded | ProductsSearched | ProductListViewed
        | ProductClicked | ProductViewed | ProductAdded | ProductRemoved | CartViewed
        | CheckoutStarted | PaymentInfoEntered | CouponApplied | OrderUpdated | OrderCancelled => {
            "commerce"
        }
        SignedUp | SignedIn | SignedOut | AccountCreated | AccountDeleted | TrialStarted
        | TrialEnded | InviteSent => "product",
        DemoRequested => "forms",
        LeadRecycled | DealWon | LeadCreated => "crm",
        Identify | Group | Alias | Custom => "other",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoreState {
    pub key: u32,
    pub value: f64,
    /// The time the value is as of (the last activity); decay applies from here.
    pub as_of_ms: i64,
}

/// Points a capped rule gave in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CapState {
    pub rule: u32,
    pub window: u32,
    pub points: f32,
}

/// Events of one kind on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    pub day: u32,
    pub kind: u8,
    pub count: u16,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileState {
    #[serde(default)]
    pub traits: Map<String, Value>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub event_count: u64,
    /// All-time counts per kind (bot-flagged email opens and clicks are not in here).
    #[serde(with = "kind_counts")]
    pub kinds: KindCounts,
    #[serde(default)]
    pub days: Vec<DayCount>,
    #[serde(default)]
    pub pages: VecDeque<Box<str>>,
    #[serde(default)]
    pub bot_opens: u32,
    #[serde(default)]
    pub bot_clicks: u32,
    #[serde(default)]
    pub email_unsubscribed: bool,
    #[serde(default)]
    pub sms_opted_out: bool,
    #[serde(default)]
    pub revenue: f64,
    #[serde(default)]
    pub last_purchase_ms: i64,
    #[serde(default)]
    pub first_touch: Option<Box<Touch>>,
    #[serde(default)]
    pub last_touch: Option<Box<Touch>>,
    pub stage: LifecycleStage,
    #[serde(default)]
    pub stages: Vec<StageChange>,
    #[serde(default)]
    pub scores: Vec<ScoreState>,
    #[serde(default)]
    pub caps: Vec<CapState>,
    /// Rules (name hashes) that count once per person and have counted.
    #[serde(default)]
    pub once: Vec<u32>,
    #[serde(default)]
    pub fit_points: f64,
    #[serde(default)]
    pub grade: Option<char>,
    /// A crossing of the qualification threshold hands the lead over only while armed; recycling
    /// re-arms.
    #[serde(default = "default_true")]
    pub armed: bool,
    #[serde(default)]
    pub handoffs: u32,
    /// The last applied log offset per partition: a replay skips what is at or before it. A
    /// person's events can come from more than one partition (the collector keys events by the
    /// anonymous id when there is one), so one position per partition.
    #[serde(
        default,
        alias = "position",
        deserialize_with = "positions::deserialize"
    )]
    pub positions: Vec<(i32, i64)>,
    /// Hashes of the last message ids applied, newest last.
    #[serde(default)]
    pub recent: Vec<u64>,
    #[serde(default)]
    pub account: Option<String>,
    /// The account's traits from this person's latest `group` call (boxed: most people have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_traits: Option<Box<Map<String, Value>>>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub account_at_ms: i64,
    /// This anonymous profile was handed over to that person: later events are forwarded there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<Box<str>>,
    /// Ids this profile asked to absorb (merge requests sent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requested: Vec<Box<str>>,
    /// Ids whose profiles this one absorbed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absorbed: Vec<Box<str>>,
    /// Seen under its own `userId`: a known person, never merged into another.
    #[serde(default)]
    pub identified: bool,
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub updated_at_ms: i64,
    /// The log partition this profile's records are on (stored in the row, not in the state):
    /// what a scorer drops when the partition is revoked.
    #[serde(skip)]
    pub partition: i32,
}

impl Default for ProfileState {
    fn default() -> Self {
        ProfileState {
            traits: Map::new(),
            first_seen_ms: 0,
            last_seen_ms: 0,
            event_count: 0,
            kinds: KindCounts::default(),
            days: Vec::new(),
            pages: VecDeque::new(),
            bot_opens: 0,
            bot_clicks: 0,
            email_unsubscribed: false,
            sms_opted_out: false,
            revenue: 0.0,
            last_purchase_ms: 0,
            first_touch: None,
            last_touch: None,
            stage: LifecycleStage::Name,
            stages: Vec::new(),
            scores: Vec::new(),
            caps: Vec::new(),
            once: Vec::new(),
            fit_points: 0.0,
            grade: None,
            armed: true,
            handoffs: 0,
            positions: Vec::new(),
            recent: Vec::new(),
            account: None,
            account_traits: None,
            account_at_ms: 0,
            merged_into: None,
            requested: Vec::new(),
            absorbed: Vec::new(),
            identified: false,
            version: 0,
            updated_at_ms: 0,
            partition: 0,
        }
    }
}

impl ProfileState {
    /// Whether `(partition, offset)` is at or before what this profile has applied.
    pub fn applied(&self, partition: i32, offset: i64) -> bool {
        self.positions
            .iter()
            .any(|&(p, o)| p == partition && offset <= o)
    }

    /// Records `(partition, offset)` as applied.
    pub fn advance(&mut self, partition: i32, offset: i64) {
        self.partition = partition;
        match self.positions.iter_mut().find(|(p, _)| *p == partition) {
            Some(slot) => slot.1 = slot.1.max(offset),
            None => {
                self.positions.reserve_exact(1);
                self.positions.push((partition, offset));
            }
        }
    }
}

/// Reads the positions, also in the one-position shape states were stored in before.
mod positions {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        One(i32, i64),
        Many(Vec<(i32, i64)>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(i32, i64)>, D::Error> {
        Ok(match Option::<Stored>::deserialize(d)? {
            None => Vec::new(),
            Some(Stored::One(p, o)) => vec![(p, o)],
            Some(Stored::Many(v)) => v,
        })
    }
}

/// All-time counts per kind, only of the kinds a person did (most do a handful of the ~30):
/// sorted `(kind, count)` pairs, a few bytes each instead of a fixed array of every kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindCounts(Vec<(u8, u32)>);

impl KindCounts {
    pub fn get(&self, kind: EventKind) -> u32 {
        let k = kind as u8;
        self.0
            .binary_search_by_key(&k, |e| e.0)
            .map_or(0, |i| self.0[i].1)
    }

    pub fn add(&mut self, kind: EventKind, n: u32) {
        let k = kind as u8;
        match self.0.binary_search_by_key(&k, |e| e.0) {
            Ok(i) => self.0[i].1 = self.0[i].1.saturating_add(n),
            Err(i) => {
                self.0.insert(i, (k, n));
                self.0.shrink_to_fit();
            }
        }
    }

    /// Adds every count of `other`.
    pub fn add_all(&mut self, other: &KindCounts) {
        for &(k, n) in &other.0 {
            if let Some(kind) = all_kinds().find(|x| *x as u8 == k) {
                self.add(kind, n);
            }
        }
    }
}

mod kind_counts {
    use super::{KindCounts, all_kinds};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(kinds: &KindCounts, s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, u32> = all_kinds()
            .map(|k| (k.key(), kinds.get(k)))
            .filter(|(_, n)| *n > 0)
            .collect();
        map.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KindCounts, D::Error> {
        let map = BTreeMap::<String, u32>::deserialize(d)?;
        let mut kinds = KindCounts::default();
        for (key, n) in map {
            if let Some(k) = leadstream_schemas::EventKind::from_key(&key) {
                kinds.add(k, n);
            }
        }
        Ok(kinds)
    }
}

impl ProfileState {
    pub fn count(&self, kind: EventKind) -> u64 {
        u64::from(self.kinds.get(kind))
    }

    /// The value of a score (by name hash), decayed to `at_ms` with the model's decay.
    pub fn score_at(&self, model: &Model, score: usize, at_ms: i64) -> f64 {
        let key = name_hash(&model.scores[score].name);
        self.scores
            .iter()
            .find(|s| s.key == key)
            .map(|s| model.scores[score].decay.apply(s.value, s.as_of_ms, at_ms))
            .unwrap_or(0.0)
    }

    /// Counts of `kind` over the `days` days up to and including `today`.
    pub fn window(&self, kind: EventKind, today: u32, days: u32) -> u64 {
        self.days
            .iter()
            .filter(|d| d.kind == kind as u8 && d.day + days > today && d.day <= today)
            .map(|d| u64::from(d.count))
            .sum()
    }

    /// The published profile, with scores named by `model` and windows as of `now_ms`.
    pub fn view(&self, workspace: &str, profile_id: &str, model: &Model, now_ms: i64) -> Profile {
        let today = (now_ms.max(0) / DAY_MS) as u32;
        let mut counts = BTreeMap::new();
        let mut windows = BTreeMap::new();
        let mut channels: BTreeMap<String, u64> = BTreeMap::new();
        let mut channel_windows: BTreeMap<String, WindowCounts> = BTreeMap::new();
        for kind in all_kinds() {
            let n = self.count(kind);
            if n > 0 {
                counts.insert(kind.key().to_string(), n);
                *channels.entry(channel_of(kind).to_string()).or_insert(0) += n;
            }
            let w = WindowCounts {
                d7: self.window(kind, today, 7),
                d30: self.window(kind, today, 30),
                d90: self.window(kind, today, 90),
            };
            if w.d90 > 0 {
                windows.insert(kind.key().to_string(), w);
                channel_windows
                    .entry(channel_of(kind).to_string())
                    .or_default()
                    .add(&w);
            }
        }
        let scores: BTreeMap<String, f64> = model
            .scores
            .iter()
            .map(|def| {
                let key = name_hash(&def.name);
                let v = self
                    .scores
                    .iter()
                    .find(|s| s.key == key)
                    .map_or(0.0, |s| s.value);
                (def.name.clone(), round2(v))
            })
            .collect();
        let qualifying = model.scores[model.qualification.score].name.as_str();
        Profile {
            workspace: workspace.to_string(),
            profile_id: profile_id.to_string(),
            version: self.version,
            traits: self.traits.clone(),
            counts,
            event_count: self.event_count,
            score: scores.get(qualifying).copied().unwrap_or(0.0),
            score_name: qualifying.to_string(),
            lifecycle_stage: self.stage,
            first_seen_ms: self.first_seen_ms,
            last_seen_ms: self.last_seen_ms,
            updated_at_ms: self.updated_at_ms,
            scores,
            grade: self.grade.map(|g| g.to_string()),
            fit_points: self.fit_points,
            windows,
            channels,
            channel_windows,
            pages: self.pages.iter().map(|p| p.to_string()).collect(),
            email: EmailStats {
                opens: self.count(EventKind::EmailOpened),
                clicks: self.count(EventKind::EmailClicked),
                bot_opens: u64::from(self.bot_opens),
                bot_clicks: u64::from(self.bot_clicks),
                bounces: self.count(EventKind::EmailBounced),
                unsubscribed: self.email_unsubscribed,
            },
            sms: SmsStats {
                replies: self.count(EventKind::SmsReceived),
                opted_out: self.sms_opted_out,
            },
            purchases: Purchases {
                count: self.count(EventKind::PurchaseCompleted),
                revenue: round2(self.revenue),
                last_purchase_ms: self.last_purchase_ms,
            },
            first_touch: self.first_touch.as_deref().cloned(),
            last_touch: self.last_touch.as_deref().cloned(),
            stage_history: self.stages.clone(),
            handoffs: self.handoffs,
            account: self.account.clone(),
            account_traits: self.account_traits.as_deref().cloned().unwrap_or_default(),
            account_at_ms: self.account_at_ms,
            identified: self.identified,
            merged_into: self.merged_into.as_deref().map(str::to_string),
            merged_ids: self.absorbed.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn grade(&self) -> Option<Grade> {
        self.grade.and_then(|g| Grade::parse(&g.to_string()))
    }
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
