//! What-if re-scoring: a changed model run over a workspace's stored history, beside today's live
//! profiles, without touching them.
//!
//! The stored events are replayed in time order through the same engine the scorer runs, each
//! attributed to the person its id resolved to (the identities table: an anonymous id merged into
//! a person counts as that person from the start). Repeated `messageId`s (a replay's duplicate
//! rows) count once. Lead recycling and won deals are events too, so they replay in order. Each
//! person's what-if score is read at the moment the live profile was last written, so the two are
//! compared at the same time; the live model over the same history gives back the live scores.

use std::collections::{BTreeMap, HashMap, HashSet};

use leadstream_schemas::{Event, LifecycleStage, Profile};
use serde::Serialize;

use crate::model::Model;
use crate::profile::engine::{self, Settings};
use crate::profile::state::{ProfileState, round2};

/// How many people a report lists by name.
pub const DEFAULT_TOP: usize = 50;

/// One person of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lead {
    pub profile_id: String,
    /// When the changed model would first have handed the lead over (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_qualified_ms: Option<i64>,
    /// When the live model first made the person marketing-qualified (the live profile's stage
    /// history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_first_qualified_ms: Option<i64>,
    /// Hand-offs the changed model would have made, and the live ones.
    pub crossings: u32,
    pub live_handoffs: u32,
    pub score: f64,
    pub live_score: f64,
    pub delta: f64,
    pub stage: LifecycleStage,
    pub live_stage: LifecycleStage,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Qualified {
    /// People the changed model would have handed to sales at least once.
    pub what_if: u64,
    /// People handed to sales live.
    pub live: u64,
    /// Handed over by the changed model only, by the live model only, by both.
    pub newly: u64,
    pub no_longer: u64,
    pub both: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScoreComparison {
    pub mean_live: f64,
    pub mean_what_if: f64,
    pub mean_delta: f64,
    pub raised: u64,
    pub lowered: u64,
    pub unchanged: u64,
}

/// What the changed model would have done.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The changed model's digest and its qualifying score and threshold.
    pub model: String,
    pub score_name: String,
    pub threshold: f64,
    pub from_ms: i64,
    pub to_ms: i64,
    pub events: u64,
    pub duplicates: u64,
    pub people: u64,
    pub qualified: Qualified,
    /// Hand-offs in total: what-if and live.
    pub handoffs: u64,
    pub live_handoffs: u64,
    /// First hand-offs per day (UTC), as the changed model would have made them.
    pub qualified_by_day: BTreeMap<String, u64>,
    /// The same people's first live qualifications per day (UTC), from their stage history.
    pub live_qualified_by_day: BTreeMap<String, u64>,
    pub scores: ScoreComparison,
    /// The people either model hands over, the earliest what-if hand-off first.
    pub leads: Vec<Lead>,
    /// The largest score differences, either way.
    pub biggest_changes: Vec<Lead>,
}

struct Person {
    state: ProfileState,
    first_qualified_ms: Option<i64>,
    crossings: u32,
}

/// Follows merges (`id → person`) to the person an id stands for today.
fn resolve<'a>(identities: &'a HashMap<String, String>, id: &'a str) -> &'a str {
    let mut id = id;
    for _ in 0..16 {
        match identities.get(id) {
            Some(into) if into != id => id = into,
            _ => break,
        }
    }
    id
}

/// Replays `events` (the stored history, oldest first; each with the profile id it was stored
/// under) with `model`, beside the `live` profiles (by profile id).
#[allow(clippy::too_many_arguments)]
pub fn replay(
    workspace: &str,
    model: &Model,
    events: impl IntoIterator<Item = (String, Event)>,
    identities: &HashMap<String, String>,
    live: &HashMap<String, Profile>,
    (from_ms, to_ms): (i64, i64),
    now_ms: i64,
    top: usize,
) -> Report {
    let settings = Settings::default();
    let mut people: HashMap<String, Person> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let (mut applied, mut duplicates) = (0u64, 0u64);
    for (stored_under, event) in events {
        if let Some(id) = &event.message_id
            && !seen.insert(id.clone())
        {
            duplicates += 1;
            continue;
        }
        let person = resolve(identities, &stored_under).to_string();
        let at = event.event_time().map_or(now_ms, |t| t.timestamp_millis());
        let p = people.entry(person).or_insert_with(|| Person {
            state: ProfileState::default(),
            first_qualified_ms: None,
            crossings: 0,
        });
        match engine::apply(&mut p.state, &event, None, model, &settings, at) {
            Ok(done) => {
                applied += 1;
                if done.handoff.is_some() {
                    p.crossings += 1;
                    let when = done.changes.last().map_or(at, |c| c.at_ms);
                    p.first_qualified_ms.get_or_insert(when);
                }
            }
            Err(_) => duplicates += 1,
        }
    }

    let score_name = model.scores[model.qualification.score].name.clone();
    let mut leads = Vec::with_capacity(people.len());
    for (id, p) in &people {
        let live_profile = live.get(id.as_str());
        let as_of = live_profile.map_or(now_ms, |l| l.updated_at_ms.max(p.state.last_seen_ms));
        let view = p.state.view(workspace, id, model, as_of);
        let score = view.scores.get(&score_name).copied().unwrap_or(0.0);
        let live_score = live_profile.map_or(0.0, |l| l.score);
        leads.push(Lead {
            profile_id: id.clone(),
            first_qualified_ms: p.first_qualified_ms,
            live_first_qualified_ms: live_profile.and_then(|l| {
                l.stage_history
                    .iter()
                    .find(|c| c.stage == LifecycleStage::Mql)
                    .map(|c| c.at_ms)
            }),
            crossings: p.crossings,
            live_handoffs: live_profile.map_or(0, |l| l.handoffs),
            score,
            live_score,
            delta: round2(score - live_score),
            stage: view.lifecycle_stage,
            live_stage: live_profile.map_or(LifecycleStage::Name, |l| l.lifecycle_stage),
        });
    }

    let mut qualified = Qualified::default();
    let mut scores = ScoreComparison::default();
    let mut qualified_by_day: BTreeMap<String, u64> = BTreeMap::new();
    let mut live_qualified_by_day: BTreeMap<String, u64> = BTreeMap::new();
    let day_of = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%Y-%m-%d").to_string())
    };
    let (mut handoffs, mut live_handoffs) = (0u64, 0u64);
    for l in &leads {
        let (would, did) = (l.crossings > 0, l.live_handoffs > 0);
        qualified.what_if += u64::from(would);
        qualified.live += u64::from(did);
        qualified.newly += u64::from(would && !did);
        qualified.no_longer += u64::from(did && !would);
        qualified.both += u64::from(would && did);
        handoffs += u64::from(l.crossings);
        live_handoffs += u64::from(l.live_handoffs);
        if let Some(day) = l.first_qualified_ms.and_then(day_of) {
            *qualified_by_day.entry(day).or_default() += 1;
        }
        if let Some(day) = l.live_first_qualified_ms.and_then(day_of) {
            *live_qualified_by_day.entry(day).or_default() += 1;
        }
        scores.mean_live += l.live_score;
        scores.mean_what_if += l.score;
        match l.delta {
            d if d > 0.0 => scores.raised += 1,
            d if d < 0.0 => scores.lowered += 1,
            _ => scores.unchanged += 1,
        }
    }
    if !leads.is_empty() {
        let n = leads.len() as f64;
        scores.mean_live = round2(scores.mean_live / n);
        scores.mean_what_if = round2(scores.mean_what_if / n);
        scores.mean_delta = round2(scores.mean_what_if - scores.mean_live);
    }

    let mut biggest = leads.clone();
    biggest.retain(|l| l.delta != 0.0);
    biggest.sort_by(|a, b| {
        b.delta
            .abs()
            .total_cmp(&a.delta.abs())
            .then_with(|| a.profile_id.cmp(&b.profile_id))
    });
    biggest.truncate(top);
    leads.retain(|l| l.crossings > 0 || l.live_handoffs > 0);
    leads.sort_by(|a, b| {
        let at = |l: &Lead| l.first_qualified_ms.unwrap_or(i64::MAX);
        at(a)
            .cmp(&at(b))
            .then_with(|| a.profile_id.cmp(&b.profile_id))
    });
    leads.truncate(top);

    Report {
        model: model.digest.clone(),
        score_name,
        threshold: model.qualification.threshold,
        from_ms,
        to_ms,
        events: applied,
        duplicates,
        people: people.len() as u64,
        qualified,
        handoffs,
        live_handoffs,
        qualified_by_day,
        live_qualified_by_day,
        scores,
        leads,
        biggest_changes: biggest,
    }
}
