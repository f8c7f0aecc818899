//! API tokens issued through the API: `POST /v1/tokens` `{"name", "scope": "read"|"read_write"}`
//! answers the token once (201); `GET /v1/tokens` lists them (names, scopes, last four
//! characters); `DELETE /v1/tokens/{id}` revokes one. Only read-write tokens manage tokens; the
//! store keeps SHA-256 hashes only.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leadstream_platform::store::ObjectRow;
use leadstream_platform::workspaces::{Scope, hash_token};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::auth::{ISSUED_PREFIX, StoredToken, Writer};
use crate::error::QueryError;
use crate::extract::parse;
use crate::objects::{self, TOKENS};
use crate::router::AppState;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    pub scope: Scope,
    /// Days until the token stops working (1 to 3,650); none: until revoked.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Token {
    pub id: String,
    pub name: String,
    pub scope: Scope,
    /// The last four characters.
    pub hint: String,
    pub created_ms: i64,
    /// When it stops working (Unix ms); none: when revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
    /// The token itself: shown in the answer that creates it, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

fn shown(row: &ObjectRow, token: Option<String>) -> Option<Token> {
    let stored: StoredToken = serde_json::from_str(&row.definition).ok()?;
    Some(Token {
        id: row.id.clone(),
        name: row.name.clone(),
        scope: stored.scope,
        hint: stored.hint,
        created_ms: row.created_ms,
        expires_ms: stored.expires_ms,
        token,
    })
}

pub async fn create(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    body: Bytes,
) -> Result<(StatusCode, Json<Token>), QueryError> {
    let req: CreateToken = parse(&body)?;
    let name = objects::check_name("name", &req.name)?;
    if let Some(days) = req.expires_in_days
        && !(1..=3650).contains(&days)
    {
        return Err(QueryError::InvalidField {
            field: "expires_in_days".into(),
            problem: "must be 1 to 3650".into(),
        });
    }
    let secret: [u8; 24] = rand::rng().random();
    let token = format!("{ISSUED_PREFIX}{workspace}.{}", hex::encode(secret));
    let stored = StoredToken {
        sha256: hash_token(&token),
        scope: req.scope,
        hint: token[token.len() - 4..].to_string(),
        expires_ms: req
            .expires_in_days
            .map(|d| chrono::Utc::now().timestamp_millis() + i64::from(d) * 86_400_000),
    };
    let row = TOKENS
        .create(
            &*state.store,
            &workspace,
            name,
            String::new(),
            objects::definition(&stored)?,
        )
        .await?;
    state.tokens.insert(&row.workspace, &stored);
    let shown = shown(&row, Some(token)).ok_or_else(|| QueryError::Internal("token".into()))?;
    Ok((StatusCode::CREATED, Json(shown)))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Tokens {
    pub tokens: Vec<Token>,
}

pub async fn list(
    State(state): State<AppState>,
    Writer(workspace): Writer,
) -> Result<Json<Tokens>, QueryError> {
    let rows = TOKENS.all(&*state.store, &workspace).await?;
    Ok(Json(Tokens {
        tokens: rows.iter().filter_map(|r| shown(r, None)).collect(),
    }))
}

pub async fn revoke(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, QueryError> {
    let row = TOKENS.delete(&*state.store, &workspace, &id, None).await?;
    if let Ok(stored) = serde_json::from_str::<StoredToken>(&row.definition) {
        state.tokens.forget(&stored.sha256);
    }
    Ok(StatusCode::NO_CONTENT)
}
