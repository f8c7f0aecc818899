//! Email open and click tracking with signed links.
//!
//! - `POST /v1/email/links` (bearer API token of the workspace): mints the open pixel and the
//!   tracked links of one message. Body: `{"message_id", "recipient", "campaign_id"?, "links": [url…]}`.
//! - `GET /v1/o/{token}.gif`: the open pixel; records `Email Opened` and answers a no-cache GIF.
//! - `GET /v1/c/{token}`: records `Email Clicked` and answers 302 to the signed target.
//!
//! A tampered, unsigned, unknown-key or expired token answers 400 and never redirects. Opens
//! and clicks that look machine-made (scanner or mail-proxy user agents, a click within
//! `min_click_delay_secs` of the send, several links of a message clicked at once) are recorded
//! with `enrichment.bot = true`, so scoring can ignore them.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use leadstream_platform::http::error_response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::email::{LinkClaims, TokenError};
use crate::error::IngestError;
use crate::intake::{accept_value, append, facts_for_workspace, json_error};
use crate::metrics;
use crate::router::AppState;
use crate::routes::pixel::gif_response;
use leadstream_platform::auth::Issued;

/// Links one message may carry.
const MAX_LINKS: usize = 200;

fn token_error(e: TokenError) -> Response {
    metrics::EMAIL_TOKENS_REFUSED
        .with_label_values(&[match e {
            TokenError::Malformed => "malformed",
            TokenError::UnknownKey => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "expired",
        }])
        .inc();
    error_response(
        StatusCode::BAD_REQUEST,
        "invalid_link_token",
        e.to_string(),
        Some("token".into()),
        None,
    )
}

/// Records an open or a click; `machine` forces the bot flag. Returns the outcome.
async fn record(
    state: &AppState,
    request: Request,
    claims: &LinkClaims,
    event: &str,
    machine: bool,
) -> &'static str {
    let (parts, _) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let headers = &parts.headers;
    if !state.registry.names().contains(&claims.ws) {
        return "unknown_workspace";
    }
    let facts = facts_for_workspace(state, headers, peer, claims.ws.clone(), None);
    let mut properties = json!({"email_id": claims.msg});
    if let Some(c) = &claims.cmp {
        properties["campaign_id"] = json!(c);
    }
    if let Some(u) = &claims.url {
        properties["link_url"] = json!(u);
    }
    let value = json!({"type": "track", "event": event, "userId": claims.rcp, "properties": properties,
        "context": {"channel": "email"}});
    let mut record = match accept_value(value, &facts, state) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "signed email event does not validate");
            return "rejected";
        }
    };
    let scanner = state
        .scanners
        .scanner_agent(record.event.context.user_agent.as_deref());
    if let Some(en) = record.event.enrichment.as_mut() {
        en.bot |= machine || scanner;
    }
    match append(state, vec![record]).await {
        Ok(_) => "accepted",
        Err(e) => {
            tracing::warn!(error = %e, "email event not written");
            "log_unavailable"
        }
    }
}

pub async fn open(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    request: Request,
) -> Response {
    let Some(token) = file.strip_suffix(".gif") else {
        return token_error(TokenError::Malformed);
    };
    let claims = match state.signer.verify(token, Utc::now().timestamp()) {
        Ok(c) => c,
        Err(e) => return token_error(e),
    };
    let outcome = record(&state, request, &claims, "Email Opened", false).await;
    metrics::EMAIL_HITS
        .with_label_values(&["open", outcome])
        .inc();
    gif_response(outcome, None)
}

pub async fn click(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    let now = Utc::now().timestamp();
    let claims = match state.signer.verify(&token, now) {
        Ok(c) => c,
        Err(e) => return token_error(e),
    };
    let Some(target) = claims.url.clone() else {
        // An open token used as a click: signed, but it names no target.
        return token_error(TokenError::Malformed);
    };
    let machine = state.scanners.machine_click(&claims, now);
    let outcome = record(&state, request, &claims, "Email Clicked", machine).await;
    metrics::EMAIL_HITS
        .with_label_values(&["click", outcome])
        .inc();
    // The person gets to the link whatever became of the event.
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, target),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    pub message_id: String,
    pub recipient: String,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub links: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct MintedLink {
    pub url: String,
    pub tracked_url: String,
}

#[derive(Debug, Serialize)]
pub struct MintResponse {
    pub open_pixel: String,
    pub links: Vec<MintedLink>,
    pub expires_at: chrono::DateTime<Utc>,
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> IngestError {
    IngestError::InvalidField {
        field: field.into(),
        problem: problem.into(),
    }
}

pub async fn mint(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, IngestError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
        .ok_or(IngestError::MissingApiToken)?;
    // Minted links record opens and clicks (and score them) for any recipient: read-write only.
    let token = token.trim();
    let (workspace, scope) = match state.registry.token(token) {
        Some((w, s)) => (w.to_string(), s),
        None => match state.issued.check(token, Utc::now().timestamp_millis()) {
            Issued::Valid { workspace, scope } => (workspace, scope),
            Issued::Expired => return Err(IngestError::ExpiredApiToken),
            Issued::Unknown => return Err(IngestError::UnknownApiToken),
        },
    };
    if scope != leadstream_platform::workspaces::Scope::ReadWrite {
        return Err(IngestError::ReadOnlyApiToken);
    }
    let settings = state.registry.settings(&workspace);
    if !state.signer.is_configured() {
        return Err(IngestError::NotConfigured(
            "email link signing: set ingest.email.signing_keys".into(),
        ));
    }
    let request: MintRequest =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body))
            .map_err(json_error)?;
    for (field, value) in [
        ("message_id", &request.message_id),
        ("recipient", &request.recipient),
    ] {
        if value.trim().is_empty() || value.len() > 512 {
            return Err(invalid(field, "must be 1 to 512 characters"));
        }
    }
    if request.links.len() > MAX_LINKS {
        return Err(invalid(
            "links",
            format!("at most {MAX_LINKS} links per message"),
        ));
    }
    for (i, link) in request.links.iter().enumerate() {
        let host = url::Url::parse(link)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .and_then(|u| u.host_str().map(str::to_string));
        let Some(host) = host else {
            return Err(invalid(
                format!("links[{i}]"),
                "must be an absolute http:// or https:// URL",
            ));
        };
        // The collector answers a click with a redirect to the target: only to the workspace's
        // own sites, never anywhere a token holder likes.
        if !settings.link_allowed(&host, &state.config.email.link_domains) {
            return Err(invalid(
                format!("links[{i}]"),
                format!(
                    "`{host}` is not one of the workspace's link domains (set the workspace's \
                     `site` or `link_domains`, or ingest.email.link_domains)"
                ),
            ));
        }
    }
    let now = Utc::now().timestamp();
    let claims = |url: Option<&String>| LinkClaims {
        kid: String::new(),
        ws: workspace.clone(),
        cmp: request.campaign_id.clone(),
        msg: request.message_id.clone(),
        rcp: request.recipient.clone(),
        url: url.cloned(),
        iat: 0,
        exp: 0,
    };
    let sign = |url: Option<&String>| {
        state
            .signer
            .sign(claims(url), now)
            .ok_or_else(|| IngestError::Internal("signing failed".into()))
    };
    let base =
        crate::routes::link_base_url(&state.config, state.config.email.public_url.as_deref())?;
    let open_pixel = format!("{base}/v1/o/{}.gif", sign(None)?);
    let links = request
        .links
        .iter()
        .map(|url| {
            Ok(MintedLink {
                url: url.clone(),
                tracked_url: format!("{base}/v1/c/{}", sign(Some(url))?),
            })
        })
        .collect::<Result<Vec<_>, IngestError>>()?;
    let expires_at = chrono::DateTime::from_timestamp(
        now + i64::from(state.config.email.link_ttl_days) * 86_400,
        0,
    )
    .unwrap_or_default();
    Ok((
        StatusCode::OK,
        Json(MintResponse {
            open_pixel,
            links,
            expires_at,
        }),
    )
        .into_response())
}

/// For tests and tools: the JSON body `mint` takes.
pub fn mint_body(
    message_id: &str,
    recipient: &str,
    campaign_id: Option<&str>,
    links: &[&str],
) -> Value {
    json!({"message_id": message_id, "recipient": recipient, "campaign_id": campaign_id, "links": links})
}
