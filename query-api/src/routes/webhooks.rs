//! Parked CRM webhook calls, for operators: `GET /v1/webhooks/deliveries?status=parked&limit=100`
//! lists them (newest first, with the body, attempts and last error), and
//! `POST /v1/webhooks/deliveries/{id}/replay` sends one again, exactly as the sender would (same
//! body, same `Idempotency-Key`, a fresh signature): 200 and status `delivered`, or 502 with the
//! CRM's answer and the delivery still parked.

use axum::Json;
use axum::extract::{Path, State};

use crate::extract::Params;
use leadstream_platform::store::DeliveryRow;
use leadstream_platform::webhook;
use serde::{Deserialize, Serialize};

use crate::auth::{Workspace, Writer};
use crate::error::QueryError;
use crate::router::AppState;

const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Deliveries {
    pub deliveries: Vec<DeliveryRow>,
}

pub async fn list(
    State(state): State<AppState>,
    Workspace(workspace): Workspace,
    Params(q): Params<ListQuery>,
) -> Result<Json<Deliveries>, QueryError> {
    if let Some(s) = &q.status
        && !matches!(s.as_str(), "parked" | "delivered")
    {
        return Err(QueryError::InvalidField {
            field: "status".into(),
            problem: "must be `parked` or `delivered`".into(),
        });
    }
    let limit = crate::extract::limit(q.limit, 100, MAX_LIMIT)?;
    let deliveries = state
        .store
        .deliveries(&workspace, q.status.as_deref(), limit)
        .await?;
    Ok(Json(Deliveries { deliveries }))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Replayed {
    pub id: String,
    pub status: String,
    pub attempts: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

pub async fn replay(
    State(state): State<AppState>,
    Writer(workspace): Writer,
    Path(id): Path<String>,
) -> Result<(axum::http::StatusCode, Json<Replayed>), QueryError> {
    let Some(mut row) = state
        .store
        .deliveries(&workspace, None, usize::MAX)
        .await?
        .into_iter()
        .find(|r| r.id == id)
    else {
        return Err(QueryError::NotFound {
            what: "delivery",
            id,
        });
    };
    if row.status == "delivered" {
        return Err(QueryError::Conflict {
            field: "id".into(),
            problem: format!("delivery `{id}` was already delivered"),
        });
    }
    let Some(hook) = state.crm.webhooks.iter().find(|h| h.name == row.webhook) else {
        return Err(QueryError::Conflict {
            field: "id".into(),
            problem: format!(
                "webhook `{}` is no longer configured (crm.webhooks)",
                row.webhook
            ),
        });
    };
    let outcome = webhook::deliver_once(
        &state.webhook_client,
        hook,
        &row.kind,
        &row.idempotency_key,
        row.body.as_bytes(),
    )
    .await;
    let now = chrono::Utc::now().timestamp_millis();
    row.attempts += 1;
    row.updated_ms = now;
    row.version = row.version.max(now.max(0) as u64 * 1000) + 1;
    let status = match &outcome {
        Ok(()) => {
            row.status = "delivered".into();
            row.last_error.clear();
            axum::http::StatusCode::OK
        }
        Err(f) => {
            row.last_error = f.message.clone();
            axum::http::StatusCode::BAD_GATEWAY
        }
    };
    state
        .store
        .write_deliveries(std::slice::from_ref(&row))
        .await?;
    tracing::info!(workspace, id = %row.id, status = %row.status, "parked webhook call replayed");
    Ok((
        status,
        Json(Replayed {
            id: row.id,
            status: row.status,
            attempts: row.attempts,
            error: row.last_error,
        }),
    ))
}
