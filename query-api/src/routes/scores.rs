//! A person's score history and "why is this person at 87".
//!
//! - `GET /v1/profiles/{id}/scores/history?limit=100&score=engagement`: the explained changes,
//!   newest first: rule, event, points, score before and after.
//! - `GET /v1/profiles/{id}/scores/why?score=engagement`: the current value and how it adds up:
//!   points per rule (decay and recycling included, as what they took away), and the events that
//!   gave the most.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};

use crate::extract::Params;
use leadstream_platform::store::ScoreChangeRow;
use serde::{Deserialize, Serialize};

use crate::auth::Workspace;
use crate::error::QueryError;
use crate::extract::check_id;
use crate::router::AppState;

const MAX_LIMIT: usize = 10_000;
/// How much history "why" adds up.
const WHY_HISTORY: usize = 100_000;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    score: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Change {
    at_ms: i64,
    score: String,
    rule: String,
    points: f64,
    before: f64,
    after: f64,
    message_id: String,
    kind: String,
    event: String,
    model: String,
}

impl From<ScoreChangeRow> for Change {
    fn from(r: ScoreChangeRow) -> Self {
        Change {
            at_ms: r.at_ms,
            score: r.score,
            rule: r.rule,
            points: r.points,
            before: r.before,
            after: r.after,
            message_id: r.message_id,
            kind: r.kind,
            event: r.event,
            model: r.model,
        }
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct History {
    profile_id: String,
    changes: Vec<Change>,
}

pub async fn history(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
    Params(q): Params<HistoryQuery>,
) -> Result<Json<History>, QueryError> {
    check_id(&id)?;
    let limit = crate::extract::limit(q.limit, 100, MAX_LIMIT)?;
    let mut rows = state
        .store
        .score_changes(
            &workspace,
            &id,
            if q.score.is_some() {
                WHY_HISTORY
            } else {
                limit
            },
        )
        .await?;
    if let Some(score) = &q.score {
        rows.retain(|r| &r.score == score);
        rows.truncate(limit);
    }
    if rows.is_empty() && state.store.profile(&workspace, &id).await?.is_none() {
        return Err(QueryError::NotFound {
            what: "profile",
            id,
        });
    }
    Ok(Json(History {
        profile_id: id,
        changes: rows.into_iter().map(Change::from).collect(),
    }))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhyQuery {
    #[serde(default)]
    score: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RuleTotal {
    rule: String,
    points: f64,
    times: u64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Why {
    profile_id: String,
    score: String,
    /// The score as of the person's last activity (what the stored profile shows).
    value: f64,
    /// Points per rule; they add up to `value`.
    by_rule: Vec<RuleTotal>,
    /// The events that gave the most points, largest first.
    top_events: Vec<Change>,
}

pub async fn why(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
    Params(q): Params<WhyQuery>,
) -> Result<Json<Why>, QueryError> {
    check_id(&id)?;
    let profile =
        state
            .store
            .profile(&workspace, &id)
            .await?
            .ok_or_else(|| QueryError::NotFound {
                what: "profile",
                id: id.clone(),
            })?;
    let score = match q.score {
        Some(s) => s,
        None => profile.score_name.clone(),
    };
    let Some(value) = profile.scores.get(&score).copied() else {
        return Err(QueryError::InvalidField {
            field: "score".into(),
            problem: format!(
                "unknown score `{score}`; this profile has {}",
                profile
                    .scores
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    };
    let mut rows = state
        .store
        .score_changes(&workspace, &id, WHY_HISTORY)
        .await?;
    rows.retain(|r| r.score == score);
    let mut totals: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for r in &rows {
        let t = totals.entry(r.rule.clone()).or_default();
        t.0 += r.points;
        t.1 += 1;
    }
    let mut by_rule: Vec<RuleTotal> = totals
        .into_iter()
        .map(|(rule, (points, times))| RuleTotal {
            rule,
            points: (points * 100.0).round() / 100.0,
            times,
        })
        .collect();
    by_rule.sort_by(|a, b| b.points.abs().total_cmp(&a.points.abs()));
    rows.retain(|r| r.points > 0.0 && r.rule != "decay" && r.rule != "recycling");
    rows.sort_by(|a, b| b.points.total_cmp(&a.points).then(b.at_ms.cmp(&a.at_ms)));
    rows.truncate(5);
    Ok(Json(Why {
        profile_id: id,
        score,
        value,
        by_rule,
        top_events: rows.into_iter().map(Change::from).collect(),
    }))
}
