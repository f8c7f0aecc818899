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

pub async fn what_if(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    body: Bytes,
) -> Result<Json<Report>, QueryError> {
    let req: WhatIfRequest = parse(&body)?;
    let model = Model::parse(&req.model).map_err(|e| QueryError::InvalidField {
        field: match e.line {
            Some(line) => format!("model (line {line})"),
            None => "model".into(),
        },
        problem: e.message.clone(),
    })?;
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
