//! `POST /v1/models/what-if`: a changed scoring model run over the workspace's stored history,
//! reported beside today's live profiles (how many leads it would have handed to sales, when, and
//! how each person's score differs), without touching anything live.
//!
//! Body: `{"model": "<the model file, TOML>", "from_ms": …, "to_ms": …, "top": 50}`; `from_ms` and
//! `to_ms` bound the history (default: all of it), `top` how many people the report names.
//! A model with an error is a 400 naming the line; a history longer than
//! [`MAX_EVENTS`] is a 422 asking for a narrower window.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use leadstream_scoring::Model;
use leadstream_scoring::whatif::{self, Report};
use serde::Deserialize;

use crate::auth::Workspace;
use crate::error::QueryError;
use crate::extract::parse;
use crate::router::AppState;

/// The most stored events one what-if run reads (about 1 KiB of memory each while it runs).
pub const MAX_EVENTS: usize = 2_000_000;
const MAX_TOP: usize = 1000;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    pub model: String,
    #[serde(default)]
    pub from_ms: Option<i64>,
    #[serde(default)]
    pub to_ms: Option<i64>,
    #[serde(default)]
    pub top: Option<usize>,
}

/// A model as `GET /v1/models/live` and `POST /v1/models/check` show it.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ModelInfo {
    /// `default` (the model that ships with leadstream) or `file` (`scorer.model`).
    pub source: &'static str,
    /// The file, when `source` is `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// SHA-256 of the text.
    pub digest: String,
    /// The model file's text (TOML).
    pub text: String,
    pub scores: Vec<String>,
    pub rules: usize,
    pub fit_rules: usize,
    /// The score that qualifies a lead, and its threshold.
    pub score_name: String,
    pub threshold: f64,
}

fn info(source: &'static str, path: Option<String>, text: String, model: &Model) -> ModelInfo {
    ModelInfo {
        source,
        path,
        digest: model.digest.clone(),
        scores: model.scores.iter().map(|s| s.name.clone()).collect(),
        rules: model.rules.len(),
        fit_rules: model.fit.len(),
        score_name: model
            .scores
            .get(model.qualification.score)
            .map(|s| s.name.clone())
            .unwrap_or_default(),
        threshold: model.qualification.threshold,
        text,
    }
}

fn parsed(text: &str) -> Result<Model, QueryError> {
    Model::parse(text).map_err(|e| QueryError::InvalidField {
        field: match e.line {
            Some(line) => format!("model (line {line})"),
            None => "model".into(),
        },
        problem: e.message.clone(),
    })
}

/// `GET /v1/models/live`: the model the scorers run, as the config names it (`scorer.model`, the
/// file read now, so a change the scorers reloaded shows), or the shipped one.
pub async fn live(
    State(state): State<AppState>,
    Workspace(_): Workspace,
) -> Result<Json<ModelInfo>, QueryError> {
    match &state.model_file {
        None => {
            let text = leadstream_scoring::model::DEFAULT_MODEL.to_string();
            let model = Model::default_model();
            Ok(Json(info("default", None, text, &model)))
        }
        Some(path) => {
            let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                QueryError::Internal(format!("scorer.model {}: {e}", path.display()))
            })?;
            let model = Model::parse(&text).map_err(|e| {
                QueryError::Internal(format!("scorer.model {}: {e}", path.display()))
            })?;
            Ok(Json(info(
                "file",
                Some(path.display().to_string()),
                text,
                &model,
            )))
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub model: String,
}

/// `POST /v1/models/check` `{"model": "…"}`: whether a model file is valid (400 naming the line
/// when not), and what it holds.
pub async fn check(Workspace(_): Workspace, body: Bytes) -> Result<Json<ModelInfo>, QueryError> {
    let req: CheckRequest = parse(&body)?;
    let model = parsed(&req.model)?;
    Ok(Json(info("file", None, req.model, &model)))
}

pub async fn what_if(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    body: Bytes,
) -> Result<Json<Report>, QueryError> {
    let req: WhatIfRequest = parse(&body)?;
    let model = parsed(&req.model)?;
    let (from_ms, to_ms) = (req.from_ms.unwrap_or(0), req.to_ms.unwrap_or(i64::MAX));
    if from_ms >= to_ms {
        return Err(QueryError::InvalidField {
            field: "to_ms".into(),
            problem: "must be after from_ms".into(),
        });
    }
    let top = crate::extract::limit(req.top, whatif::DEFAULT_TOP, MAX_TOP).map_err(|_| {
        QueryError::InvalidField {
            field: "top".into(),
            problem: format!("must be 1 to {MAX_TOP}"),
        }
    })?;
    let rows = state
        .store
        .events(&workspace, from_ms, to_ms, MAX_EVENTS + 1)
        .await?;
    if rows.len() > MAX_EVENTS {
        return Err(QueryError::Unprocessable {
            field: "from_ms".into(),
            problem: format!(
                "the history holds more than {MAX_EVENTS} events: narrow it with from_ms / to_ms"
            ),
        });
    }
    let identities: HashMap<String, String> = state
        .store
        .identities(&workspace)
        .await?
        .into_iter()
        .map(|r| (r.id, r.profile_id))
        .collect();
    let live: HashMap<String, leadstream_schemas::Profile> = state
        .store
        .workspace_profiles(&workspace)
        .await?
        .into_iter()
        .map(|p| (p.profile_id.clone(), p))
        .collect();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let report = tokio::task::spawn_blocking(move || {
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            match row.to_event() {
                Ok(e) => events.push((row.profile_id.clone(), e)),
                Err(e) => tracing::warn!(error = %e, "stored event unreadable; left out of the what-if run"),
            }
        }
        whatif::replay(
            &workspace,
            &model,
            events,
            &identities,
            &live,
            (from_ms, to_ms),
            now_ms,
            top,
        )
    })
    .await
    .map_err(|e| QueryError::Internal(e.to_string()))?;
    Ok(Json(report))
}
