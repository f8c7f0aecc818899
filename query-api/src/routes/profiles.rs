//! `GET /v1/profiles/{id}`: a person's profile in the token's workspace.

use axum::Json;
use axum::extract::{Path, State};
use leadstream_schemas::Profile;

use crate::auth::Workspace;
use crate::error::QueryError;
use crate::router::AppState;

/// Longest profile id accepted (ids are user or anonymous ids from the collector).
const MAX_ID_LEN: usize = 512;

/// Refuses an empty or overlong profile id.
pub fn check_id(id: &str) -> Result<(), QueryError> {
    if id.trim().is_empty() || id.len() > MAX_ID_LEN {
        return Err(QueryError::InvalidField {
            field: "id".into(),
            problem: format!("must be 1 to {MAX_ID_LEN} bytes"),
        });
    }
    Ok(())
}

/// The profile; for an anonymous id that was merged into a person, that person's profile (its
/// `merged_ids` lists the id).
pub async fn get_profile(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
) -> Result<Json<Profile>, QueryError> {
    check_id(&id)?;
    let profile = state.store.profile(&workspace, &id).await?;
    // An anonymous id merged into a person answers with that person's profile.
    let profile = match profile {
        Some(p) if p.merged_into.is_some() => {
            let into = p.merged_into.clone().unwrap_or_default();
            state.store.profile(&workspace, &into).await?.or(Some(p))
        }
        other => other,
    };
    profile.map(Json).ok_or(QueryError::NotFound {
        what: "profile",
        id,
    })
}
