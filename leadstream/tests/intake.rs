//! What real clients send, end to end in both modes: Segment's spec events without the properties
//! a kind expects are accepted and scored; an order's value comes from `total` or its products
//! and a refund lowers it, in the profile and in RFM; a tracking plan's misses are reported per
//! property; an event the plan refuses is kept among the failed events, listed, and replayed once
//! the plan is relaxed, after which it counts once however often it is replayed.

mod common;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

const STRICT: &str = r#"
[events."Demo Booked"]
on_miss = "refuse"
properties.slot = { type = "string", required = true }

[events."Order Completed"]
properties.currency = { type = "string", required = true }
"#;

/// [`STRICT`] with `Demo Booked` accepted (and its miss recorded) instead of refused.
fn relaxed() -> String {
    STRICT.replacen(r#"on_miss = "refuse""#, r#"on_miss = "accept""#, 1)
}

fn batch() -> Value {
    json!({"batch": [
        {"type": "identify", "userId": "ada", "traits": {"email": "ada@example.com"}, "messageId": "i-1"},
        // Segment's docs: a form without the property leadstream's kind expects.
        {"type": "track", "userId": "ada", "event": "Form Submitted", "properties": {"form": "demo"}, "messageId": "f-1"},
        // Segment's e-commerce spec: only `total`, no currency.
        {"type": "track", "userId": "ada", "event": "Order Completed", "properties": {"order_id": "o-1", "total": 120}, "messageId": "o-1"},
        // Only products with prices.
        {"type": "track", "userId": "ada", "event": "Order Completed", "properties": {"order_id": "o-2", "currency": "EUR",
            "products": [{"product_id": "p", "price": 10, "quantity": 3}]}, "messageId": "o-2"},
        {"type": "track", "userId": "ada", "event": "Order Refunded", "properties": {"order_id": "o-1", "total": 20}, "messageId": "r-1"},
        // Refused by the workspace's plan: no `slot`.
        {"type": "track", "userId": "ada", "event": "Demo Booked", "properties": {"topic": "scoring"}, "messageId": "demo-1"}
    ]})
}

/// Polls `path` until `done` holds.
async fn wait_for(run: &common::Running, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = run.get(path).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never got there; last: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn check(run: &common::Running, plan: &std::path::Path) {
    let (status, body) = run.post_batch(&batch()).await;
    // Five of six accepted: 200, the refused one listed.
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 5, "{body}");
    assert_eq!(body["rejected"][0]["index"], 5, "{body}");
    assert_eq!(body["rejected"][0]["field"], "batch[5].properties.slot");

    // The purchases count with their values: 120 + 3 × 10 − 20.
    let profile = run.wait_for_profile("ada", |p| p["event_count"] == 5).await;
    assert_eq!(profile["purchases"]["count"], 2, "{profile}");
    assert_eq!(profile["purchases"]["revenue"], 130.0, "{profile}");
    assert_eq!(profile["counts"]["form_submitted"], 1, "{profile}");
    assert_eq!(profile["counts"]["order_refunded"], 1, "{profile}");

    // RFM's monetary value is the same.
    let as_of = chrono::Utc::now().timestamp_millis() + 60_000;
    let (status, report) = run
        .json(Method::POST, "/v1/rfm", Some(&json!({"as_of": as_of})))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["customers"], 1, "{report}");
    assert_eq!(report["revenue"], 130.0, "{report}");

    // What arrived without what its kind or the plan expects, per event and property.
    let (status, misses) = run.get("/v1/expectation-misses").await;
    assert_eq!(status, 200, "{misses}");
    let rows: Vec<(String, String, u64)> = misses["misses"]
        .as_array()
        .expect("misses")
        .iter()
        .map(|m| {
            (
                m["event"].as_str().expect("event").to_string(),
                m["field"].as_str().expect("field").to_string(),
                m["count"].as_u64().expect("count"),
            )
        })
        .collect();
    assert!(
        rows.contains(&("Order Completed".into(), "properties.currency".into(), 1)),
        "{misses}"
    );
    assert!(
        rows.contains(&("Form Submitted".into(), "properties.form_id".into(), 1)),
        "{misses}"
    );
    assert_eq!(misses["events_with_misses"], 2, "{misses}");
    let (status, body) = run.get("/v1/expectation-misses?from=yesterday").await;
    assert_eq!((status, &body["error"]["field"]), (400, &json!("from")));

    // The refused event is kept (distributed: once the scorer service moved it into ClickHouse).
    let listed = wait_for(run, "/v1/failed-events?code=tracking_plan", |b| {
        b["count"] == 1
    })
    .await;
    let failed = &listed["failed_events"][0];
    assert_eq!(failed["endpoint"], "/v1/batch");
    assert_eq!(failed["event_name"], "Demo Booked");
    assert_eq!(failed["field"], "properties.slot");
    assert_eq!(failed["message_id"], "demo-1");
    let payload: Value =
        serde_json::from_str(failed["payload"].as_str().expect("payload")).expect("the raw event");
    assert_eq!(payload["properties"]["topic"], "scoring");
    let (status, body) = run.get("/v1/failed-events?limit=0").await;
    assert_eq!((status, &body["error"]["field"]), (400, &json!("limit")));

    // Replaying needs a read-write token and a selection.
    let (status, _, _) = run
        .call(
            Method::POST,
            "/v1/failed-events/replay",
            common::READ_TOKEN,
            Some(("application/json", br#"{"code":"tracking_plan"}"#.to_vec())),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = run
        .json(Method::POST, "/v1/failed-events/replay", Some(&json!({})))
        .await;
    assert_eq!((status, &body["error"]["field"]), (400, &json!("body")));
    let (status, body) = run
        .json(
            Method::POST,
            "/v1/failed-events/replay",
            Some(&json!({"code": "tracking_plan", "colour": 1})),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // Still refused while the plan is strict.
    let (status, body) = run
        .json(
            Method::POST,
            "/v1/failed-events/replay",
            Some(&json!({"code": "tracking_plan"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["refused"], 1, "{body}");

    // The plan relaxed (the collector re-reads it), the replay goes through.
    std::fs::write(plan, relaxed()).expect("relax the plan");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = run
            .json(
                Method::POST,
                "/v1/failed-events/replay",
                Some(&json!({"code": "tracking_plan"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        if body["accepted"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relaxed plan was never applied: {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let profile = run.wait_for_profile("ada", |p| p["event_count"] == 6).await;
    assert_eq!(profile["counts"]["custom"], 1, "{profile}");

    // Replayed again on purpose: the same messageId, written once.
    let (status, body) = run
        .json(
            Method::POST,
            "/v1/failed-events/replay",
            Some(&json!({"code": "tracking_plan", "include_replayed": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["duplicate"], 1, "{body}");
    // Nothing pending any more; the replay is on the record.
    wait_for(
        run,
        "/v1/failed-events?code=tracking_plan&pending=true",
        |b| b["count"] == 0,
    )
    .await;
    let listed = wait_for(run, "/v1/failed-events?code=tracking_plan", |b| {
        b["failed_events"][0]["replay_outcome"] == "duplicate"
    })
    .await;
    assert!(listed["failed_events"][0]["replayed_at_ms"].is_i64());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, profile) = run.get_profile("ada", common::TOKEN).await;
    assert_eq!(profile["event_count"], 6, "counted once: {profile}");
}

fn with_plan(
    mut config: leadstream_platform::Config,
    dir: &std::path::Path,
) -> (leadstream_platform::Config, std::path::PathBuf) {
    let plan = dir.join("acme-plan.toml");
    std::fs::write(&plan, STRICT).expect("plan");
    config
        .ingest
        .tracking_plans
        .insert("acme".into(), plan.clone());
    (config, plan)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_accepts_spec_events_and_keeps_and_replays_refusals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, plan) = with_plan(common::embedded_config(dir.path()), dir.path());
    let run = common::start(config).await;
    check(&run, &plan).await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_accepts_spec_events_and_keeps_and_replays_refusals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, plan) = with_plan(common::distributed_config(), dir.path());
    let clickhouse = config.clickhouse.clone();
    let run = common::start(config).await;
    check(&run, &plan).await;
    run.stop().await;
    common::drop_database(&clickhouse).await;
}

/// Segment's, RudderStack's and PostHog's own Python SDKs, with the calls their docs show, against
/// the whole process: what they send reaches the profiles (and the plan's refusals the failed
/// events). The SDKs are installed by `scripts/sdks.sh`.
async fn sdks_reach_the_profiles(run: &common::Running) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/sdks");
    let python = dir.join(".venv/bin/python");
    assert!(
        python.exists(),
        "the SDKs are not installed: run scripts/sdks.sh (the README's test command does)"
    );
    let out = tokio::process::Command::new(&python)
        .arg(dir.join("spec_sdks.py"))
        .arg(format!("http://{}", run.collector))
        .arg(common::WRITE_KEY)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("spec_sdks.py finishes")
        .expect("spec_sdks.py starts");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seg = run
        .wait_for_profile("spec-seg-1", |p| p["event_count"] == 3)
        .await;
    assert_eq!(seg["counts"]["form_submitted"], 1, "{seg}");
    assert_eq!(seg["counts"]["signed_up"], 1, "{seg}");
    assert_eq!(seg["purchases"]["revenue"], 49.0, "{seg}");
    let products = run
        .wait_for_profile("spec-seg-3", |p| p["event_count"] == 2)
        .await;
    // 2 × 10 + 5 in products, less a refund of 5.
    assert_eq!(products["purchases"]["revenue"], 20.0, "{products}");
    let rud = run
        .wait_for_profile("spec-rud-1", |p| p["event_count"] == 2)
        .await;
    assert_eq!(rud["counts"]["file_downloaded"], 1, "{rud}");
    assert_eq!(rud["counts"]["checkout_started"], 1, "{rud}");
    // PostHog's SDK (its alias ties two known ids, which identity resolution never merges).
    let ph = run
        .wait_for_profile("spec-ph-1", |p| p["purchases"]["count"] == 1)
        .await;
    assert_eq!(ph["counts"]["custom"], 1, "user_signed_up: {ph}");
    assert_eq!(ph["counts"]["page_viewed"], 1, "{ph}");
    assert_eq!(ph["account"], "acct-ph-1", "{ph}");
    assert_eq!(ph["purchases"]["revenue"], 20.0, "{ph}");
    assert_eq!(ph["traits"]["email"], "spec-ph-1@example.com", "{ph}");
    wait_for(run, "/v1/failed-events?event=Plan%20Checked", |b| {
        b["count"] == 3
    })
    .await;
}

fn with_sdk_plan(
    mut config: leadstream_platform::Config,
    dir: &std::path::Path,
) -> leadstream_platform::Config {
    let plan = dir.join("sdk-plan.toml");
    std::fs::write(
        &plan,
        "[events.\"Plan Checked\"]\non_miss = \"refuse\"\nproperties.required_prop = { type = \"string\", required = true }\n",
    )
    .expect("plan");
    config.ingest.tracking_plans.insert("acme".into(), plan);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_sdk_calls_reach_the_profiles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = common::start(with_sdk_plan(
        common::embedded_config(dir.path()),
        dir.path(),
    ))
    .await;
    sdks_reach_the_profiles(&run).await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_sdk_calls_reach_the_profiles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = with_sdk_plan(common::distributed_config(), dir.path());
    let clickhouse = config.clickhouse.clone();
    let run = common::start(config).await;
    sdks_reach_the_profiles(&run).await;
    run.stop().await;
    common::drop_database(&clickhouse).await;
}
