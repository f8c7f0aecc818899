//! `GET /v1/profiles/{id}/handoffs`: every hand-off of a lead to sales, the first crossing first,
//! each with the `lead.qualified` record exactly as it went to the hand-off log and the CRM.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::Value;

use crate::auth::Workspace;
use crate::error::QueryError;
use crate::extract::check_id;
use crate::router::AppState;

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Handoff {
    pub crossing: u32,
    pub qualified_at_ms: i64,
    pub score_name: String,
    pub score: f64,
    pub threshold: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    pub model: String,
    pub record: Value,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Handoffs {
    pub profile_id: String,
    pub handoffs: Vec<Handoff>,
}

pub async fn list(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
) -> Result<Json<Handoffs>, QueryError> {
    check_id(&id)?;
    // An anonymous id merged into a person answers with that person's hand-offs.
    let profile_id = match state.store.profile(&workspace, &id).await? {
        Some(p) => p.merged_into.unwrap_or(p.profile_id),
        None => {
            return Err(QueryError::NotFound {
                what: "profile",
                id,
            });
        }
    };
    let rows = state.store.handoffs(&workspace, &profile_id).await?;
    let handoffs = rows
        .into_iter()
        .map(|r| Handoff {
            crossing: r.crossing,
            qualified_at_ms: r.qualified_at_ms,
            score_name: r.score_name,
            score: r.score,
            threshold: r.threshold,
            grade: (!r.grade.is_empty()).then_some(r.grade),
            model: r.model,
            record: serde_json::from_str(&r.record).unwrap_or(Value::Null),
        })
        .collect();
    Ok(Json(Handoffs {
        profile_id,
        handoffs,
    }))
}
