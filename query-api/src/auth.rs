//! Bearer tokens. A token belongs to one workspace, and every read is scoped to it.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::QueryError;
use crate::router::AppState;

/// The workspace the request's token belongs to.
pub struct Workspace(pub String);

impl FromRequestParts<AppState> for Workspace {
    type Rejection = QueryError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(QueryError::MissingToken)?;
        let (scheme, token) = value.split_once(' ').ok_or(QueryError::MissingToken)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(QueryError::MissingToken);
        }
        state
            .registry
            .workspace_for_token(token.trim())
            .map(|w| Workspace(w.to_string()))
            .ok_or(QueryError::UnknownToken)
    }
}
