//! `GET /v1/overview?from=&to=`: the workspace at a glance, for the console's first page: events
//! per day and channel, new people and hand-offs to sales per day (in the range), and the people
//! now: the score distribution, the grade mix and the lifecycle stages.
//!
//! `from` and `to` are milliseconds since the epoch, `YYYY-MM-DD` (midnight UTC) or RFC 3339;
//! by default the 30 days up to now. Days are UTC; every day of the range is present (zeros
//! included).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use leadstream_schemas::campaign::CampaignSpec;
use leadstream_schemas::kinds::EventKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Workspace;
use crate::error::QueryError;
use crate::extract::Params;
use crate::objects;
use crate::router::AppState;
use crate::routes::rfm::time;

const DAY_MS: i64 = 86_400_000;
/// Longest range one overview covers.
pub const MAX_DAYS: i64 = 3660;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverviewQuery {
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Bucket {
    /// `<0`, `0–9`, …, `90–99`, `100+`.
    pub label: String,
    pub people: u64,
}

/// A campaign's responses in the range: events with one of its UTM campaigns or promo codes.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CampaignResponses {
    pub campaign_id: String,
    pub name: String,
    pub channel: String,
    pub responses: u64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Overview {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Every UTC day of the range, in order.
    pub days: Vec<String>,
    /// Events per channel (web, email, sms, forms, events, commerce, product, crm, other), one
    /// number per day of `days`.
    pub events_by_channel: BTreeMap<String, Vec<u64>>,
    /// Events per kind in the range.
    pub events_by_kind: BTreeMap<String, u64>,
    pub events: u64,
    /// People first seen per day, one number per day of `days`.
    pub new_people: Vec<u64>,
    /// Marketing-qualified leads handed to sales per day (each crossing once).
    pub handoffs: Vec<u64>,
    /// People now (current, not merged into another).
    pub people: u64,
    /// The qualifying score's distribution now, in buckets of 10.
    pub score_histogram: Vec<Bucket>,
    /// People per fit grade now (`none`: no grade yet).
    pub grades: BTreeMap<String, u64>,
    /// People per lifecycle stage now.
    pub stages: BTreeMap<String, u64>,
    /// The campaigns with responses in the range, the most first (at most 10).
    pub top_campaigns: Vec<CampaignResponses>,
}

fn day_name(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn bucket_label(b: i64) -> String {
    match b {
        ..0 => "<0".into(),
        10.. => "100+".into(),
        b => format!("{}–{}", b * 10, b * 10 + 9),
    }
}

pub async fn overview(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Params(q): Params<OverviewQuery>,
) -> Result<Json<Overview>, QueryError> {
    let to_ms = match &q.to {
        Some(t) => time("to", &Value::String(t.clone()))?,
        None => objects::now_ms(),
    };
    let from_ms = match &q.from {
        Some(t) => time("from", &Value::String(t.clone()))?,
        None => to_ms - 30 * DAY_MS,
    };
    if from_ms >= to_ms {
        return Err(QueryError::InvalidField {
            field: "from".into(),
            problem: "must be before `to`".into(),
        });
    }
    if to_ms - from_ms > MAX_DAYS * DAY_MS {
        return Err(QueryError::InvalidField {
            field: "from".into(),
            problem: format!("the range may cover at most {MAX_DAYS} days"),
        });
    }
    let (rows, campaigns) = tokio::join!(
        state.store.overview(&workspace, from_ms, to_ms),
        objects::CAMPAIGNS.all(&*state.store, &workspace),
    );
    let (rows, campaigns) = (rows?, campaigns?);
    let mut top_campaigns: Vec<CampaignResponses> = campaigns
        .iter()
        .filter_map(|row| {
            let spec: CampaignSpec = serde_json::from_str(&row.definition).ok()?;
            let responses = rows
                .campaign_events
                .iter()
                .filter(|(c, p, _)| spec.utm_campaigns.contains(c) || spec.promo_codes.contains(p))
                .map(|(_, _, n)| n)
                .sum();
            (responses > 0).then(|| CampaignResponses {
                campaign_id: row.id.clone(),
                name: spec.name,
                channel: spec.channel,
                responses,
            })
        })
        .collect();
    top_campaigns.sort_by(|a, b| b.responses.cmp(&a.responses).then(a.name.cmp(&b.name)));
    top_campaigns.truncate(10);
    let first = from_ms.div_euclid(DAY_MS);
    let last = (to_ms - 1).div_euclid(DAY_MS);
    let n = usize::try_from(last - first + 1).unwrap_or(0);
    let at = |day: i64| usize::try_from(day - first).ok().filter(|i| *i < n);
    let days = (first..=last).map(day_name).collect();

    let mut events_by_channel: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut events_by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut events = 0;
    for (day, kind, count) in &rows.events {
        let channel = EventKind::from_key(kind)
            .map_or("other", leadstream_scoring::profile::state::channel_of);
        if let Some(i) = at(*day) {
            events_by_channel
                .entry(channel.to_string())
                .or_insert_with(|| vec![0; n])[i] += count;
        }
        *events_by_kind.entry(kind.clone()).or_default() += count;
        events += count;
    }
    let per_day = |pairs: &[(i64, u64)]| {
        let mut v = vec![0; n];
        for (day, count) in pairs {
            if let Some(i) = at(*day) {
                v[i] += count;
            }
        }
        v
    };
    let mut histogram: BTreeMap<i64, u64> = (0..=10).map(|b| (b, 0)).collect();
    let mut grades: BTreeMap<String, u64> = ["A", "B", "C", "D", "E", "F", "none"]
        .iter()
        .map(|g| ((*g).to_string(), 0))
        .collect();
    let mut stages: BTreeMap<String, u64> = BTreeMap::new();
    let mut people = 0;
    for (bucket, grade, stage, count) in &rows.people {
        *histogram.entry(*bucket).or_default() += count;
        let grade = if grade.is_empty() { "none" } else { grade };
        *grades.entry(grade.to_string()).or_default() += count;
        *stages.entry(stage.clone()).or_default() += count;
        people += count;
    }
    Ok(Json(Overview {
        from_ms,
        to_ms,
        days,
        events_by_channel,
        events_by_kind,
        events,
        new_people: per_day(&rows.new_people),
        handoffs: per_day(&rows.handoffs),
        people,
        score_histogram: histogram
            .into_iter()
            .map(|(b, people)| Bucket {
                label: bucket_label(b),
                people,
            })
            .collect(),
        grades,
        stages,
        top_campaigns,
    }))
}
