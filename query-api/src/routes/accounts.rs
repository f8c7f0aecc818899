//! Accounts (companies) in the token's workspace, rolled up from the people `group` calls tie to
//! them: `GET /v1/accounts?limit=50` ranks them by account score (the sum of the members'
//! qualifying scores); `GET /v1/accounts/{id}` is one account's whole profile with its top people.

use axum::Json;
use axum::extract::{Path, State};
use leadstream_schemas::{Account, AccountSummary};
use serde::{Deserialize, Serialize};

use crate::auth::Workspace;
use crate::error::QueryError;
use crate::extract::Params;
use crate::extract::check_id;
use crate::router::AppState;

const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Accounts {
    pub accounts: Vec<AccountSummary>,
}

pub async fn list(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Params(q): Params<ListQuery>,
) -> Result<Json<Accounts>, QueryError> {
    let limit = crate::extract::limit(q.limit, 50, MAX_LIMIT)?;
    let accounts = state.store.accounts(&workspace, limit).await?;
    Ok(Json(Accounts { accounts }))
}

pub async fn get_account(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Path(id): Path<String>,
) -> Result<Json<Account>, QueryError> {
    check_id(&id)?;
    let members = state.store.account_members(&workspace, &id).await?;
    Account::roll_up(&workspace, &id, &members)
        .map(Json)
        .ok_or(QueryError::NotFound {
            what: "account",
            id,
        })
}
