//! A broker outage against a real broker: the test runs its own tansu behind a loopback link it
//! cuts and restores. While the link is down the collector keeps acknowledging events into its
//! on-disk spool, answers 503 with `Retry-After` once the spool is full, survives a restart with
//! a non-empty spool, and replays everything in order when the broker is back; the topic is read
//! back to check.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use leadstream_ingest::{AppState, router};
use leadstream_platform::config::{IngestConfig, KafkaConfig, SpoolConfig};
use leadstream_platform::log::kafka::{KafkaConsumer, KafkaLog, ensure_topic};
use leadstream_platform::log::spooled::SpooledLog;
use leadstream_platform::log::{EventLog, LogConsumer};
use leadstream_platform::testing::{OwnBroker, unique, workspace};
use leadstream_platform::workspaces::Registry;
use leadstream_schemas::LogRecord;
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY: &str = "wk_spool_acme_1";

fn registry() -> Arc<Registry> {
    Arc::new(Registry::from_parts(&[workspace("acme", &[KEY], &[])], &[]))
}

fn spool_config() -> SpoolConfig {
    SpoolConfig {
        enabled: true,
        dir: None,
        max_bytes: 12 * 1024,
        after_ms: 1_000,
        replay_batch: 3,
    }
}

/// Opens the spooled log, retrying while an earlier instance still holds the spool file.
async fn open(kafka: &KafkaConfig, dir: &std::path::Path) -> SpooledLog {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let producer = KafkaLog::new(kafka).expect("producer");
        match SpooledLog::open(producer, dir, &spool_config()) {
            Ok(log) => return log,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("spool still held: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("the spool never opened: {e}"),
        }
    }
}

fn app(log: &SpooledLog) -> axum::Router {
    let state = AppState::new(registry(), Arc::new(log.clone()), &IngestConfig::default());
    router(state)
}

async fn send(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = app.clone().oneshot(req).await.expect("response");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Posts a batch of `(person, seq)` events with message ids `m-{person}-{seq}`.
async fn post(
    app: &axum::Router,
    events: &[(&str, u32)],
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let batch: Vec<Value> = events
        .iter()
        .map(|(person, seq)| {
            json!({"type": "track", "userId": person, "event": "Page Viewed",
                   "messageId": format!("m-{person}-{seq}"), "properties": {"seq": seq}})
        })
        .collect();
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    let req = Request::post("/v1/batch")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Basic {basic}"))
        .body(Body::from(json!({ "batch": batch }).to_string()))
        .expect("request");
    send(app, req).await
}

async fn ready(app: &axum::Router) -> (StatusCode, Value) {
    let (status, _, body) = send(
        app,
        Request::get("/ready").body(Body::empty()).expect("request"),
    )
    .await;
    (status, body)
}

/// Waits until the spool is inactive and empty (everything reached the broker), failing with
/// `what` after `within`.
async fn until_drained(log: &SpooledLog, within: Duration, what: &str) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let s = log.status();
        if !s.active && s.messages == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_broker_outage_is_ridden_out_on_disk_and_replayed_in_order() {
    let broker = OwnBroker::start().await;
    let kafka = KafkaConfig {
        brokers: broker.addr.to_string(),
        events_topic: unique("leadstream_spool"),
        partitions: 2,
        ..KafkaConfig::default()
    };
    ensure_topic(&kafka, &kafka.events_topic)
        .await
        .expect("topic");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut accepted: Vec<(String, u32)> = Vec::new();

    let log = open(&kafka, dir.path()).await;
    let collector = app(&log);
    // The first write to a fresh topic can take the broker longer than `after_ms` (metadata,
    // partition leaders, SQLite files): it is then spooled and replayed, as designed. Wait for
    // that to settle, so that what follows starts from a warm, healthy broker.
    let (status, _, body) = post(&collector, &[("warm", 0)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    accepted.push(("warm".into(), 0));
    until_drained(
        &log,
        Duration::from_secs(60),
        "the warm-up write never reached the broker",
    )
    .await;
    let (status, _, body) = post(&collector, &[("ada", 0), ("ada", 1)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    accepted.extend([("ada".into(), 0), ("ada".into(), 1)]);
    let (status, body) = ready(&collector).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["spool"]["active"], false, "{body}");

    // The network to the broker goes away: requests are still acknowledged, from the spool.
    broker.cut();
    let (status, _, body) = post(&collector, &[("ada", 2), ("ada", 3)]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "spooled after the broker did not confirm: {body}"
    );
    accepted.extend([("ada".into(), 2), ("ada".into(), 3)]);
    let (status, _, body) = post(&collector, &[("ada", 4), ("bob", 0)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    accepted.extend([("ada".into(), 4), ("bob".into(), 0)]);
    let (status, body) = ready(&collector).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "ready while the spool has room: {body}"
    );
    assert_eq!(body["spool"]["active"], true, "{body}");
    assert_eq!(body["spool"]["messages"], 4, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("spooling")),
        "{body}"
    );

    // Until the spool is full; then 503 with Retry-After, and nothing of that batch is kept.
    let mut seq = 1;
    let full = loop {
        let (status, headers, body) = post(&collector, &[("bob", seq)]).await;
        if status == StatusCode::OK {
            accepted.push(("bob".into(), seq));
            seq += 1;
            assert!(seq < 200, "the spool never filled");
            continue;
        }
        break (status, headers, body);
    };
    let (status, headers, body) = full;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "spool_full", "{body}");
    assert_eq!(headers[header::RETRY_AFTER], "30");
    let (status, body) = ready(&collector).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "not ready while full: {body}"
    );
    assert_eq!(body["status"], "not_ready", "{body}");
    let spooled = log.status().messages;
    assert_eq!(
        spooled as usize,
        accepted.len() - 3,
        "everything since the cut is spooled"
    );

    // The collector restarts during the outage: the spool is still there, and still first.
    drop(collector);
    drop(log);
    let log = open(&kafka, dir.path()).await;
    assert!(log.status().active, "a non-empty spool starts out active");
    assert_eq!(log.status().messages, spooled);
    let collector = app(&log);

    // The broker is back: the spool drains in order, and appends go direct again.
    broker.restore();
    until_drained(&log, Duration::from_secs(90), "the spool never drained").await;
    let (status, _, body) = post(&collector, &[("ada", 5), ("bob", seq)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    accepted.extend([("ada".into(), 5), ("bob".into(), seq)]);
    assert_eq!(log.status().messages, 0, "went straight to the broker");
    let (status, body) = ready(&collector).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["spool"]["active"], false, "{body}");

    // The topic holds every accepted event (at least once), each person's in order.
    let mut reader_config = kafka.clone();
    reader_config.consumer_group = unique("leadstream_spool_reader");
    let mut reader = KafkaConsumer::new(&reader_config).expect("reader");
    let expected: BTreeSet<String> = accepted.iter().map(|(p, s)| format!("m-{p}-{s}")).collect();
    let mut first_seen: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ids.len() < expected.len() && tokio::time::Instant::now() < deadline {
        for d in reader
            .poll(500, Duration::from_millis(500))
            .await
            .expect("poll")
        {
            let record = LogRecord::decode(&d.payload).expect("decodes");
            let key = String::from_utf8(d.key.expect("key")).expect("utf8");
            assert_eq!(key, record.key());
            let id = record.event.message_id.clone().expect("messageId");
            if ids.insert(id) {
                let seq = record.event.properties["seq"].as_u64().expect("seq") as u32;
                first_seen.entry(key).or_default().push(seq);
            }
        }
    }
    assert_eq!(
        ids, expected,
        "exactly the accepted events reached the topic"
    );
    for (key, seqs) in &first_seen {
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(
            seqs, &sorted,
            "{key}'s events arrived in the order they were sent"
        );
    }
    assert_eq!(first_seen["acme/ada"].len(), 6);

    drop(reader);
    log.flush(Duration::from_secs(5)).await.expect("flush");
    drop(collector);
    drop(log);
    broker.stop().await;
}
