//! The hand-off to the CRM's webhooks, end to end in embedded mode against a real HTTP receiver on
//! loopback: one signed, mapped `lead.qualified` call per crossing (retried through 503s), the
//! lead's later activity as `lead.activity` batches, a webhook that keeps failing parked and then
//! replayed through the query API, and no second call for the same crossing after a restart.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use leadstream_platform::webhook::{CrmConfig, Mapping, WebhookConfig};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "whsec_0123456789abcdef";

#[derive(Clone, Debug)]
struct Call {
    hook: String,
    key: String,
    event: String,
    signature: String,
    body: Value,
}

#[derive(Default)]
struct Receiver {
    calls: Vec<Call>,
    /// Answers still to fail, per hook (u32::MAX: always).
    fail: HashMap<String, u32>,
}

async fn receive(
    State(r): State<Arc<Mutex<Receiver>>>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    // The signature: t=<secs>,v1=hex(HMAC-SHA256(secret, "<t>.<body>")).
    let sig = h("x-leadstream-signature");
    let (t, v1) = sig
        .split_once(",v1=")
        .map(|(t, v)| (t.trim_start_matches("t=").to_string(), v.to_string()))
        .unwrap_or_default();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(&body);
    if hex::encode(mac.finalize().into_bytes()) != v1 {
        return (StatusCode::UNAUTHORIZED, "");
    }
    let mut r = r.lock().expect("lock");
    if let Some(left) = r.fail.get_mut(&hook)
        && *left > 0
    {
        *left = left.saturating_sub(if *left == u32::MAX { 0 } else { 1 });
        // A CRM that echoes what it should not: a read-only token must not see it.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "maintenance; admin password is hunter2",
        );
    }
    r.calls.push(Call {
        hook,
        key: h("idempotency-key"),
        event: h("x-leadstream-event"),
        signature: sig,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    (StatusCode::OK, "")
}

fn hook(name: &str, base: &str) -> WebhookConfig {
    WebhookConfig {
        name: name.into(),
        url: format!("{base}/{name}"),
        secret: SECRET.into(),
        workspaces: vec!["acme".into()],
        timeout_ms: 2_000,
        max_attempts: 4,
        backoff_initial_ms: 50,
        backoff_max_ms: 200,
        updates: true,
        mapping: Mapping::default(),
    }
}

fn calls(r: &Arc<Mutex<Receiver>>, hook: &str, event: &str) -> Vec<Call> {
    r.lock()
        .expect("lock")
        .calls
        .iter()
        .filter(|c| c.hook == hook && c.event == event)
        .cloned()
        .collect()
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn hand_offs_reach_the_crm_signed_once_per_crossing_and_failures_park_and_replay() {
    let receiver = Arc::new(Mutex::new(Receiver::default()));
    receiver.lock().expect("lock").fail.insert("sf".into(), 2);
    receiver
        .lock()
        .expect("lock")
        .fail
        .insert("broken".into(), u32::MAX);
    let app = Router::new()
        .route("/{hook}", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = common::embedded_config(dir.path());
    let mut sf = hook("sf", &base);
    sf.mapping
        .lead
        .insert("Email".into(), "profile.traits.email".into());
    sf.mapping
        .lead
        .insert("Lead_Score__c".into(), "score".into());
    sf.mapping
        .lead
        .insert("Top_Rule__c".into(), "top_contributions.0.rule".into());
    sf.mapping
        .contact
        .insert("Title".into(), "profile.traits.title".into());
    let mut broken = hook("broken", &base);
    broken.max_attempts = 2;
    broken.updates = false;
    config.crm = CrmConfig {
        webhooks: vec![sf, broken],
        updates_max: 50,
        updates_interval_ms: 200,
    };
    config.validate().expect("valid");
    let running = common::start(config.clone()).await;

    let batch = json!({"batch": [
        {"type": "identify", "userId": "lead-1", "traits": {"title": "VP Sales", "company_size": 200, "email": "lead-1@corp.io"}},
        {"type": "track", "userId": "lead-1", "event": "Webinar Registered", "properties": {"webinar_id": "w1"}},
        {"type": "track", "userId": "lead-1", "event": "Webinar Attended", "properties": {"webinar_id": "w1"}},
        {"type": "track", "userId": "lead-1", "event": "Form Submitted", "properties": {"form_id": "contact"}},
        {"type": "track", "userId": "lead-1", "event": "File Downloaded", "properties": {"file_name": "a.pdf"}},
        {"type": "track", "userId": "lead-1", "event": "File Downloaded", "properties": {"file_name": "b.pdf"}}
    ]});
    let (status, body) = running.post_batch(&batch).await;
    assert_eq!(status, 200, "{body}");

    // Through two 503s: one call, mapped and signed, keyed by the crossing.
    wait_for("the hand-off reaches sf", || {
        !calls(&receiver, "sf", "lead.qualified").is_empty()
    })
    .await;
    let got = calls(&receiver, "sf", "lead.qualified");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].key, "acme/lead-1/1");
    assert!(got[0].signature.starts_with("t="), "{:?}", got[0]);
    assert_eq!(
        got[0].body["lead"]["Email"], "lead-1@corp.io",
        "{:?}",
        got[0]
    );
    assert_eq!(got[0].body["lead"]["Lead_Score__c"], 51.0, "{:?}", got[0]);
    assert_eq!(got[0].body["lead"]["Top_Rule__c"], "webinar attendance");
    assert_eq!(got[0].body["contact"]["Title"], "VP Sales");

    // The webhook that keeps failing is parked, listed for the operator.
    let parked = wait_parked(&running, 1).await;
    assert_eq!(parked[0]["webhook"], "broken", "{parked:?}");
    assert_eq!(parked[0]["attempts"], 2, "{parked:?}");
    assert_eq!(parked[0]["idempotency_key"], "acme/lead-1/1");
    assert!(
        parked[0]["last_error"]
            .as_str()
            .expect("error")
            .contains("503"),
        "{parked:?}"
    );
    assert!(
        parked[0]["last_error"]
            .as_str()
            .expect("error")
            .contains("hunter2"),
        "read-write tokens see the CRM's whole answer: {parked:?}"
    );
    let (_, _, body) = running
        .call(
            reqwest::Method::GET,
            "/v1/webhooks/deliveries?status=parked",
            common::READ_TOKEN,
            None,
        )
        .await;
    let seen: Value = serde_json::from_slice(&body).expect("json");
    let error = seen["deliveries"][0]["last_error"].as_str().expect("error");
    assert!(error.contains("503"), "{seen}");
    assert!(
        !error.contains("hunter2"),
        "read-only tokens see no answer body: {seen}"
    );

    // What the lead does next reaches sf as activity.
    running
        .post_batch(&json!({"batch": [{"type": "page", "userId": "lead-1", "context": {"page": {"url": "https://acme.io/pricing"}}}]}))
        .await;
    wait_for("activity reaches sf", || {
        !calls(&receiver, "sf", "lead.activity").is_empty()
    })
    .await;
    let activity = calls(&receiver, "sf", "lead.activity");
    assert_eq!(
        activity[0].body["items"][0]["kind"], "page_viewed",
        "{activity:?}"
    );
    assert_eq!(activity[0].body["items"][0]["profile_id"], "lead-1");
    assert!(calls(&receiver, "broken", "lead.activity").is_empty());

    // The CRM is back: the operator replays the parked call; same key, delivered.
    receiver.lock().expect("lock").fail.clear();
    let id = parked[0]["id"].as_str().expect("id").to_string();
    let (status, replayed) = replay(&running, &id).await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["status"], "delivered");
    let got = calls(&receiver, "broken", "lead.qualified");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].key, "acme/lead-1/1");
    assert!(wait_parked(&running, 0).await.is_empty());
    let (status, again) = replay(&running, &id).await;
    assert_eq!(status, 409, "{again}");
    let (status, missing) = replay(&running, "nope").await;
    assert_eq!(status, 404, "{missing}");

    // A restart does not call again for the same crossing.
    running.stop().await;
    let running = common::start(config).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(calls(&receiver, "sf", "lead.qualified").len(), 1);
    running.stop().await;
}

async fn replay(running: &common::Running, id: &str) -> (u16, Value) {
    let r = running
        .http
        .post(format!(
            "http://{}/v1/webhooks/deliveries/{id}/replay",
            running.query
        ))
        .bearer_auth(common::TOKEN)
        .send()
        .await
        .expect("replay");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn wait_parked(running: &common::Running, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body: Value = running
            .http
            .get(format!(
                "http://{}/v1/webhooks/deliveries?status=parked",
                running.query
            ))
            .bearer_auth(common::TOKEN)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let list = body["deliveries"].as_array().cloned().unwrap_or_default();
        if list.len() == n {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {n} parked: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
