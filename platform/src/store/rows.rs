//! The rows both stores hold, column for column.

use leadstream_schemas::{Event, EventKind, LifecycleStage, LogRecord, Profile};
use serde::{Deserialize, Serialize};

use super::StoreError;

/// One stored event. JSON-valued fields are JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct EventRow {
    pub workspace: String,
    pub message_id: String,
    pub profile_id: String,
    pub anonymous_id: String,
    pub user_id: String,
    pub event_type: String,
    pub kind: String,
    pub event: String,
    pub properties: String,
    pub traits: String,
    pub context: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub received_at_ms: i64,
    /// What re-scoring the history needs besides: the `group` call's account, the `alias` call's
    /// previous id, and the collector's enrichment (JSON: the bot flag, parsed user agent, …).
    pub group_id: String,
    pub previous_id: String,
    pub enrichment: String,
    /// `context.campaign.name` (the UTM campaign) and the `promo_code` (or `coupon`) property:
    /// what campaigns attribute responses by.
    pub campaign: String,
    pub promo_code: String,
    /// The event's money ([`EventKind::money`]): a purchase's value by Segment's fallbacks
    /// (`revenue`, `total`, `value`, `products`), a refund's as a negative amount, else 0.
    pub revenue: f64,
}

impl EventRow {
    /// The row for a log record, attributed to `profile_id`.
    pub fn from_record(record: &LogRecord, profile_id: &str) -> EventRow {
        let e = &record.event;
        let ms =
            |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp_millis()).unwrap_or(0);
        let kind = EventKind::classify(e);
        EventRow {
            workspace: record.workspace.clone(),
            message_id: e.message_id.clone().unwrap_or_default(),
            profile_id: profile_id.to_string(),
            anonymous_id: e.anonymous_id.clone().unwrap_or_default(),
            user_id: e.user_id.clone().unwrap_or_default(),
            event_type: e.event_type.as_str().to_string(),
            kind: kind.key().to_string(),
            event: e
                .event
                .clone()
                .or_else(|| e.name.clone())
                .unwrap_or_default(),
            properties: serde_json::to_string(&e.properties).unwrap_or_default(),
            traits: serde_json::to_string(&e.traits).unwrap_or_default(),
            context: serde_json::to_string(&e.context).unwrap_or_default(),
            timestamp_ms: ms(e.event_time()),
            received_at_ms: ms(e.received_at),
            group_id: e.group_id.clone().unwrap_or_default(),
            previous_id: e.previous_id.clone().unwrap_or_default(),
            enrichment: e
                .enrichment
                .as_ref()
                .and_then(|x| serde_json::to_string(x).ok())
                .unwrap_or_default(),
            campaign: e
                .context
                .campaign
                .as_ref()
                .and_then(|c| c.name.clone())
                .unwrap_or_default(),
            promo_code: ["promo_code", "coupon"]
                .iter()
                .find_map(|k| e.properties.get(*k).and_then(|v| v.as_str()))
                .unwrap_or_default()
                .to_string(),
            revenue: kind.money(&e.properties),
        }
    }

    /// The event again, as the scorer applied it (for re-scoring the stored history). Rows
    /// written before a column existed give what they have: no enrichment means not a bot.
    pub fn to_event(&self) -> Result<Event, StoreError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Invalid(format!(
                "event {}/{}: {what}: {e}",
                self.workspace, self.message_id
            ))
        };
        let json = |text: &str, what: &str| -> Result<serde_json::Value, StoreError> {
            if text.is_empty() {
                Ok(serde_json::Value::Object(Default::default()))
            } else {
                serde_json::from_str(text).map_err(|e| bad(what, &e))
            }
        };
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms);
        let mut v = serde_json::json!({
            "type": self.event_type,
            "properties": json(&self.properties, "properties")?,
            "traits": json(&self.traits, "traits")?,
            "context": json(&self.context, "context")?,
        });
        let obj = v
            .as_object_mut()
            .ok_or_else(|| bad("event", &"not an object"))?;
        for (key, value) in [
            ("messageId", some(&self.message_id)),
            ("anonymousId", some(&self.anonymous_id)),
            ("userId", some(&self.user_id)),
            ("groupId", some(&self.group_id)),
            ("previousId", some(&self.previous_id)),
            ("workspace", some(&self.workspace)),
        ] {
            if let Some(value) = value {
                obj.insert(key.into(), value.into());
            }
        }
        if !self.event.is_empty() {
            let key = if self.event_type == "track" {
                "event"
            } else {
                "name"
            };
            obj.insert(key.into(), self.event.clone().into());
        }
        if let Some(t) = time(self.timestamp_ms) {
            obj.insert("timestamp".into(), t.to_rfc3339().into());
        }
        if self.received_at_ms > 0
            && let Some(t) = time(self.received_at_ms)
        {
            obj.insert("receivedAt".into(), t.to_rfc3339().into());
        }
        if !self.enrichment.is_empty() {
            obj.insert("enrichment".into(), json(&self.enrichment, "enrichment")?);
        }
        serde_json::from_value(v).map_err(|e| bad("event", &e))
    }
}

/// One stored profile version. `traits` and `counts` are JSON text; `doc` is the whole published
/// [`Profile`] as JSON and `state` the scorer's own bookkeeping (JSON, opaque to readers). The
/// flat columns are what queries filter and sort on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct ProfileRow {
    pub workspace: String,
    pub profile_id: String,
    pub version: u64,
    pub traits: String,
    pub counts: String,
    pub event_count: u64,
    pub score: f64,
    pub lifecycle_stage: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub updated_at_ms: i64,
    pub grade: String,
    pub purchase_count: u64,
    pub revenue: f64,
    pub last_purchase_ms: i64,
    pub doc: String,
    pub state: String,
    /// The account (`groupId`) the person belongs to; empty when none.
    pub account: String,
    /// The account's traits (JSON) as of the person's latest `group` call, and when that was.
    pub account_traits: String,
    pub account_at_ms: i64,
    /// The profile this one was merged into; empty when it stands on its own.
    pub merged_into: String,
}

impl ProfileRow {
    /// The row for a profile version, with the scorer's `state` alongside.
    pub fn new(p: &Profile, state: String) -> ProfileRow {
        ProfileRow {
            state,
            ..ProfileRow::from(p)
        }
    }
}

/// One explained score change: which rule, for which event, how many points, before and after.
/// Rows are unique by (workspace, profile_id, at_ms, message_id, score, rule); a replay after a
/// crash may write one twice, which readers collapse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct ScoreChangeRow {
    pub workspace: String,
    pub profile_id: String,
    pub at_ms: i64,
    pub message_id: String,
    /// The order of the changes one event made.
    pub seq: u32,
    pub kind: String,
    pub event: String,
    pub score: String,
    /// A rule's name, or `decay` / `recycling`.
    pub rule: String,
    pub points: f64,
    pub before: f64,
    pub after: f64,
    /// The model's digest.
    pub model: String,
}

impl From<&Profile> for ProfileRow {
    fn from(p: &Profile) -> Self {
        ProfileRow {
            workspace: p.workspace.clone(),
            profile_id: p.profile_id.clone(),
            version: p.version,
            traits: serde_json::to_string(&p.traits).unwrap_or_default(),
            counts: serde_json::to_string(&p.counts).unwrap_or_default(),
            event_count: p.event_count,
            score: p.score,
            lifecycle_stage: p.lifecycle_stage.as_str().to_string(),
            first_seen_ms: p.first_seen_ms,
            last_seen_ms: p.last_seen_ms,
            updated_at_ms: p.updated_at_ms,
            grade: p.grade.clone().unwrap_or_default(),
            purchase_count: p.purchases.count,
            revenue: p.purchases.revenue,
            last_purchase_ms: p.purchases.last_purchase_ms,
            doc: serde_json::to_string(p).unwrap_or_default(),
            state: String::new(),
            account: p.account.clone().unwrap_or_default(),
            account_traits: if p.account_traits.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&p.account_traits).unwrap_or_default()
            },
            account_at_ms: p.account_at_ms,
            merged_into: p.merged_into.clone().unwrap_or_default(),
        }
    }
}

impl TryFrom<ProfileRow> for Profile {
    type Error = StoreError;
    fn try_from(r: ProfileRow) -> Result<Self, StoreError> {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Invalid(format!(
                "profile {}/{}: {what}: {e}",
                r.workspace, r.profile_id
            ))
        };
        if !r.doc.is_empty() {
            let mut p: Profile = serde_json::from_str(&r.doc).map_err(|e| bad("doc", &e))?;
            p.version = r.version;
            return Ok(p);
        }
        let traits = serde_json::from_str(&r.traits).map_err(|e| bad("traits", &e))?;
        let counts = serde_json::from_str(&r.counts).map_err(|e| bad("counts", &e))?;
        let lifecycle_stage = LifecycleStage::parse(&r.lifecycle_stage)
            .ok_or_else(|| bad("lifecycle_stage", &r.lifecycle_stage))?;
        Ok(Profile {
            version: r.version,
            traits,
            counts,
            event_count: r.event_count,
            score: r.score,
            lifecycle_stage,
            first_seen_ms: r.first_seen_ms,
            last_seen_ms: r.last_seen_ms,
            updated_at_ms: r.updated_at_ms,
            ..Profile::new(r.workspace, r.profile_id)
        })
    }
}

/// One delivery of a webhook call to a CRM that is not (yet) through: parked after its retries
/// ran out, until an operator replays it. Versioned: the newest row per (workspace, id) is the
/// delivery's state.
#[derive(
    Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row, schemars::JsonSchema,
)]
pub struct DeliveryRow {
    pub workspace: String,
    /// `{idempotency key with `/` as `:`}@{webhook}`.
    pub id: String,
    pub webhook: String,
    /// `lead.qualified` or `lead.activity`.
    pub kind: String,
    pub profile_id: String,
    pub idempotency_key: String,
    /// The JSON body as sent (already mapped to the CRM's fields).
    pub body: String,
    pub attempts: u32,
    /// `parked`, `delivered` (after a replay).
    pub status: String,
    pub last_error: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub version: u64,
}

/// Keeps the newest version of each delivery.
pub fn latest_deliveries(rows: impl IntoIterator<Item = DeliveryRow>) -> Vec<DeliveryRow> {
    let mut latest: std::collections::HashMap<(String, String), DeliveryRow> =
        std::collections::HashMap::new();
    for row in rows {
        let key = (row.workspace.clone(), row.id.clone());
        match latest.get(&key) {
            Some(have) if have.version >= row.version => {}
            _ => {
                latest.insert(key, row);
            }
        }
    }
    let mut out: Vec<DeliveryRow> = latest.into_values().collect();
    out.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(a.id.cmp(&b.id)));
    out
}

/// One account of the ranking, as a store's aggregate query returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct AccountSummaryRow {
    pub account_id: String,
    /// JSON text: the traits of the most recent `group` call among the members.
    pub traits: String,
    pub people: u64,
    pub score: f64,
    pub max_score: f64,
    pub qualified_people: u64,
    pub event_count: u64,
    pub revenue: f64,
    pub last_seen_ms: i64,
}

impl From<AccountSummaryRow> for leadstream_schemas::AccountSummary {
    fn from(r: AccountSummaryRow) -> Self {
        let traits: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&r.traits).unwrap_or_default();
        leadstream_schemas::AccountSummary {
            account_id: r.account_id,
            name: traits
                .get("name")
                .and_then(serde_json::Value::as_str)
                .map(str::to_string),
            people: r.people,
            score: round2(r.score),
            max_score: round2(r.max_score),
            qualified_people: r.qualified_people,
            event_count: r.event_count,
            revenue: round2(r.revenue),
            last_seen_ms: r.last_seen_ms,
        }
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// One hand-off to sales: the `lead.qualified` record as it went out. Unique by (workspace,
/// profile_id, crossing); a replay after a crash writes the same row again, which readers collapse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct HandoffRow {
    pub workspace: String,
    pub profile_id: String,
    pub crossing: u32,
    pub qualified_at_ms: i64,
    pub score_name: String,
    pub score: f64,
    pub threshold: f64,
    pub grade: String,
    pub model: String,
    /// The whole `lead.qualified` record (JSON).
    pub record: String,
}

/// One resolved identity: the anonymous id (or alias) `id` is the person `profile_id` since
/// `merged_at_ms`. Unique by (workspace, id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct IdentityRow {
    pub workspace: String,
    pub id: String,
    pub profile_id: String,
    pub merged_at_ms: i64,
}

/// A saved object of the query API (a segment, a list, a snapshot, a campaign): its kind, names
/// and a JSON body whose shape the kind decides. Versioned; the newest row per (workspace, kind,
/// id) is the object, and a row with `deleted = 1` removes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct ObjectRow {
    pub workspace: String,
    pub kind: String,
    pub id: String,
    pub name: String,
    pub description: String,
    pub definition: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub version: u64,
    pub deleted: u8,
}

/// One change to a member set (a list's members, a snapshot's): the newest row per (workspace,
/// set, member) decides, and `removed = 1` takes the member out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct SetMemberRow {
    pub workspace: String,
    pub set_id: String,
    pub member_id: String,
    pub version: u64,
    pub removed: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_event_reads_back_as_the_scorer_applied_it() {
        let events = [
            serde_json::json!({"type": "track", "userId": "u", "anonymousId": "a", "event": "Email Clicked",
                "messageId": "m1", "properties": {"email_id": "e", "link_url": "https://x.io"},
                "context": {"campaign": {"source": "news"}, "page": {"url": "https://x.io/p"}},
                "timestamp": "2026-11-01T10:00:00.123Z", "receivedAt": "2026-11-01T10:00:01Z",
                "enrichment": {"bot": true}}),
            serde_json::json!({"type": "group", "userId": "u", "groupId": "acme", "traits": {"name": "Acme"},
                "messageId": "m2", "timestamp": "2026-11-01T10:00:00Z"}),
            serde_json::json!({"type": "alias", "userId": "u", "previousId": "old", "messageId": "m3",
                "timestamp": "2026-11-01T10:00:00Z"}),
            serde_json::json!({"type": "page", "anonymousId": "a", "name": "Pricing", "messageId": "m4",
                "timestamp": "2026-11-01T10:00:00Z"}),
        ];
        for json in events {
            let event: Event = serde_json::from_value(json.clone()).expect("event");
            let row = EventRow::from_record(&LogRecord::new("w", event.clone()), "u");
            let back = row.to_event().expect("reads back");
            assert_eq!(back.event_type, event.event_type, "{json}");
            assert_eq!(
                EventKind::classify(&back),
                EventKind::classify(&event),
                "{json}"
            );
            assert_eq!(back.event_time(), event.event_time(), "{json}");
            assert_eq!(back.message_id, event.message_id, "{json}");
            assert_eq!(
                (&back.user_id, &back.anonymous_id),
                (&event.user_id, &event.anonymous_id)
            );
            assert_eq!(
                (&back.group_id, &back.previous_id),
                (&event.group_id, &event.previous_id)
            );
            assert_eq!(
                (&back.event, &back.name),
                (&event.event, &event.name),
                "{json}"
            );
            assert_eq!(back.properties, event.properties, "{json}");
            assert_eq!(back.traits, event.traits, "{json}");
            assert_eq!(back.context, event.context, "{json}");
            assert_eq!(
                back.enrichment.as_ref().map(|e| e.bot),
                event.enrichment.as_ref().map(|e| e.bot),
                "{json}"
            );
        }
    }
}
