//! Bearer tokens (or the console's session cookie, which holds one). A token belongs to one
//! workspace, and every read is scoped to it. A token is
//! read-only ([`Scope::Read`]) or read-write; handlers that change anything take [`Writer`],
//! which answers 403 to a read-only token.
//!
//! Tokens come from the config (`api_tokens`, `read_tokens` and their `…_sha256` forms), from
//! the embedded registry file, or from `POST /v1/tokens` (issued tokens look like
//! `lsk_<workspace>.<secret>` and are kept in the store as SHA-256 hashes only, with an optional
//! expiry). Issued tokens are held in memory ([`leadstream_platform::auth::IssuedTokens`]): a
//! revoked token stops working at once on the instance that revoked it, and within
//! [`leadstream_platform::auth::REFRESH`] on others; checking an unknown one costs no I/O.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use leadstream_platform::auth::Issued;
pub use leadstream_platform::auth::{ISSUED_PREFIX, StoredToken, TOKEN};
use leadstream_platform::workspaces::Scope;

use crate::error::QueryError;
use crate::router::AppState;

/// The workspace the request's token belongs to (any scope).
pub struct Workspace(pub String);

/// The workspace of a read-write token.
pub struct Writer(pub String);

/// The workspace and scope of the request's token (any scope), for answers that show more to
/// read-write tokens.
pub struct Caller(pub String, pub Scope);

/// The request's token: the `Authorization: Bearer` header, or (the console) the session cookie
/// on a request that says it comes from the console's own pages ([`crate::console`]).
fn request_token(parts: &Parts) -> Result<String, QueryError> {
    if let Some(value) = parts.headers.get(AUTHORIZATION) {
        let value = value.to_str().map_err(|_| QueryError::MissingToken)?;
        let (scheme, token) = value.split_once(' ').ok_or(QueryError::MissingToken)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(QueryError::MissingToken);
        }
        return Ok(token.to_string());
    }
    crate::console::session_token(&parts.headers).ok_or(QueryError::MissingToken)
}

/// The workspace and scope of a token, or why not.
pub(crate) async fn check_token(
    state: &AppState,
    token: &str,
) -> Result<(String, Scope), QueryError> {
    if let Some((w, scope)) = state.registry.token(token) {
        return Ok((w.to_string(), scope));
    }
    // Issued tokens are held in memory: a miss reads nothing.
    match state
        .tokens
        .check(token, chrono::Utc::now().timestamp_millis())
    {
        Issued::Valid { workspace, scope } => Ok((workspace, scope)),
        Issued::Expired => Err(QueryError::ExpiredToken),
        Issued::Unknown => Err(QueryError::UnknownToken),
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<(String, Scope), QueryError> {
    let token = request_token(parts)?;
    check_token(state, &token).await
}

impl FromRequestParts<AppState> for Workspace {
    type Rejection = QueryError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state).await.map(|(w, _)| Workspace(w))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = QueryError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state)
            .await
            .map(|(w, scope)| Caller(w, scope))
    }
}

impl FromRequestParts<AppState> for Writer {
    type Rejection = QueryError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match authenticate(parts, state).await? {
            (w, Scope::ReadWrite) => Ok(Writer(w)),
            (_, Scope::Read) => Err(QueryError::ReadOnlyToken),
        }
    }
}
