//! The profile store: where the scorer writes events and profile versions, and what the query API
//! and the CRM webhook sender read and write.
//!
//! Two back ends, each in its own folder: [`clickhouse`] (SQL over HTTP; versioned tables are
//! `ReplacingMergeTree(version)`) and [`embedded`] (Parquet files under the data directory, queried
//! with polars). Both store the same rows ([`rows`]: one field list per table) with the same
//! columns, so every reader gets the same shape from either.
//!
//! What a store does is split by role, so each service holds only what it uses:
//! [`ScorerWrites`] (the scorer), [`ProfileReads`] (profiles, timelines, hand-offs, accounts),
//! [`SavedObjects`] (segments, lists, campaigns, tokens and member sets), [`Analytics`] (segments'
//! members, RFM, campaign responders), [`Deliveries`] (the CRM webhook sender's parked calls).
//! [`Store`] is their union (plus readiness), what the back ends implement and the wiring passes;
//! `Arc<dyn Store>` coerces to any one role (the scorer's pipeline holds a [`ScorerStore`], the
//! CRM sender [`Deliveries`]).

pub mod clickhouse;
pub mod embedded;
pub mod rows;

pub use rows::{
    AccountSummaryRow, Cell, Column, ColumnType, DeliveryRow, EventRow, HandoffRow, IdentityRow,
    ObjectRow, OwnedValues, ProfileRow, ScoreChangeRow, SetMemberRow, StateRow, Table, Values,
    latest_deliveries,
};

use std::collections::HashMap;

use async_trait::async_trait;
use leadstream_schemas::{AccountSummary, Profile};

/// Failures of a store, classified for retrying.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is unreachable or overloaded; retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The request or data is wrong and will not succeed on retry.
    #[error("store refused the request: {0}")]
    Invalid(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// What one scorer flush writes. Profiles are written last, so that a crash part-way leaves the
/// old profile versions (whose log positions make the replay redo the rest).
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    pub events: Vec<EventRow>,
    pub score_changes: Vec<ScoreChangeRow>,
    pub profiles: Vec<ProfileRow>,
    pub handoffs: Vec<HandoffRow>,
    pub identities: Vec<IdentityRow>,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.score_changes.is_empty()
            && self.profiles.is_empty()
            && self.handoffs.is_empty()
            && self.identities.is_empty()
    }
}

/// What the scorer writes, and reads back after a restart.
#[async_trait]
pub trait ScorerWrites: Send + Sync + 'static {
    /// Writes events, score changes and profile versions; returns once they are durable.
    async fn write(&self, batch: &WriteBatch) -> Result<(), StoreError>;
    /// The newest version of the states of the profiles on these log partitions, and of every
    /// profile stored before rows carried their partition (`log_partition` -1; the caller tells
    /// by the key): what a scorer loads for the partitions it was assigned. Only the columns a
    /// scorer restores from ([`StateRow`]).
    async fn load_profiles(&self, partitions: &[i32]) -> Result<Vec<StateRow>, StoreError>;
    /// [`ScorerWrites::load_profiles`], handing each row to `each` as it arrives instead of
    /// collecting them first (a profile may come twice: the caller keeps the highest version).
    /// On an error, the rows handed so far are a part of the whole.
    async fn load_profiles_each(
        &self,
        partitions: &[i32],
        each: &mut (dyn FnMut(StateRow) + Send),
    ) -> Result<(), StoreError> {
        for row in self.load_profiles(partitions).await? {
            each(row);
        }
        Ok(())
    }
    /// [`ScorerWrites::load_profiles`] of one workspace only (`leadstream replay`).
    async fn load_workspace_profiles(
        &self,
        workspace: &str,
        partitions: &[i32],
    ) -> Result<Vec<StateRow>, StoreError>;
}

/// Profiles and what happened to them: versions, score changes, timelines, hand-offs, accounts,
/// identities.
#[async_trait]
pub trait ProfileReads: Send + Sync + 'static {
    /// The newest version of one profile.
    async fn profile(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Option<Profile>, StoreError>;
    /// A profile's score changes, newest first, at most `limit`, without replayed duplicates.
    async fn score_changes(
        &self,
        workspace: &str,
        profile_id: &str,
        limit: usize,
    ) -> Result<Vec<ScoreChangeRow>, StoreError>;
    /// The newest version of every profile of one workspace.
    async fn workspace_profiles(&self, workspace: &str) -> Result<Vec<Profile>, StoreError>;
    /// The newest version of some of a workspace's profiles (ids not found are left out).
    async fn profiles_by_ids(
        &self,
        workspace: &str,
        ids: &[String],
    ) -> Result<Vec<Profile>, StoreError>;
    /// The current (not merged-away) people whose `email` trait is one of `emails`, compared
    /// case-insensitively: `(lower-cased email, profile id)` pairs, ordered.
    async fn ids_by_email(
        &self,
        workspace: &str,
        emails: &[String],
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// The current profiles of an account's members (merged-away profiles left out).
    async fn account_members(
        &self,
        workspace: &str,
        account_id: &str,
    ) -> Result<Vec<Profile>, StoreError>;
    /// A workspace's accounts, the highest account score first, at most `limit`.
    async fn accounts(
        &self,
        workspace: &str,
        limit: usize,
    ) -> Result<Vec<AccountSummary>, StoreError>;
    /// A workspace's stored events with `from_ms <= timestamp_ms < to_ms`, oldest first (by
    /// time, then message id), at most `limit`. A replayed event may appear twice.
    async fn events(
        &self,
        workspace: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError>;
    /// A person's events (under any of `ids`: the person and the ids merged into it), newest
    /// first (by time, then message id), strictly before `(before_ms, before_id)` when given, at
    /// most `limit`, each message once.
    async fn person_events(
        &self,
        workspace: &str,
        ids: &[String],
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError>;
    /// A profile's hand-offs to sales, the first crossing first.
    async fn handoffs(
        &self,
        workspace: &str,
        profile_id: &str,
    ) -> Result<Vec<HandoffRow>, StoreError>;
    /// A workspace's resolved identities (merged id → person), each id once.
    async fn identities(&self, workspace: &str) -> Result<Vec<IdentityRow>, StoreError>;
}

/// The query API's saved objects (segments, lists, snapshots, campaigns, tokens) and member sets.
#[async_trait]
pub trait SavedObjects: Send + Sync + 'static {
    /// Writes a version of a saved object (a deletion is a version with `deleted = 1`).
    async fn write_object(&self, row: &ObjectRow) -> Result<(), StoreError>;
    /// A workspace's saved objects of one kind (newest version of each, deleted ones left out),
    /// by name.
    async fn objects(&self, workspace: &str, kind: &str) -> Result<Vec<ObjectRow>, StoreError>;
    /// Writes changes to member sets; returns once they are durable.
    async fn write_set_members(&self, rows: &[SetMemberRow]) -> Result<(), StoreError>;
    /// The current members of a set, ordered.
    async fn set_members(&self, workspace: &str, set_id: &str) -> Result<Vec<String>, StoreError>;
    /// The member sets (lists, snapshots) `member_id` is in now.
    async fn sets_of(&self, workspace: &str, member_id: &str) -> Result<Vec<String>, StoreError>;
}

/// Answers computed over a workspace's people and events: segments, RFM, campaign responders.
#[async_trait]
pub trait Analytics: Send + Sync + 'static {
    /// The ids of a segment's members in `workspace`, ordered, as of `now_ms`.
    async fn segment_members(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// How many members a segment has, and the first `sample` of them by id.
    async fn segment_preview(
        &self,
        workspace: &str,
        segment: &leadstream_schemas::segment::Segment,
        now_ms: i64,
        sample: usize,
    ) -> Result<(u64, Vec<String>), StoreError>;
    /// A campaign's responders and what came of each ([`leadstream_schemas::campaign`]), by id.
    async fn campaign_responders(
        &self,
        workspace: &str,
        query: &crate::campaign::ResponderQuery,
    ) -> Result<Vec<leadstream_schemas::campaign::Responder>, StoreError>;
    /// The RFM analysis of a workspace as of `as_of_ms` ([`leadstream_schemas::rfm`]).
    async fn rfm(
        &self,
        workspace: &str,
        spec: &leadstream_schemas::rfm::RfmSpec,
        as_of_ms: i64,
    ) -> Result<leadstream_schemas::rfm::RfmReport, StoreError>;
    /// Every customer's RFM measures, scores and segment, by id.
    async fn rfm_people(
        &self,
        workspace: &str,
        spec: &leadstream_schemas::rfm::RfmSpec,
        as_of_ms: i64,
    ) -> Result<Vec<leadstream_schemas::rfm::RfmPerson>, StoreError>;
    /// How many people moved between RFM segments from `from_ms` to `to_ms`, by (from, to).
    async fn rfm_migration(
        &self,
        workspace: &str,
        spec: &leadstream_schemas::rfm::RfmSpec,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<leadstream_schemas::rfm::Move>, StoreError>;
    /// A workspace's activity in `[from_ms, to_ms)` and its people now ([`OverviewRows`]).
    async fn overview(
        &self,
        workspace: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<OverviewRows, StoreError>;
}

/// What the console's overview shows, as a store counts it. Days are UTC day numbers (days since
/// 1970-01-01); people are the current, unmerged ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OverviewRows {
    /// Events per (day, kind) in the range.
    pub events: Vec<(i64, String, u64)>,
    /// People first seen per day in the range.
    pub new_people: Vec<(i64, u64)>,
    /// Hand-offs to sales (each crossing once) per day in the range.
    pub handoffs: Vec<(i64, u64)>,
    /// People now per (score bucket, grade, stage): the bucket is `floor(score / 10)` from 0 to
    /// 10 (10: 100 and more), −1 for a negative score; the grade is empty when there is none.
    pub people: Vec<(i64, String, String, u64)>,
    /// Events in the range per (UTM campaign, promo code), of those with either: what campaigns
    /// count responses by.
    pub campaign_events: Vec<(String, String, u64)>,
}

/// The score bucket of [`OverviewRows::people`].
pub fn score_bucket(score: f64) -> i64 {
    if score < 0.0 {
        -1
    } else {
        ((score / 10.0).floor() as i64).min(10)
    }
}

/// The CRM webhook sender's deliveries that are not (yet) through.
#[async_trait]
pub trait Deliveries: Send + Sync + 'static {
    /// Records webhook deliveries (parked ones, and their later state).
    async fn write_deliveries(&self, rows: &[DeliveryRow]) -> Result<(), StoreError>;
    /// The newest state of a workspace's deliveries, newest first, optionally of one status.
    async fn deliveries(
        &self,
        workspace: &str,
        status: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
}

/// What the scorer's pipeline holds: its writes, and the profile reads a hand-off record needs.
pub trait ScorerStore: ScorerWrites + ProfileReads {}

impl<T: ScorerWrites + ProfileReads + ?Sized> ScorerStore for T {}

/// Every role of a store, and readiness: what a back end implements.
#[async_trait]
pub trait Store: ScorerStore + SavedObjects + Analytics + Deliveries {
    /// Whether the store answers (for `/ready`).
    async fn check(&self) -> Result<(), StoreError>;
}

/// The profiles of `rows` (newest versions) that count toward `account_id`.
pub fn members(rows: Vec<ProfileRow>, account_id: &str) -> Result<Vec<Profile>, StoreError> {
    let mut out = Vec::new();
    for row in rows {
        let p = Profile::try_from(row)?;
        if leadstream_schemas::account::counts_toward_account(&p, account_id) {
            out.push(p);
        }
    }
    out.sort_by(|a, b| a.profile_id.cmp(&b.profile_id));
    Ok(out)
}

/// One row per (profile, crossing), the first crossing first (replays collapse).
pub fn distinct_handoffs(rows: Vec<HandoffRow>) -> Vec<HandoffRow> {
    let mut by: std::collections::BTreeMap<(String, u32), HandoffRow> = Default::default();
    for row in rows {
        by.entry((row.profile_id.clone(), row.crossing))
            .or_insert(row);
    }
    by.into_values().collect()
}

/// One row per merged id: the earliest merge (a merge is never undone; replays repeat it).
pub fn distinct_identities(rows: Vec<IdentityRow>) -> Vec<IdentityRow> {
    let mut by: HashMap<String, IdentityRow> = HashMap::new();
    for row in rows {
        match by.get(&row.id) {
            Some(have) if have.merged_at_ms <= row.merged_at_ms => {}
            _ => {
                by.insert(row.id.clone(), row);
            }
        }
    }
    let mut out: Vec<IdentityRow> = by.into_values().collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Drops repeated message ids from rows ordered by (time, message id), keeping at most `limit`.
pub fn distinct_messages(rows: Vec<EventRow>, limit: usize) -> Vec<EventRow> {
    let mut out: Vec<EventRow> = Vec::with_capacity(limit);
    for row in rows {
        if out.len() == limit {
            break;
        }
        if out.last().is_some_and(|l| l.message_id == row.message_id) {
            continue;
        }
        out.push(row);
    }
    out
}

/// Migration cells from `(from, to, people)` rows, ordered by segment rank (`none` last).
pub fn moves(rows: Vec<(String, String, u64)>) -> Vec<leadstream_schemas::rfm::Move> {
    let rank = |s: &str| {
        leadstream_schemas::rfm::SEGMENTS
            .iter()
            .position(|x| *x == s)
            .unwrap_or(usize::MAX)
    };
    let mut out: Vec<_> = rows
        .into_iter()
        .map(|(from, to, people)| leadstream_schemas::rfm::Move { from, to, people })
        .collect();
    out.sort_by_key(|m| (rank(&m.from), rank(&m.to)));
    out
}

/// The newest version of each object, deleted ones left out, by name.
pub fn latest_objects(rows: Vec<ObjectRow>) -> Vec<ObjectRow> {
    let mut by: HashMap<String, ObjectRow> = HashMap::new();
    for row in rows {
        match by.get(&row.id) {
            Some(have) if have.version >= row.version => {}
            _ => {
                by.insert(row.id.clone(), row);
            }
        }
    }
    let mut out: Vec<ObjectRow> = by.into_values().filter(|r| r.deleted == 0).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    out
}

/// A row of one profile version.
pub trait Versioned {
    fn profile_key(&self) -> (String, String);
    fn version(&self) -> u64;
}

impl Versioned for ProfileRow {
    fn profile_key(&self) -> (String, String) {
        (self.workspace.clone(), self.profile_id.clone())
    }
    fn version(&self) -> u64 {
        self.version
    }
}

impl Versioned for StateRow {
    fn profile_key(&self) -> (String, String) {
        (self.workspace.clone(), self.profile_id.clone())
    }
    fn version(&self) -> u64 {
        self.version
    }
}

/// Keeps the highest version of each profile.
pub fn latest_versions<R: Versioned>(rows: impl IntoIterator<Item = R>) -> Vec<R> {
    let mut latest: HashMap<(String, String), R> = HashMap::new();
    for row in rows {
        let key = row.profile_key();
        match latest.get(&key) {
            Some(have) if have.version() >= row.version() => {}
            _ => {
                latest.insert(key, row);
            }
        }
    }
    latest.into_values().collect()
}

/// Newest first (and within one event, last change first), one row per (at, message, score,
/// rule), at most `limit`.
pub fn distinct_changes(mut rows: Vec<ScoreChangeRow>, limit: usize) -> Vec<ScoreChangeRow> {
    rows.sort_by(|a, b| (b.at_ms, &b.message_id, b.seq).cmp(&(a.at_ms, &a.message_id, a.seq)));
    rows.dedup_by(|a, b| {
        (a.at_ms, &a.message_id, &a.score, &a.rule) == (b.at_ms, &b.message_id, &b.score, &b.rule)
    });
    rows.truncate(limit);
    rows
}
