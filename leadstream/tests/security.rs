//! Defects found by probing the running process from outside, each with the test that would have
//! caught it, in both modes: one absurd number cannot poison a workspace; exports cannot carry
//! spreadsheet formulas; the query API's answers are neither cached nor sniffed.

mod common;

use reqwest::Method;
use serde_json::{Value, json};

async fn check(run: &common::Running) {
    let (status, body) = run
        .post_batch(&json!({"batch": [
            {"type": "identify", "userId": "mallory", "messageId": "s-1",
             "traits": {"email": "m@evil.example", "company": "=HYPERLINK(\"http://evil.example\",\"x\")", "title": "@SUM(A1)"}},
            // A revenue no order has: kept as a miss, counted as a purchase without value.
            {"type": "track", "userId": "mallory", "event": "Order Completed", "messageId": "s-2",
             "properties": {"order_id": "o", "revenue": 1e307, "currency": "EUR"}},
            {"type": "track", "userId": "mallory", "event": "Order Completed", "messageId": "s-3",
             "properties": {"order_id": "o2", "revenue": 10, "currency": "EUR"}}
        ]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let profile = run
        .wait_for_profile("mallory", |p| p["event_count"] == 3)
        .await;
    assert_eq!(profile["purchases"]["count"], 2, "{profile}");
    assert_eq!(profile["purchases"]["revenue"], 10.0, "{profile}");
    // The workspace keeps answering: the profile's pages, RFM, what-if.
    for path in [
        "/v1/profiles/mallory/timeline",
        "/v1/profiles/mallory/scores/why",
    ] {
        let (status, body) = run.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let as_of = chrono::Utc::now().timestamp_millis() + 60_000;
    let (status, report) = run
        .json(Method::POST, "/v1/rfm", Some(&json!({"as_of": as_of})))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["revenue"], 10.0, "{report}");

    // A segment of everyone with an email, exported as CSV: formulas escaped, JSON lines as is.
    let (status, seg) = run
        .json(
            Method::POST,
            "/v1/segments",
            Some(&json!({"name": "all", "definition": {"score": {"gte": 0}}})),
        )
        .await;
    assert_eq!(status, 201, "{seg}");
    let id = seg["id"].as_str().expect("id");
    let (status, content_type, body) = run
        .call(
            Method::GET,
            &format!("/v1/segments/{id}/export?format=csv"),
            common::TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/csv"));
    let text = String::from_utf8(body).expect("utf-8");
    assert!(
        text.contains("'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")"),
        "{text}"
    );
    assert!(!text.contains(",=HYPERLINK"), "{text}");
    let (_, _, body) = run
        .call(
            Method::GET,
            &format!("/v1/segments/{id}/export?format=jsonl"),
            common::TOKEN,
            None,
        )
        .await;
    let line: Value =
        serde_json::from_slice(body.split(|b| *b == b'\n').next().expect("line")).expect("json");
    assert_eq!(
        line["traits"]["company"], "=HYPERLINK(\"http://evil.example\",\"x\")",
        "{line}"
    );

    // Answers with personal data are not kept by caches, nor sniffed.
    let r = run
        .http
        .get(format!("http://{}/v1/profiles/mallory", run.query))
        .bearer_auth(common::TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = run
        .http
        .get(format!("http://{}/v1/nothing-here", run.query))
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_resists_poison_and_formula_injection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = common::start(common::embedded_config(dir.path())).await;
    check(&run).await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_resists_poison_and_formula_injection() {
    let config = common::distributed_config();
    let clickhouse = config.clickhouse.clone();
    let run = common::start(config).await;
    check(&run).await;
    run.stop().await;
    common::drop_database(&clickhouse).await;
}
