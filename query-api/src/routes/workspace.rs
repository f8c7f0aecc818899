//! `GET /v1/workspace`: the workspace's settings as the config declares them, for operators
//! (secrets are never shown: only whether one is set).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::auth::Caller;
use crate::error::QueryError;
use crate::router::AppState;
use leadstream_platform::workspaces::Scope;

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CrmWebhook {
    pub name: String,
    pub url: String,
    pub max_attempts: u32,
    pub timeout_ms: u64,
    /// Whether handed-over leads' later activity is sent too.
    pub updates: bool,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WorkspaceInfo {
    pub workspace: String,
    /// The caller's access: `read` or `read-write`.
    pub scope: &'static str,
    /// The host of the workspace's `site` (minted links may point there and below).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_host: Option<String>,
    /// Other domains minted links may point to.
    pub link_domains: Vec<String>,
    /// Whether the email and SMS providers' webhooks are signed with a secret.
    pub email_webhook_secret: bool,
    pub sms_webhook_secret: bool,
    /// The CRM webhooks that receive this workspace's hand-offs.
    pub crm_webhooks: Vec<CrmWebhook>,
    /// `file` (`scorer.model`) or `default`.
    pub model_source: &'static str,
    /// How large a segment may be once inlined (`query.segment_max_nodes`, `…_max_traits`).
    pub segment_max_nodes: usize,
    pub segment_max_traits: usize,
}

pub async fn info(
    State(state): State<AppState>,
    Caller(workspace, scope): Caller,
) -> Result<Json<WorkspaceInfo>, QueryError> {
    let settings = state.registry.settings(&workspace);
    let crm_webhooks = state
        .crm
        .webhooks
        .iter()
        .filter(|w| w.workspaces.is_empty() || w.workspaces.contains(&workspace))
        .map(|w| CrmWebhook {
            name: w.name.clone(),
            url: w.url.clone(),
            max_attempts: w.max_attempts,
            timeout_ms: w.timeout_ms,
            updates: w.updates,
        })
        .collect();
    Ok(Json(WorkspaceInfo {
        scope: match scope {
            Scope::Read => "read",
            Scope::ReadWrite => "read-write",
        },
        workspace,
        site_host: settings.site_host,
        link_domains: settings.link_domains,
        email_webhook_secret: settings.email_webhook_secret.is_some(),
        sms_webhook_secret: settings.sms_webhook_secret.is_some(),
        crm_webhooks,
        model_source: if state.model_file.is_some() {
            "file"
        } else {
            "default"
        },
        segment_max_nodes: state.segment_limits.max_nodes,
        segment_max_traits: state.segment_limits.max_traits,
    }))
}
