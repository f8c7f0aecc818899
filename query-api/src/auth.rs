//! Bearer tokens. A token belongs to one workspace, and every read is scoped to it. A token is
//! read-only ([`Scope::Read`]) or read-write; handlers that change anything take [`Writer`],
//! which answers 403 to a read-only token.
//!
//! Tokens come from the config (`api_tokens`, `read_tokens` and their `…_sha256` forms), from
//! the embedded registry file, or from `POST /v1/tokens` (issued tokens look like
//! `lsk_<workspace>.<secret>` and are kept in the store as SHA-256 hashes only). Issued tokens
//! are looked up in the store and remembered for [`TOKEN_CACHE`]: a revoked token stops working at
//! once on the instance that revoked it, and within that time on others.

use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use dashmap::DashMap;
use leadstream_platform::store::Store;
use leadstream_platform::workspaces::{Scope, hash_token, valid_name};

use crate::error::QueryError;
use crate::router::AppState;

/// How long a token looked up in the store is remembered (found or not).
pub const TOKEN_CACHE: Duration = Duration::from_secs(30);
/// The saved-object kind of issued tokens.
pub const TOKEN: &str = "token";
/// The prefix of issued tokens.
pub const ISSUED_PREFIX: &str = "lsk_";

/// The workspace the request's token belongs to (any scope).
pub struct Workspace(pub String);

/// The workspace of a read-write token.
pub struct Writer(pub String);

/// The workspace and scope of the request's token (any scope), for answers that show more to
/// read-write tokens.
pub struct Caller(pub String, pub Scope);

/// What an issued token's stored definition holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct StoredToken {
    pub sha256: String,
    pub scope: Scope,
    /// The last four characters, to tell tokens apart.
    pub hint: String,
}

/// Issued tokens seen lately: hash → (workspace and scope if valid, when looked up).
#[derive(Default)]
pub struct TokenCache {
    seen: DashMap<String, (Option<(String, Scope)>, Instant)>,
}

impl TokenCache {
    async fn lookup(
        &self,
        store: &dyn Store,
        workspace: &str,
        token: &str,
    ) -> Result<Option<(String, Scope)>, QueryError> {
        let hash = hash_token(token);
        if let Some(entry) = self.seen.get(&hash)
            && entry.1.elapsed() < TOKEN_CACHE
        {
            return Ok(entry.0.clone());
        }
        let found = store
            .objects(workspace, TOKEN)
            .await?
            .into_iter()
            .filter_map(|r| serde_json::from_str::<StoredToken>(&r.definition).ok())
            .find(|t| t.sha256 == hash)
            .map(|t| (workspace.to_string(), t.scope));
        if self.seen.len() > 100_000 {
            self.seen.retain(|_, v| v.1.elapsed() < TOKEN_CACHE);
        }
        self.seen.insert(hash, (found.clone(), Instant::now()));
        Ok(found)
    }

    /// Forgets a token (after revoking it).
    pub fn forget(&self, sha256: &str) {
        self.seen.remove(sha256);
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<(String, Scope), QueryError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(QueryError::MissingToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(QueryError::MissingToken)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(QueryError::MissingToken);
    }
    if let Some((w, scope)) = state.registry.token(token) {
        return Ok((w.to_string(), scope));
    }
    let issued = token
        .strip_prefix(ISSUED_PREFIX)
        .and_then(|rest| rest.rsplit_once('.'))
        .filter(|(w, secret)| valid_name(w) && secret.len() >= 32);
    if let Some((workspace, _)) = issued
        && state.registry.names().iter().any(|n| n == workspace)
        && let Some(found) = state.tokens.lookup(&*state.store, workspace, token).await?
    {
        return Ok(found);
    }
    Err(QueryError::UnknownToken)
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
