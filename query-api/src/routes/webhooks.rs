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

use crate::auth::{Caller, Writer};
use crate::error::QueryError;
use crate::router::AppState;
use leadstream_platform::workspaces::Scope;

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
    Caller(workspace, scope): Caller,
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
    let mut deliveries = state
        .store
        .deliveries(&workspace, q.status.as_deref(), limit)
        .await?;
    // What the CRM answered can hold anything (a CRM echoing credentials): read-write only.
    if scope == Scope::Read {
        for d in &mut deliveries {
            d.last_error = redacted(&d.last_error);
        }
    }
    Ok(Json(Deliveries { deliveries }))
}

/// A delivery error as a read-only token sees it: the CRM's status kept, its answer's body
/// replaced by its length.
pub fn redacted(error: &str) -> String {
    match error.find(" answered ") {
        Some(at) => {
            let rest = &error[at + " answered ".len()..];
            let (status, body) = rest.split_once(": ").unwrap_or((rest, ""));
            format!(
                "{} answered {status}: [the answer's {} bytes are shown to read-write tokens only]",
                &error[..at],
                body.len()
            )
        }
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_crms_answer_is_redacted_and_its_status_kept() {
        let e = "https://crm.example/hook answered 500 Internal Server Error: {\"password\":\"hunter2\"}";
        let r = super::redacted(e);
        assert!(
            r.starts_with("https://crm.example/hook answered 500 Internal Server Error: "),
            "{r}"
        );
        assert!(!r.contains("hunter2"), "{r}");
        assert!(r.contains("22 bytes"), "{r}");
        assert_eq!(
            super::redacted("https://crm.example/hook: connection refused"),
            "https://crm.example/hook: connection refused"
        );
    }
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
