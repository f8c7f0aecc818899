//! The CRM sender: reads the hand-off log (its own consumer group) and calls every configured
//! webhook (`[[crm.webhooks]]`, see `leadstream_platform::webhook`):
//!
//! - each `lead.qualified` record as one call, shaped by the webhook's field mapping;
//! - the `lead.activity` records of handed-over leads as batched calls (at most
//!   `crm.updates_max` events, or what arrived within `crm.updates_interval_ms`).
//!
//! A call is retried with exponential backoff up to the webhook's `max_attempts` (at once parked
//! on a 4xx other than 408/429); then it is parked in the store's `webhook_deliveries`, where
//! `GET /v1/webhooks/deliveries` lists it and `POST …/{id}/replay` sends it again. The log
//! position is committed only after every call of a batch was delivered or parked, so a restart
//! repeats (with the same `Idempotency-Key`) rather than loses a hand-off.

use std::sync::Arc;
use std::time::Duration;

use leadstream_platform::Backends;
use leadstream_platform::backends::SideLog;
use leadstream_platform::log::LogConsumer;
use leadstream_platform::store::{Deliveries, DeliveryRow};
use leadstream_platform::webhook::{self, CrmConfig, WebhookConfig};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::metrics;

pub struct Sender {
    consumer: Box<dyn LogConsumer>,
    store: Arc<dyn Deliveries>,
    config: CrmConfig,
    client: webhook::crm_http::Client,
}

/// One call to make.
struct Call<'a> {
    hook: &'a WebhookConfig,
    workspace: String,
    profile_id: String,
    kind: &'static str,
    key: String,
    body: Vec<u8>,
}

impl Sender {
    /// `None` when no webhook is configured.
    pub async fn start(backends: &Backends) -> anyhow::Result<Option<Sender>> {
        let config = backends.config().crm.clone();
        if config.webhooks.is_empty() {
            return Ok(None);
        }
        let group = format!("{}-crm", backends.config().kafka.consumer_group);
        Ok(Some(Sender {
            consumer: backends.side_consumer(SideLog::Handoffs, &group).await?,
            store: backends.store().await?,
            config,
            client: webhook::client(),
        }))
    }

    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let wait = Duration::from_millis(self.config.updates_interval_ms.max(10));
        tracing::info!(webhooks = self.config.webhooks.len(), "CRM sender started");
        loop {
            let polled = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = self.consumer.poll(self.config.updates_max, wait) => r,
            };
            let batch = match polled {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the hand-off log failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if batch.is_empty() {
                continue;
            }
            let records: Vec<Value> = batch
                .iter()
                .filter_map(|d| serde_json::from_slice(&d.payload).ok())
                .collect();
            let config = self.config.clone();
            let calls = calls(&config, &records);
            for call in &calls {
                if !deliver(&self.client, self.store.as_ref(), call, &shutdown).await? {
                    // Shutdown mid-retry: uncommitted, repeated at the next start.
                    return Ok(());
                }
            }
            self.consumer.commit(&batch).await?;
        }
        Ok(())
    }
}

/// Delivers or parks one call; `false` when shutdown interrupted it.
async fn deliver(
    client: &webhook::crm_http::Client,
    store: &dyn Deliveries,
    call: &Call<'_>,
    shutdown: &CancellationToken,
) -> anyhow::Result<bool> {
    let hook = call.hook;
    let mut attempt = 1;
    let failure = loop {
        match webhook::deliver_once(client, hook, call.kind, &call.key, &call.body).await {
            Ok(()) => {
                metrics::WEBHOOKS
                    .with_label_values(&[hook.name.as_str(), "delivered"])
                    .inc();
                return Ok(true);
            }
            Err(f) if f.permanent || attempt >= hook.max_attempts => break f,
            Err(f) => {
                metrics::WEBHOOKS
                    .with_label_values(&[hook.name.as_str(), "retried"])
                    .inc();
                attempt += 1;
                let backoff = hook.backoff(attempt);
                tracing::warn!(webhook = %hook.name, key = %call.key, attempt, error = %f.message, ?backoff, "webhook call failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(false),
                    _ = tokio::time::sleep(backoff) => {}
                }
            }
        }
    };
    metrics::WEBHOOKS
        .with_label_values(&[hook.name.as_str(), "parked"])
        .inc();
    tracing::error!(webhook = %hook.name, key = %call.key, attempts = attempt, error = %failure.message, "webhook call parked");
    let now = chrono::Utc::now().timestamp_millis();
    let row = DeliveryRow {
        workspace: call.workspace.clone(),
        // No `/`, so the id is one path segment (`…/deliveries/{id}/replay`).
        id: format!("{}@{}", call.key.replace('/', ":"), hook.name),
        webhook: hook.name.clone(),
        kind: call.kind.to_string(),
        profile_id: call.profile_id.clone(),
        idempotency_key: call.key.clone(),
        body: String::from_utf8_lossy(&call.body).into_owned(),
        attempts: attempt,
        status: "parked".into(),
        last_error: failure.message,
        created_ms: now,
        updated_ms: now,
        version: now.max(0) as u64 * 1000,
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        match store.write_deliveries(std::slice::from_ref(&row)).await {
            Ok(()) => return Ok(true),
            Err(e) if shutdown.is_cancelled() => {
                anyhow::bail!("parking a webhook call failed at shutdown: {e}")
            }
            Err(e) => {
                tracing::warn!(error = %e, "parking a webhook call failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The calls for one batch of hand-off log records, in order: each `lead.qualified` on its own,
/// then per webhook and workspace one call with the `lead.activity` items.
fn calls<'a>(config: &'a CrmConfig, records: &[Value]) -> Vec<Call<'a>> {
    let mut out = Vec::new();
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    for r in records.iter().filter(|r| r["type"] == "lead.qualified") {
        let workspace = text(r, "workspace");
        for hook in config.webhooks.iter().filter(|h| h.serves(&workspace)) {
            out.push(Call {
                hook,
                workspace: workspace.clone(),
                profile_id: text(r, "profile_id"),
                kind: "lead.qualified",
                key: text(r, "idempotency_key"),
                body: serde_json::to_vec(&hook.body(r)).unwrap_or_default(),
            });
        }
    }
    let activity: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "lead.activity")
        .collect();
    let mut workspaces: Vec<String> = activity.iter().map(|r| text(r, "workspace")).collect();
    workspaces.sort();
    workspaces.dedup();
    for workspace in workspaces {
        let items: Vec<&Value> = activity
            .iter()
            .copied()
            .filter(|r| r["workspace"] == workspace.as_str())
            .collect();
        let ids: Vec<&str> = items
            .iter()
            .map(|r| r["message_id"].as_str().unwrap_or_default())
            .collect();
        let key = format!(
            "activity/{workspace}/{:016x}",
            ids.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, id| {
                id.bytes()
                    .chain([0])
                    .fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
            })
        );
        for hook in config
            .webhooks
            .iter()
            .filter(|h| h.updates && h.serves(&workspace))
        {
            let body = json!({
                "type": "lead.activity",
                "idempotency_key": key,
                "workspace": workspace,
                "items": items,
            });
            out.push(Call {
                hook,
                workspace: workspace.clone(),
                profile_id: String::new(),
                kind: "lead.activity",
                key: key.clone(),
                body: serde_json::to_vec(&body).unwrap_or_default(),
            });
        }
    }
    out
}
