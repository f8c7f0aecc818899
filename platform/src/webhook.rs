//! Calls to the CRM's webhooks: configuration (`[[crm.webhooks]]`), the field mapping from a
//! hand-off record to the CRM's own field names, the signature, and one delivery attempt. The
//! scorer's sender retries with backoff and parks what keeps failing; the query API replays
//! parked deliveries. Both use this module so a replay is exactly what the sender would send.
//!
//! Every call is `POST` with a JSON body and these headers:
//! - `Idempotency-Key`: the hand-off's key (`workspace/profile/crossing`) or the activity batch's,
//!   the same on every retry and replay, so the CRM can drop repeats;
//! - `X-Leadstream-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the
//!   webhook's secret>` (the Stripe scheme: the timestamp stops replays of old captures);
//! - `X-Leadstream-Event`: `lead.qualified` or `lead.activity`.

use std::collections::BTreeMap;
use std::time::Duration;

pub use crm_http;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;

/// `[crm]`: where hand-offs and the activity of handed-over leads go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrmConfig {
    pub webhooks: Vec<WebhookConfig>,
    /// Activity of handed-over leads is sent in batches of at most this many events…
    pub updates_max: usize,
    /// …or after at most this long.
    pub updates_interval_ms: u64,
}

impl Default for CrmConfig {
    fn default() -> Self {
        CrmConfig {
            webhooks: Vec::new(),
            updates_max: 100,
            updates_interval_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Names the webhook in metrics, logs and parked deliveries.
    pub name: String,
    pub url: String,
    /// The HMAC-SHA256 key of the signature header.
    pub secret: String,
    /// Workspaces this webhook serves; empty: all.
    #[serde(default)]
    pub workspaces: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts before a delivery is parked.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_backoff_ms")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Send the activity of handed-over leads too.
    #[serde(default = "default_true")]
    pub updates: bool,
    /// The CRM's field names. Empty: the whole `lead.qualified` record is sent.
    #[serde(default)]
    pub mapping: Mapping,
}

fn default_timeout_ms() -> u64 {
    10_000
}
fn default_attempts() -> u32 {
    6
}
fn default_backoff_ms() -> u64 {
    500
}
fn default_backoff_max_ms() -> u64 {
    60_000
}
fn default_true() -> bool {
    true
}

/// CRM field name → dotted path into the `lead.qualified` record (`profile.traits.email`,
/// `score`, `grade`, `top_contributions`, `first_touch.name`, …), per CRM object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default)]
    pub lead: BTreeMap<String, String>,
    #[serde(default)]
    pub contact: BTreeMap<String, String>,
    #[serde(default)]
    pub account: BTreeMap<String, String>,
}

impl Mapping {
    pub fn is_empty(&self) -> bool {
        self.lead.is_empty() && self.contact.is_empty() && self.account.is_empty()
    }
}

impl WebhookConfig {
    pub fn serves(&self, workspace: &str) -> bool {
        self.workspaces.is_empty() || self.workspaces.iter().any(|w| w == workspace)
    }

    /// The body for a `lead.qualified` record: the record itself, or with a mapping
    /// `{"type", "idempotency_key", "lead": {…}, "contact": {…}, "account": {…}}` with the CRM's
    /// field names (a path that leads nowhere is left out).
    pub fn body(&self, record: &Value) -> Value {
        if self.mapping.is_empty() {
            return record.clone();
        }
        let pick = |fields: &BTreeMap<String, String>| {
            let mut out = Map::new();
            for (crm_field, path) in fields {
                if let Some(v) = lookup(record, path) {
                    out.insert(crm_field.clone(), v.clone());
                }
            }
            Value::Object(out)
        };
        let mut out = Map::new();
        out.insert("type".into(), record["type"].clone());
        out.insert("idempotency_key".into(), record["idempotency_key"].clone());
        for (name, fields) in [
            ("lead", &self.mapping.lead),
            ("contact", &self.mapping.contact),
            ("account", &self.mapping.account),
        ] {
            if !fields.is_empty() {
                out.insert(name.into(), pick(fields));
            }
        }
        Value::Object(out)
    }

    /// The backoff before attempt `attempt` (1-based; the first retry is attempt 2).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .backoff_initial_ms
            .saturating_mul(1u64 << attempt.saturating_sub(2).min(20));
        Duration::from_millis(exp.min(self.backoff_max_ms))
    }
}

/// `a.b.0.c` into a JSON value.
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Object(m) => m.get(part),
        Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// The signature header's value for `body` at `unix_secs`.
pub fn signature(secret: &str, unix_secs: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={unix_secs},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Why an attempt failed, and whether another could succeed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub message: String,
    /// 4xx other than 408 and 429 will not succeed on retry.
    pub permanent: bool,
}

/// A client for webhook calls (one per process: connections are pooled).
pub fn client() -> crm_http::Client {
    crm_http::Client::builder()
        .user_agent(concat!("leadstream/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// One attempt: `Ok` on a 2xx answer.
pub async fn deliver_once(
    client: &crm_http::Client,
    hook: &WebhookConfig,
    kind: &str,
    idempotency_key: &str,
    body: &[u8],
) -> Result<(), Failure> {
    let now = chrono::Utc::now().timestamp();
    let sent = client
        .post(&hook.url)
        .timeout(Duration::from_millis(hook.timeout_ms))
        .header("content-type", "application/json")
        .header("idempotency-key", idempotency_key)
        .header("x-leadstream-event", kind)
        .header("x-leadstream-signature", signature(&hook.secret, now, body))
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Err(e) => Err(Failure {
            message: format!("{}: {e}", hook.url),
            permanent: false,
        }),
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            let status = r.status();
            let text: String = r
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            Err(Failure {
                message: format!("{} answered {status}: {text}", hook.url),
                permanent: status.is_client_error()
                    && status.as_u16() != 408
                    && status.as_u16() != 429,
            })
        }
    }
}

impl CrmConfig {
    /// Checks the `[crm]` section, naming the key at fault.
    pub fn validate(&self) -> Result<(), crate::config::ConfigError> {
        use crate::config::invalid;
        let mut names = std::collections::HashSet::new();
        for (i, hook) in self.webhooks.iter().enumerate() {
            let at = |field: &str| format!("crm.webhooks[{i}].{field}");
            if hook.name.is_empty() || !names.insert(hook.name.as_str()) {
                return Err(invalid(&at("name"), "must be set and unique"));
            }
            if !(hook.url.starts_with("https://") || hook.url.starts_with("http://")) {
                return Err(invalid(&at("url"), "must be an http:// or https:// URL"));
            }
            if hook.secret.len() < 16 {
                return Err(invalid(&at("secret"), "must be at least 16 characters"));
            }
            if hook.max_attempts == 0 {
                return Err(invalid(&at("max_attempts"), "must be above 0"));
            }
        }
        if self.updates_max == 0 {
            return Err(invalid("crm.updates_max", "must be above 0"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signs_like_the_documented_scheme() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
        let sig = signature("s3cret", 1_700_000_000, br#"{"a":1}"#);
        assert!(sig.starts_with("t=1700000000,v1="), "{sig}");
        assert_eq!(sig.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(sig, signature("other", 1_700_000_000, br#"{"a":1}"#));
    }

    #[test]
    fn maps_fields_to_the_crm_names_and_backs_off_exponentially() {
        let mut hook: WebhookConfig = toml::from_str(
            r#"
name = "sf"
url = "http://127.0.0.1:1/x"
secret = "k"
[mapping.lead]
Lead_Score__c = "score"
Email = "profile.traits.email"
Top_Rule__c = "top_contributions.0.rule"
Missing__c = "profile.traits.nope"
[mapping.account]
Name = "profile.traits.company"
"#,
        )
        .expect("config");
        let record = json!({"type": "lead.qualified", "idempotency_key": "w/p/1", "score": 57.5,
            "top_contributions": [{"rule": "demo request"}],
            "profile": {"traits": {"email": "a@b.io", "company": "B"}}});
        assert_eq!(
            hook.body(&record),
            json!({"type": "lead.qualified", "idempotency_key": "w/p/1",
                "lead": {"Lead_Score__c": 57.5, "Email": "a@b.io", "Top_Rule__c": "demo request"},
                "account": {"Name": "B"}})
        );
        hook.mapping = Mapping::default();
        assert_eq!(hook.body(&record), record);
        assert_eq!(hook.backoff(2), Duration::from_millis(500));
        assert_eq!(hook.backoff(3), Duration::from_millis(1000));
        assert_eq!(hook.backoff(30), Duration::from_millis(60_000));
    }
}
