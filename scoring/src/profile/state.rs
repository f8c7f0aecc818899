//! One person's state as the scorer keeps it in memory: compact (fixed arrays and small vectors,
//! names of scores and rules as 32-bit hashes) because a million of them must fit in about a
//! gigabyte. [`ProfileState::view`] turns it into the published [`Profile`].

use std::collections::BTreeMap;

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

/// One person's state. Lists are kept at exactly their length ([`List`]); traits and what few
/// people have (purchases, opt-outs, machine-made email activity, campaign touches, an account,
/// identity merges, once-only rules, hand-offs, in [`Rare`]) are boxed and absent until first
/// written ([`Sparse`]). A million states are held in memory: see `profile-memory` in
/// `benches/RESULTS.md`.
///
/// Stored as JSON with every field at the top level ([`Stored`] reads it, also as written
/// before `Rare` existed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct ProfileState {
    #[serde(serialize_with = "traits_out")]
    pub traits: Sparse<Map<String, Value>>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub event_count: u64,
    /// All-time counts per kind (bot-flagged email opens and clicks are not in here).
    #[serde(with = "kind_counts")]
    pub kinds: KindCounts,
    pub days: List<DayCount>,
    /// The last pages viewed, oldest first.
    pub pages: List<Box<str>>,
    pub stage: LifecycleStage,
    pub stages: List<StageChange>,
    pub scores: List<ScoreState>,
    pub caps: List<CapState>,
    pub fit_points: f64,
    pub grade: Option<char>,
    /// A crossing of the qualification threshold hands the lead over only while armed; recycling
    /// re-arms.
    pub armed: bool,
    /// The last applied log offset per partition: a replay skips what is at or before it. A
    /// person's events can come from more than one partition (the collector keys events by the
    /// anonymous id when there is one), so one position per partition.
    pub positions: List<(i32, i64)>,
    /// Hashes of the last message ids applied, newest last.
    pub recent: List<u64>,
    /// Seen under its own `userId`: a known person, never merged into another.
    pub identified: bool,
    pub version: u64,
    pub updated_at_ms: i64,
    #[serde(flatten)]
    pub rare: Sparse<Rare>,
    /// The log partition this profile's records are on (stored in the row, not in the state):
    /// what a scorer drops when the partition is revoked.
    #[serde(skip)]
    pub partition: i32,
}

/// What few people have, kept out of line (see [`ProfileState`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rare {
    pub bot_opens: u32,
    pub bot_clicks: u32,
    pub email_unsubscribed: bool,
    pub sms_opted_out: bool,
    pub revenue: f64,
    pub last_purchase_ms: i64,
    pub first_touch: Option<Box<Touch>>,
    pub last_touch: Option<Box<Touch>>,
    /// Rules (name hashes) that count once per person and have counted.
    pub once: List<u32>,
    pub handoffs: u32,
    pub account: Option<String>,
    /// The account's traits from this person's latest `group` call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_traits: Option<Box<Map<String, Value>>>,
    #[serde(skip_serializing_if = "is_zero")]
    pub account_at_ms: i64,
    /// This anonymous profile was handed over to that person: later events are forwarded there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<Box<str>>,
    /// Ids this profile asked to absorb (merge requests sent).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub requested: List<Box<str>>,
    /// Ids whose profiles this one absorbed.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub absorbed: List<Box<str>>,
}

/// A part of the state most people lack ([`Rare`], traits): absent until first written
/// ([`Sparse::get_mut`]), read as its empty value meanwhile. Absent and present-but-empty are equal.
#[derive(Debug, Clone, Default)]
pub struct Sparse<T>(Option<Box<T>>);

/// The shared empty value an absent [`Sparse`] reads as.
pub trait Empty: Default + PartialEq + Sized + 'static {
    fn empty() -> &'static Self;
}

impl Empty for Rare {
    fn empty() -> &'static Rare {
        static EMPTY: std::sync::LazyLock<Rare> = std::sync::LazyLock::new(Rare::default);
        &EMPTY
    }
}

impl Empty for Map<String, Value> {
    fn empty() -> &'static Map<String, Value> {
        static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
        &EMPTY
    }
}

impl<T: Empty> Sparse<T> {
    /// Keeps `value` only when it is not empty.
    pub fn new(value: T) -> Sparse<T> {
        Sparse((value != T::default()).then(|| Box::new(value)))
    }

    /// For writing: allocates the empty value when absent.
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Default::default)
    }

    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }
}

impl<T: Empty> std::ops::Deref for Sparse<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self.0.as_deref() {
            Some(value) => value,
            None => T::empty(),
        }
    }
}

impl<T: Empty> PartialEq for Sparse<T> {
    fn eq(&self, other: &Sparse<T>) -> bool {
        **self == **other
    }
}

/// Flattened into the state ([`Rare`]): absent writes no field (readers default them).
impl<T: Serialize> Serialize for Sparse<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Traits are written as an object, `{}` when absent.
fn traits_out<S: serde::Serializer>(
    t: &Sparse<Map<String, Value>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    (**t).serialize(s)
}

/// A list kept at exactly its length: 16 bytes in the state where a `Vec` takes 24 and its
/// spare capacity, and no allocation while empty. Stored as a plain JSON array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct List<T>(Box<[T]>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Box::default())
    }
}

impl<T> std::ops::Deref for List<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> std::ops::DerefMut for List<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<T> From<Vec<T>> for List<T> {
    fn from(v: Vec<T>) -> List<T> {
        List(v.into_boxed_slice())
    }
}

impl<'a, T> IntoIterator for &'a List<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut List<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

impl<T> FromIterator<T> for List<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> List<T> {
        List(items.into_iter().collect())
    }
}

impl<T> List<T> {
    /// Changes the list as a `Vec`, then keeps it at exactly its new length.
    fn edit<R>(&mut self, f: impl FnOnce(&mut Vec<T>) -> R) -> R {
        let mut v = std::mem::take(&mut self.0).into_vec();
        let out = f(&mut v);
        self.0 = v.into_boxed_slice();
        out
    }

    pub fn push(&mut self, item: T) {
        self.edit(|v| {
            v.reserve_exact(1);
            v.push(item);
        });
    }

    pub fn insert(&mut self, index: usize, item: T) {
        self.edit(|v| {
            v.reserve_exact(1);
            v.insert(index, item);
        });
    }

    /// Appends `item`, dropping the oldest first when the list already holds `max`: a full list
    /// is rotated in place, without allocating.
    pub fn push_bounded(&mut self, item: T, max: usize) {
        if max == 0 {
            return;
        }
        if self.0.len() >= max {
            let excess = self.0.len() + 1 - max;
            if excess > 1 {
                self.edit(|v| drop(v.drain(..excess - 1)));
            }
            self.0.rotate_left(1);
            if let Some(last) = self.0.last_mut() {
                *last = item;
            }
        } else {
            self.push(item);
        }
    }

    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.edit(|v| v.retain(keep));
    }

    pub fn into_vec(self) -> Vec<T> {
        self.0.into_vec()
    }
}

/// The state as stored: every field at the top level, as [`ProfileState`] writes it and as it was
/// written before [`Rare`] existed.
#[derive(Deserialize)]
struct Stored {
    #[serde(default)]
    traits: Map<String, Value>,
    first_seen_ms: i64,
    last_seen_ms: i64,
    event_count: u64,
    #[serde(with = "kind_counts")]
    kinds: KindCounts,
    #[serde(default)]
    days: List<DayCount>,
    #[serde(default)]
    pages: List<Box<str>>,
    #[serde(default)]
    bot_opens: u32,
    #[serde(default)]
    bot_clicks: u32,
    #[serde(default)]
    email_unsubscribed: bool,
    #[serde(default)]
    sms_opted_out: bool,
    #[serde(default)]
    revenue: f64,
    #[serde(default)]
    last_purchase_ms: i64,
    #[serde(default)]
    first_touch: Option<Box<Touch>>,
    #[serde(default)]
    last_touch: Option<Box<Touch>>,
    stage: LifecycleStage,
    #[serde(default)]
    stages: List<StageChange>,
    #[serde(default)]
    scores: List<ScoreState>,
    #[serde(default)]
    caps: List<CapState>,
    #[serde(default)]
    once: List<u32>,
    #[serde(default)]
    fit_points: f64,
    #[serde(default)]
    grade: Option<char>,
    #[serde(default = "default_true")]
    armed: bool,
    #[serde(default)]
    handoffs: u32,
    #[serde(
        default,
        alias = "position",
        deserialize_with = "positions::deserialize"
    )]
    positions: List<(i32, i64)>,
    #[serde(default)]
    recent: List<u64>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    account_traits: Option<Box<Map<String, Value>>>,
    #[serde(default)]
    account_at_ms: i64,
    #[serde(default)]
    merged_into: Option<Box<str>>,
    #[serde(default)]
    requested: List<Box<str>>,
    #[serde(default)]
    absorbed: List<Box<str>>,
    #[serde(default)]
    identified: bool,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    updated_at_ms: i64,
}

impl From<Stored> for ProfileState {
    fn from(s: Stored) -> ProfileState {
        let rare = Rare {
            bot_opens: s.bot_opens,
            bot_clicks: s.bot_clicks,
            email_unsubscribed: s.email_unsubscribed,
            sms_opted_out: s.sms_opted_out,
            revenue: s.revenue,
            last_purchase_ms: s.last_purchase_ms,
            first_touch: s.first_touch,
            last_touch: s.last_touch,
            once: s.once,
            handoffs: s.handoffs,
            account: s.account,
            account_traits: s.account_traits,
            account_at_ms: s.account_at_ms,
            merged_into: s.merged_into,
            requested: s.requested,
            absorbed: s.absorbed,
        };
        ProfileState {
            traits: Sparse::new(s.traits),
            first_seen_ms: s.first_seen_ms,
            last_seen_ms: s.last_seen_ms,
            event_count: s.event_count,
            kinds: s.kinds,
            days: s.days,
            pages: s.pages,
            stage: s.stage,
            stages: s.stages,
            scores: s.scores,
            caps: s.caps,
            fit_points: s.fit_points,
            grade: s.grade,
            armed: s.armed,
            positions: s.positions,
            recent: s.recent,
            identified: s.identified,
            version: s.version,
            updated_at_ms: s.updated_at_ms,
            rare: Sparse::new(rare),
            partition: 0,
        }
    }
}

impl Default for ProfileState {
    fn default() -> Self {
        ProfileState {
            traits: Sparse::default(),
            first_seen_ms: 0,
            last_seen_ms: 0,
            event_count: 0,
            kinds: KindCounts::default(),
            days: List::default(),
            pages: List::default(),
            stage: LifecycleStage::Name,
            stages: List::default(),
            scores: List::default(),
            caps: List::default(),
            fit_points: 0.0,
            grade: None,
            armed: true,
            positions: List::default(),
            recent: List::default(),
            identified: false,
            version: 0,
            updated_at_ms: 0,
            rare: Sparse::default(),
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
            None => self.positions.push((partition, offset)),
        }
    }
}

/// Reads the positions, also in the one-position shape states were stored in before.
mod positions {
    use super::List;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        One(i32, i64),
        Many(List<(i32, i64)>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<List<(i32, i64)>, D::Error> {
        Ok(match Option::<Stored>::deserialize(d)? {
            None => List::default(),
            Some(Stored::One(p, o)) => List::from(vec![(p, o)]),
            Some(Stored::Many(v)) => v,
        })
    }
}

/// All-time counts per kind, only of the kinds a person did (most do a handful of the ~30):
/// sorted `(kind, count)` pairs, a few bytes each instead of a fixed array of every kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindCounts(List<(u8, u32)>);

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
            Err(i) => self.0.insert(i, (k, n)),
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
            traits: (*self.traits).clone(),
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
                bot_opens: u64::from(self.rare.bot_opens),
                bot_clicks: u64::from(self.rare.bot_clicks),
                bounces: self.count(EventKind::EmailBounced),
                unsubscribed: self.rare.email_unsubscribed,
            },
            sms: SmsStats {
                replies: self.count(EventKind::SmsReceived),
                opted_out: self.rare.sms_opted_out,
            },
            purchases: Purchases {
                count: self.count(EventKind::PurchaseCompleted),
                revenue: round2(self.rare.revenue),
                last_purchase_ms: self.rare.last_purchase_ms,
            },
            first_touch: self.rare.first_touch.as_deref().cloned(),
            last_touch: self.rare.last_touch.as_deref().cloned(),
            stage_history: self.stages.to_vec(),
            handoffs: self.rare.handoffs,
            account: self.rare.account.clone(),
            account_traits: self
                .rare
                .account_traits
                .as_deref()
                .cloned()
                .unwrap_or_default(),
            account_at_ms: self.rare.account_at_ms,
            identified: self.identified,
            merged_into: self.rare.merged_into.as_deref().map(str::to_string),
            merged_ids: self.rare.absorbed.iter().map(|s| s.to_string()).collect(),
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
