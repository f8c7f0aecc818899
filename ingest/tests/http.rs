//! The collector's HTTP contract, driven through the router over a real embedded log, which the
//! tests read back to check what was written (keys included). Every endpoint's bad inputs are here.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use leadstream_ingest::{AppState, router};
use leadstream_platform::config::{IngestConfig, SigningKey, WorkspaceConfig};
use leadstream_platform::failed::{EmbeddedFailed, FailedEvents};
use leadstream_platform::log::embedded::EmbeddedLog;
use leadstream_platform::log::{Delivered, LogConsumer};
use leadstream_platform::workspaces::Registry;
use leadstream_schemas::LogRecord;
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY: &str = "wk_test_acme_123";
const OTHER_KEY: &str = "wk_test_globex_456";

struct Harness {
    app: axum::Router,
    log: EmbeddedLog,
    /// What the collector refused.
    failed: EmbeddedFailed,
    /// The API tokens issued through the query API, as the collector holds them.
    issued: Arc<leadstream_platform::auth::IssuedTokens>,
    _dir: tempfile::TempDir,
}

fn harness_with(limits: IngestConfig) -> Harness {
    harness_custom(limits, |_| {})
}

/// A harness whose state `change` adjusts before the router is built.
fn harness_custom(limits: IngestConfig, change: impl FnOnce(&mut AppState)) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path()).expect("log");
    let ws = |name: &str, key: &str| WorkspaceConfig {
        name: name.into(),
        write_keys: vec![key.into()],
        public_write_keys: vec![format!("{key}_public")],
        api_tokens: vec![format!("tok_{name}_0123456789abcdef")],
        api_token_sha256: vec![],
        read_tokens: vec![format!("tok_{name}_read_0123456789")],
        read_token_sha256: vec![],
        site: Some(format!("https://{name}.io")),
        ..Default::default()
    };
    let registry = Registry::from_parts(&[ws("acme", KEY), ws("globex", OTHER_KEY)], &[]);
    let mut state = AppState::new(Arc::new(registry), Arc::new(log.clone()), &limits);
    let failed = EmbeddedFailed::open(&dir.path().join("failed")).expect("failed events");
    state.failed = Some(Arc::new(failed.clone()));
    change(&mut state);
    Harness {
        issued: state.issued.clone(),
        app: router(state),
        log,
        failed,
        _dir: dir,
    }
}

fn email_config(min_click_delay_secs: u64) -> IngestConfig {
    let mut c = IngestConfig::default();
    c.email.signing_keys = vec![SigningKey {
        id: "k1".into(),
        secret: "k1-secret-0123456789abcdefghijklmnopq".into(),
    }];
    c.email.min_click_delay_secs = min_click_delay_secs;
    c.email.public_url = Some("http://t.acme.io".into());
    c
}

fn harness() -> Harness {
    harness_with(email_config(5))
}

impl Harness {
    async fn post(
        &self,
        path: &str,
        auth: Option<&str>,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let mut req = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = auth {
            use base64::Engine;
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
            req = req.header(header::AUTHORIZATION, format!("Basic {basic}"));
        }
        let response = self
            .app
            .clone()
            .oneshot(req.body(body.into()).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let response = self.app.clone().oneshot(req).await.expect("response");
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

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .app
            .clone()
            .oneshot(
                Request::get(path)
                    .extension(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                        [127, 0, 0, 1],
                        40000,
                    ))))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, String::from_utf8_lossy(&bytes).to_string())
    }

    /// What the collector kept of the events it refused in `acme`, newest first.
    async fn failed_events(&self) -> Vec<leadstream_schemas::FailedEvent> {
        self.failed
            .list("acme", &Default::default(), 10)
            .await
            .expect("failed events")
    }

    async fn written(&self) -> Vec<(String, LogRecord)> {
        let mut consumer = self
            .log
            .consumer(&uuid::Uuid::new_v4().to_string())
            .expect("consumer");
        let got: Vec<Delivered> = consumer
            .poll(10_000, Duration::from_millis(10))
            .await
            .expect("poll");
        got.into_iter()
            .map(|d| {
                let key = String::from_utf8(d.key.expect("key")).expect("utf8");
                (key, LogRecord::decode(&d.payload).expect("decodes"))
            })
            .collect()
    }
}

impl Harness {
    /// The call types written so far, in log order.
    async fn written_types(&self) -> Vec<&'static str> {
        self.written()
            .await
            .iter()
            .map(|(_, r)| r.event.event_type.as_str())
            .collect()
    }
}

fn assert_error(body: &Value, code: &str, field: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    if field.is_empty() {
        assert!(body["error"].get("field").is_none(), "{body}");
    } else {
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    // Also at the top level, where RudderStack's and Segment's SDKs read them.
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["message"], body["error"]["message"], "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn ids_that_cannot_identify_a_person_are_dropped_or_refused() {
    let h = harness();
    let body = json!({"batch": [
        // userId "undefined" is dropped; the event counts for the device.
        {"type": "identify", "userId": "undefined", "anonymousId": "dev-1", "traits": {"a": 1}},
        // No usable id left: refused, naming the field.
        {"type": "track", "userId": "null", "event": "X"},
        {"type": "track", "anonymousId": " Anonymous ", "event": "X"},
        // An alias from an unusable id: refused.
        {"type": "alias", "userId": "u-1", "previousId": "0"},
        {"type": "track", "userId": "u-1", "event": "Fine"}
    ]});
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.to_string()).await;
    // Some accepted: 200, the others listed (SDKs would report a 4xx as the whole batch lost).
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 2, "{resp}");
    let rejected: Vec<(u64, String)> = resp["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            assert!(
                r["message"].as_str().expect("message").contains("identif"),
                "{r}"
            );
            (
                r["index"].as_u64().expect("index"),
                r["field"].as_str().expect("field").to_string(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "batch[1].userId".to_string()),
            (2, "batch[2].anonymousId".to_string()),
            (3, "batch[3].previousId".to_string())
        ]
    );
    let written = h.written().await;
    assert_eq!(written.len(), 2);
    assert_eq!(written[0].0, "acme/dev-1");
    assert_eq!(written[0].1.event.user_id, None);
    assert_eq!(written[1].0, "acme/u-1");
}

#[tokio::test]
async fn a_valid_batch_is_written_enriched_and_keyed_by_person() {
    let h = harness();
    let body = json!({
        "context": {"channel": "web", "locale": "en-US"},
        "batch": [
            {"type": "page", "anonymousId": "anon-1", "name": "Pricing", "context": {"page": {"url": "https://acme.io/pricing"}}},
            {"type": "identify", "anonymousId": "anon-1", "userId": "user-1", "traits": {"email": "a@acme.io"}, "messageId": "m-identify"},
            {"type": "track", "userId": "user-2", "event": "Order Completed", "properties": {"order_id": "o1", "revenue": 99.5, "currency": "EUR"}}
        ]
    });
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(
        resp,
        json!({"success": true, "accepted": 3, "rejected": []})
    );

    let written = h.written().await;
    assert_eq!(written.len(), 3);
    let keys: Vec<&str> = written.iter().map(|(k, _)| k.as_str()).collect();
    // Keyed by the profile the event counts toward: the userId when there is one.
    assert_eq!(keys, vec!["acme/anon-1", "acme/user-1", "acme/user-2"]);
    for (_, record) in &written {
        assert_eq!(record.v, leadstream_schemas::SCHEMA_VERSION);
        assert_eq!(record.workspace, "acme");
        assert_eq!(record.event.workspace.as_deref(), Some("acme"));
        assert!(record.event.received_at.is_some() && record.event.timestamp.is_some());
        assert!(record.event.message_id.is_some());
        assert_eq!(
            record.event.context.channel.as_deref(),
            Some("web"),
            "batch context merged"
        );
    }
    assert_eq!(written[1].1.event.message_id.as_deref(), Some("m-identify"));
    assert_eq!(written[1].1.event.traits["email"], "a@acme.io");
}

#[tokio::test]
async fn a_bad_event_is_rejected_by_index_and_the_good_ones_are_still_written() {
    let h = harness();
    let body = json!({"writeKey": KEY, "batch": [
        {"type": "track", "userId": "u1", "event": "File Downloaded", "properties": {"file_name": "guide.pdf"}},
        {"type": "track", "event": "No Person"},
        {"type": "launch", "userId": "u1"},
        {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"order_id": "o1", "currency": "EUR"}},
        "not an object",
        {"type": "track", "userId": "u3", "event": "Form Submitted", "properties": {"form_id": "f1"}},
        {"type": "track", "userId": "u4", "event": "Lead Converted"}
    ]});
    let (status, resp) = h.post("/v1/batch", None, body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["success"], true);
    assert_eq!(resp["accepted"], 3);
    let rejected: Vec<(u64, &str)> = resp["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().expect("index"),
                r["field"].as_str().expect("field"),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "batch[1].userId"),
            (2, "batch[2].type"),
            (4, "batch[4]"),
            (6, "batch[6].event")
        ]
    );
    assert!(
        resp["rejected"][1]["message"]
            .as_str()
            .expect("message")
            .contains("unknown variant `launch`")
    );
    assert_error(&resp, "invalid_events", "batch[1].userId");

    let written = h.written().await;
    let users: Vec<&str> = written
        .iter()
        .map(|(_, r)| r.event.user_id.as_deref().expect("user"))
        .collect();
    assert_eq!(users, vec!["u1", "u1", "u3"]);
    // The purchase without a value is kept, with what it missed.
    let misses = &written[1]
        .1
        .event
        .enrichment
        .as_ref()
        .expect("enriched")
        .expectation_misses;
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert_eq!(misses[0].field, "properties.revenue");

    // Every refused event is kept, with the reason, the endpoint and the payload.
    let failed = h.failed_events().await;
    assert_eq!(failed.len(), 4, "{failed:?}");
    let oldest = failed.last().expect("one");
    assert_eq!(oldest.endpoint, "/v1/batch");
    assert_eq!(oldest.code, "invalid_field");
    assert_eq!(oldest.field.as_deref(), Some("userId"));
    assert_eq!(oldest.event_name.as_deref(), Some("No Person"));
    let payload: Value = serde_json::from_str(&oldest.payload).expect("payload");
    assert_eq!(payload, json!({"type": "track", "event": "No Person"}));
    assert!(!oldest.message_id.is_empty());
}

#[tokio::test]
async fn a_batch_with_nothing_accepted_answers_400_and_keeps_each_refusal() {
    let h = harness();
    let body = json!({"batch": [
        {"type": "track", "event": "No Person"},
        {"type": "track", "userId": "u", "messageId": "m-9"}
    ]});
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_eq!(resp["success"], false);
    assert_eq!(resp["accepted"], 0);
    assert_error(&resp, "invalid_events", "batch[0].userId");
    let failed = h.failed_events().await;
    assert_eq!(failed.len(), 2);
    // The client's messageId is kept for a replay.
    assert_eq!(failed[0].message_id, "m-9");
    assert_eq!(failed[0].field.as_deref(), Some("event"));
    // A body that is not JSON, with the key in the header: kept whole.
    let (status, resp) = h.post("/v1/track", Some(KEY), "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "malformed_json", "body");
    let failed = h.failed_events().await;
    assert_eq!(failed[0].code, "malformed_json");
    assert_eq!(failed[0].endpoint, "/v1/track");
    assert_eq!(failed[0].payload, "{not json");
    // Refusals of the write key are only counted: nothing to attribute them to.
    let (status, _) = h.post("/v1/track", Some("wk_nobody"), "{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        h.failed
            .list("globex", &Default::default(), 10)
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn public_write_keys_cannot_send_crm_events() {
    let h = harness();
    let batch = |key: &str| {
        json!({"writeKey": key, "batch": [
            {"type": "page", "userId": "u1"},
            {"type": "track", "userId": "u1", "event": "Deal Won"},
            {"type": "track", "userId": "u1", "event": "Lead Recycled", "properties": {"reason": "x"}}
        ]})
        .to_string()
    };
    let (status, resp) = h
        .post("/v1/batch", None, batch(&format!("{KEY}_public")))
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 1, "{resp}");
    let fields: Vec<&str> = resp["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| r["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["batch[1].event", "batch[2].event"]);
    // A server-side key may.
    let (status, resp) = h.post("/v1/batch", None, batch(KEY)).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(h.written().await.len(), 4);
}

#[tokio::test]
async fn malformed_bodies_answer_400_naming_the_body() {
    let h = harness();
    let (status, resp) = h
        .post("/v1/batch", Some(KEY), r#"{"batch": [{"type": "track""#)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "malformed_json", "body");

    let (status, resp) = h
        .post("/v1/batch", Some(KEY), vec![b'{', 0xff, 0xfe, b'}'])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_utf8", "body");

    let (status, resp) = h
        .post("/v1/batch", Some(KEY), r#"{"batch": {"type": "track"}}"#)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "batch");

    let (status, resp) = h.post("/v1/batch", Some(KEY), r#"{"events": []}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "batch");

    let (status, resp) = h.post("/v1/batch", Some(KEY), r#"[1, 2]"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "body");

    let (status, resp) = h
        .post(
            "/v1/batch",
            Some(KEY),
            r#"{"batch": [], "sentAt": "last tuesday"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "sentAt");

    assert!(h.written().await.is_empty());
}

#[tokio::test]
async fn write_keys_are_required_and_must_be_known() {
    let h = harness();
    let batch = json!({"batch": [{"type": "track", "userId": "u", "event": "x"}]}).to_string();
    let (status, resp) = h.post("/v1/batch", None, batch.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&resp, "unauthorized", "writeKey");
    let (status, resp) = h
        .post("/v1/batch", Some("wk_nobody_knows"), batch.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&resp, "unauthorized", "writeKey");
    // A key routes to its own workspace.
    let (status, _) = h.post("/v1/batch", Some(OTHER_KEY), batch).await;
    assert_eq!(status, StatusCode::OK);
    let written = h.written().await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].1.workspace, "globex");
    assert_eq!(written[0].0, "globex/u");
}

#[tokio::test]
async fn size_limits_answer_413_for_bodies_and_reject_oversize_events() {
    let h = harness_with(IngestConfig {
        max_event_bytes: 200,
        max_batch_bytes: 1000,
        ..IngestConfig::default()
    });
    let big = "x".repeat(2000);
    let (status, resp) = h
        .post(
            "/v1/batch",
            Some(KEY),
            json!({"batch": [], "pad": big}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&resp, "body_too_large", "body");

    let body = json!({"batch": [
        {"type": "track", "userId": "u", "event": "x", "properties": {"pad": "y".repeat(300)}},
        {"type": "track", "userId": "u", "event": "small"}
    ]});
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 1);
    assert_eq!(resp["rejected"][0]["field"], "batch[0]");
    assert!(
        resp["rejected"][0]["message"]
            .as_str()
            .expect("message")
            .contains("over the limit of 200")
    );

    let (status, resp) = h
        .post(
            "/v1/track",
            Some(KEY),
            json!({"userId": "u", "event": "x", "properties": {"pad": "y".repeat(300)}})
                .to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&resp, "body_too_large", "body");
}

#[tokio::test]
async fn deeply_nested_properties_are_refused_naming_the_field() {
    let h = harness_with(IngestConfig {
        max_nesting_depth: 4,
        ..IngestConfig::default()
    });
    // The event is level 1, properties 2, `a` 3, `b` 4: allowed; a container inside `b` is not.
    let body = json!({"batch": [
        {"type": "track", "userId": "u", "event": "ok", "properties": {"a": {"b": {}}}},
        {"type": "track", "userId": "u", "event": "deep", "properties": {"a": {"b": {"c": {}}}}},
        {"type": "track", "userId": "u", "event": "deep list", "properties": {"l": [[[1]]]}}
    ]});
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 1, "{resp}");
    assert_eq!(
        resp["rejected"][0]["field"], "batch[1].properties.a.b.c",
        "{resp}"
    );
    assert_eq!(
        resp["rejected"][1]["field"], "batch[2].properties.l[0][0]",
        "{resp}"
    );
    assert!(
        resp["rejected"][0]["message"]
            .as_str()
            .expect("message")
            .contains("limit of 4"),
        "{resp}"
    );
    let written = h.written().await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].1.event.event.as_deref(), Some("ok"));

    let (status, resp) = h
        .post(
            "/v1/track",
            Some(KEY),
            json!({"userId": "u", "event": "x", "context": {"a": {"b": {"c": {}}}}}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_error(&resp, "invalid_field", "context.a.b.c");
    assert_eq!(h.written().await.len(), 1);
}

#[tokio::test]
async fn single_event_endpoints_take_their_type_from_the_path() {
    let h = harness();
    let (status, resp) = h
        .post(
            "/v1/identify",
            Some(KEY),
            json!({"userId": "u9", "traits": {"name": "Ada"}}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (status, resp) =
        h.post("/v1/track", None, json!({"writeKey": KEY, "anonymousId": "a9", "event": "Webinar Registered", "properties": {"webinar_id": "w1"}}).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (status, resp) = h
        .post(
            "/v1/page",
            Some(KEY),
            json!({"anonymousId": "a9", "name": "Home"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    // A `type` in the body loses to the path's.
    let (status, resp) = h
        .post(
            "/v1/screen",
            Some(KEY),
            json!({"type": "track", "userId": "u9", "name": "Settings"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");

    let (status, resp) = h
        .post(
            "/v1/track",
            Some(KEY),
            json!({"userId": 5, "event": "x"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "userId");
    let (status, resp) = h
        .post("/v1/track", Some(KEY), json!({"event": "x"}).to_string())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "userId");
    let (status, resp) = h
        .post("/v1/track", Some(KEY), json!({"userId": "u"}).to_string())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "event");
    let (status, resp) = h.post("/v1/track", Some(KEY), "[]").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "body");
    let (status, resp) = h.post("/v1/track", Some(KEY), "{nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "malformed_json", "body");
    let (status, resp) = h.post("/v1/launch", Some(KEY), "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(resp["error"]["code"], "not_found");
    let (status, _) = h
        .post(
            "/v1/track",
            None,
            json!({"userId": "u", "event": "x"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_eq!(
        h.written_types().await,
        vec!["identify", "track", "page", "screen"]
    );
}

/// What Segment's browser SDK (analytics.js 2.0) sends: one letter per call under its API host,
/// `text/plain` (no CORS preflight), the write key in the body; batches to `/b`.
#[tokio::test]
async fn analytics_js_short_paths_and_batch_path_are_accepted() {
    let h = harness();
    let public = format!("{KEY}_public");
    let text_plain = |path: &str, body: Value| {
        Request::post(path)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let calls = [
        (
            "/v1/p",
            json!({"anonymousId": "a1", "name": "Pricing", "properties": {"url": "https://shop.example/pricing"}}),
        ),
        (
            "/v1/i",
            json!({"anonymousId": "a1", "userId": "u1", "traits": {"email": "u1@example.com"}}),
        ),
        (
            "/v1/t",
            json!({"anonymousId": "a1", "userId": "u1", "event": "Pricing Viewed"}),
        ),
        (
            "/v1/g",
            json!({"anonymousId": "a1", "userId": "u1", "groupId": "acct-1"}),
        ),
        ("/v1/a", json!({"userId": "u1b", "previousId": "u1"})),
        ("/v1/s", json!({"userId": "u1", "name": "Home"})),
    ];
    for (path, mut body) in calls {
        body["writeKey"] = json!(public);
        body["_metadata"] = json!({"bundled": ["Segment.io"], "unbundled": []});
        let (status, _, resp) = h.send(text_plain(path, body)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {resp}");
    }
    let batch = json!({"writeKey": public, "sentAt": "2026-01-01T00:00:01Z", "batch": [
        {"type": "track", "anonymousId": "a2", "event": "Signed Up", "timestamp": "2026-01-01T00:00:00Z"},
        {"type": "page", "anonymousId": "a2", "name": "Docs"},
    ]});
    let (status, _, resp) = h.send(text_plain("/v1/b", batch)).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 2);
    // A letter that names no call is still a 404, and the key is still required.
    let (status, _, resp) = h
        .send(text_plain(
            "/v1/x",
            json!({"writeKey": public, "userId": "u"}),
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(resp["error"]["code"], "not_found");
    let (status, _, _) = h
        .send(text_plain("/v1/t", json!({"userId": "u", "event": "x"})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_eq!(
        h.written_types().await,
        vec![
            "page", "identify", "track", "group", "alias", "screen", "track", "page"
        ]
    );
}

/// What Segment's CDN serves the browser SDK: here, settings that point it back at the collector.
#[tokio::test]
async fn analytics_js_settings_point_the_sdk_at_the_collector() {
    let h = harness();
    let get = |path: String, host: &'static str| {
        Request::get(path)
            .header(header::HOST, host)
            .body(Body::empty())
            .expect("request")
    };
    let (status, headers, settings) = h
        .send(get(
            format!("/v1/projects/{KEY}_public/settings"),
            "t.shop.example:8080",
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .contains("max-age")
    );
    let segmentio = &settings["integrations"]["Segment.io"];
    assert_eq!(segmentio["apiKey"], format!("{KEY}_public"));
    assert_eq!(segmentio["apiHost"], "t.shop.example:8080/v1");
    assert_eq!(segmentio["protocol"], "http");
    // No other destination, no remote plugin, no usage metrics sent to Segment.
    assert_eq!(settings["integrations"].as_object().expect("map").len(), 1);
    assert_eq!(settings["remotePlugins"], json!([]));
    assert_eq!(settings["metrics"]["sampleRate"], 0);

    let (status, _, resp) = h
        .send(get(
            "/v1/projects/wk_nobody/settings".into(),
            "t.shop.example",
        ))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp["error"]["code"], "unauthorized");

    // Behind TLS, the configured public URL is what the SDK is told.
    let mut config = email_config(5);
    config.public_url = Some("https://t.shop.example/collect/".into());
    let h = harness_with(config);
    let (status, _, settings) = h
        .send(get(format!("/v1/projects/{KEY}/settings"), "10.0.0.5:8080"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        settings["integrations"]["Segment.io"]["apiHost"],
        "t.shop.example/collect/v1"
    );
    assert_eq!(settings["integrations"]["Segment.io"]["protocol"], "https");
}

/// What RudderStack's control plane serves its browser SDK: a source with no destinations.
#[tokio::test]
async fn rudderstack_source_config_names_the_workspace_and_no_destinations() {
    let h = harness();
    let get = |uri: String| Request::get(uri).body(Body::empty()).expect("request");
    let (status, headers, config) = h
        .send(get(format!(
            "/sourceConfig/?p=npm&v=3.34.1&build=modern&writeKey={KEY}_public&lockIntegrationsVersion=true"
        )))
        .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .contains("max-age")
    );
    assert_eq!(config["source"]["workspaceId"], "acme");
    assert_eq!(config["source"]["writeKey"], format!("{KEY}_public"));
    assert_eq!(config["source"]["enabled"], true);
    assert_eq!(config["source"]["destinations"], json!([]));
    assert_eq!(
        config["source"]["config"]["statsCollection"]["metrics"]["enabled"],
        false
    );
    // The key may come as Basic auth instead (the SDK sends both).
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{OTHER_KEY}:"));
    let (status, _, config) = h
        .send(
            Request::get("/sourceConfig")
                .header(header::AUTHORIZATION, format!("Basic {basic}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["source"]["workspaceId"], "globex");
    for uri in ["/sourceConfig/?writeKey=wk_nobody", "/sourceConfig/"] {
        let (status, _, resp) = h.send(get(uri.into())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_error(&resp, "unauthorized", "writeKey");
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let h = harness();
    assert_eq!(h.get("/health").await.0, StatusCode::OK);
    assert_eq!(h.get("/ready").await.0, StatusCode::OK);
    let _ = h
        .post(
            "/v1/batch",
            Some(KEY),
            json!({"batch": [{"type": "track", "event": "x"}]}).to_string(),
        )
        .await;
    let (status, text) = h.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("leadstream_ingest_events_total{outcome=\"rejected\"}"),
        "{text}"
    );
    assert!(
        text.contains("leadstream_ingest_requests_total{route=\"/v1/batch\",status=\"400\"}"),
        "{text}"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("compress");
    encoder.finish().expect("finish")
}

fn batch_request(_: ()) -> axum::http::request::Builder {
    Request::post("/v1/batch").header(header::CONTENT_TYPE, "application/json")
}

#[tokio::test]
async fn gzip_bodies_are_accepted_and_bounded_after_decompression() {
    let h = harness_with(IngestConfig {
        max_event_bytes: 1000,
        max_batch_bytes: 4000,
        ..IngestConfig::default()
    });
    let body =
        json!({"writeKey": KEY, "batch": [{"type": "track", "userId": "u", "event": "Zipped"}]})
            .to_string();
    let req = batch_request(())
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(gzip(body.as_bytes())))
        .expect("req");
    let (status, _, resp) = h.send(req).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(
        h.written().await[0].1.event.event.as_deref(),
        Some("Zipped")
    );

    // 100 KB of JSON compresses to a few hundred bytes: refused by its decompressed size.
    let bomb = json!({"writeKey": KEY, "batch": [], "pad": " ".repeat(100_000)}).to_string();
    let compressed = gzip(bomb.as_bytes());
    assert!(compressed.len() < 4000);
    let req = batch_request(())
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(compressed))
        .expect("req");
    let (status, _, resp) = h.send(req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&resp, "body_too_large", "body");

    let req = batch_request(())
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from("not gzip at all"))
        .expect("req");
    let (status, _, resp) = h.send(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "malformed_json", "body");

    let req = batch_request(())
        .header(header::CONTENT_ENCODING, "br")
        .body(Body::from(body))
        .expect("req");
    let (status, _, resp) = h.send(req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error(&resp, "unsupported_encoding", "Content-Encoding");
}

#[tokio::test]
async fn a_write_key_over_its_rate_limit_gets_429_with_retry_after() {
    let h = harness_with(IngestConfig {
        rate_limit_per_second: 1,
        rate_limit_burst: 2,
        ..IngestConfig::default()
    });
    let body = json!({"batch": [{"type": "track", "userId": "u", "event": "x"}]}).to_string();
    for _ in 0..2 {
        assert_eq!(
            h.post("/v1/batch", Some(KEY), body.clone()).await.0,
            StatusCode::OK
        );
    }
    let req = batch_request(())
        .header(
            header::AUTHORIZATION,
            format!("Basic {}", {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"))
            }),
        )
        .body(Body::from(body.clone()))
        .expect("req");
    let (status, headers, resp) = h.send(req).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp["error"]["code"], "rate_limited");
    assert_eq!(
        headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    // Another workspace's key is not held back; the refused batch was not written.
    assert_eq!(
        h.post("/v1/batch", Some(OTHER_KEY), body).await.0,
        StatusCode::OK
    );
    assert_eq!(h.written().await.len(), 3);
}

#[tokio::test]
async fn client_ip_comes_from_trusted_proxies_only_and_can_be_anonymised() {
    let h = harness_with(IngestConfig {
        trusted_proxies: vec!["127.0.0.0/8".parse().expect("net")],
        anonymize_ip: true,
        ..IngestConfig::default()
    });
    let body = json!({"writeKey": KEY, "batch": [{"type": "page", "userId": "u",
        "context": {"page": {"url": "https://acme.io/?utm_source=ads&utm_campaign=spring"}}}]})
    .to_string();
    let mut req = batch_request(())
        .header("x-forwarded-for", "198.51.100.23, 127.0.0.5")
        .header(header::USER_AGENT, "Mozilla/5.0 (compatible; bingbot/2.0)")
        .body(Body::from(body.clone()))
        .expect("req");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            5555,
        ))));
    assert_eq!(h.send(req).await.0, StatusCode::OK);
    // From an untrusted peer the header is ignored.
    let mut req = batch_request(())
        .header("x-forwarded-for", "198.51.100.23")
        .body(Body::from(body))
        .expect("req");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [192, 0, 2, 44],
            5555,
        ))));
    assert_eq!(h.send(req).await.0, StatusCode::OK);

    let written = h.written().await;
    assert_eq!(
        written[0].1.event.context.ip.as_deref(),
        Some("198.51.100.0")
    );
    assert_eq!(written[1].1.event.context.ip.as_deref(), Some("192.0.2.0"));
    let first = &written[0].1.event;
    assert_eq!(
        first
            .context
            .campaign
            .as_ref()
            .and_then(|c| c.name.as_deref()),
        Some("spring")
    );
    assert!(
        first.enrichment.as_ref().expect("enrichment").bot,
        "bingbot is a bot"
    );
}

async fn pixel(
    h: &Harness,
    query: &str,
    cookie: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::get(format!("/v1/p.gif?{query}"));
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let response = h
        .app
        .clone()
        .oneshot(req.body(Body::empty()).expect("req"))
        .await
        .expect("response");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, headers, bytes.to_vec())
}

#[tokio::test]
async fn the_pixel_records_page_views_and_events_and_sets_the_anonymous_cookie() {
    let h = harness();
    let (status, headers, body) =
        pixel(&h, &format!("wk={KEY}&url=https%3A%2F%2Facme.io%2Fpricing%3Futm_source%3Dnews&title=Pricing&ref=https%3A%2F%2Fgoogle.com"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, leadstream_ingest::routes::pixel::GIF.to_vec());
    assert_eq!(headers[header::CONTENT_TYPE], "image/gif");
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .contains("no-store")
    );
    assert_eq!(headers["x-leadstream-outcome"], "accepted");
    let cookie = headers[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        cookie.starts_with("ls_aid=") && cookie.contains("Max-Age=31536000"),
        "{cookie}"
    );
    let id = cookie
        .trim_start_matches("ls_aid=")
        .split(';')
        .next()
        .expect("id")
        .to_string();

    // The next hit carries the cookie: same anonymous id, no new cookie.
    let (_, headers, _) = pixel(
        &h,
        &format!("wk={KEY}&e=Email%20Opened&p.email_id=m-7&p.campaign_id=c-1"),
        Some(&format!("ls_aid={id}")),
    )
    .await;
    assert_eq!(headers["x-leadstream-outcome"], "accepted");
    assert!(headers.get(header::SET_COOKIE).is_none());

    let written = h.written().await;
    assert_eq!(written.len(), 2);
    let page = &written[0].1.event;
    assert_eq!(page.event_type.as_str(), "page");
    assert_eq!(page.anonymous_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        page.context
            .page
            .as_ref()
            .and_then(|p| p.referrer.as_deref()),
        Some("https://google.com")
    );
    assert_eq!(
        page.context
            .campaign
            .as_ref()
            .and_then(|c| c.source.as_deref()),
        Some("news")
    );
    let open = &written[1].1.event;
    assert_eq!(open.event.as_deref(), Some("Email Opened"));
    assert_eq!(open.anonymous_id.as_deref(), Some(id.as_str()));
    assert_eq!(open.properties["email_id"], "m-7");
    assert_eq!(written[1].0, format!("acme/{id}"));
}

#[tokio::test]
async fn the_pixel_answers_a_gif_also_when_it_refuses_the_event() {
    let h = harness();
    for (query, outcome) in [
        ("e=Email%20Opened&aid=a1", "unauthorized"),
        ("wk=wk_nobody&aid=a1", "unauthorized"),
        // Reserved for the query API: refused (and kept among failed events).
        (
            &*format!("wk={KEY}&aid=a1&e=Lead%20Created"),
            "rejected; field=event; `Lead Created` is reserved: turn a campaign response into a lead with the query API",
        ),
    ] {
        let (status, headers, body) = pixel(&h, query, None).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert_eq!(body, leadstream_ingest::routes::pixel::GIF.to_vec());
        assert_eq!(headers["x-leadstream-outcome"], outcome, "{query}");
    }
    assert!(h.written().await.is_empty());
    let failed = h.failed_events().await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].endpoint, "/v1/p.gif");
    assert_eq!(failed[0].event_name.as_deref(), Some("Lead Created"));
    let (_, text) = h.get("/metrics").await;
    assert!(
        text.contains("leadstream_ingest_pixel_hits_total{outcome=\"rejected\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn the_pixel_keeps_an_event_missing_what_its_kind_expects() {
    let h = harness();
    let (_, headers, _) = pixel(
        &h,
        &format!("wk={KEY}&aid=a1&e=Order%20Completed&p.order_id=o&p.revenue=-5"),
        None,
    )
    .await;
    assert_eq!(headers["x-leadstream-outcome"], "accepted");
    let written = h.written().await;
    let enrichment = written[0].1.event.enrichment.clone().expect("enriched");
    assert_eq!(enrichment.expectation_misses[0].field, "properties.revenue");
    // No currency sent: the workspace's (the default, USD).
    assert_eq!(enrichment.currency.as_deref(), Some("USD"));
}

#[tokio::test]
async fn the_pixel_cookie_can_be_switched_off_or_renamed() {
    let h = harness_with(IngestConfig {
        cookie: leadstream_platform::config::CookieConfig {
            enabled: false,
            ..Default::default()
        },
        ..IngestConfig::default()
    });
    // No cookie and no id: nothing identifies the visitor, so the event is refused.
    let (_, headers, _) = pixel(&h, &format!("wk={KEY}"), None).await;
    assert!(headers.get(header::SET_COOKIE).is_none());
    assert_eq!(
        headers["x-leadstream-outcome"],
        "rejected; field=userId; one of userId or anonymousId is required"
    );

    let h = harness_with(IngestConfig {
        cookie: leadstream_platform::config::CookieConfig {
            name: "vid".into(),
            domain: Some(".acme.io".into()),
            max_age_days: 30,
            enabled: true,
        },
        ..IngestConfig::default()
    });
    let (_, headers, _) = pixel(&h, &format!("wk={KEY}"), None).await;
    let cookie = headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(
        cookie.starts_with("vid=")
            && cookie.contains("Domain=.acme.io")
            && cookie.contains("Max-Age=2592000"),
        "{cookie}"
    );
}

const API_TOKEN: &str = "tok_acme_0123456789abcdef";

async fn mint(h: &Harness, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut req = Request::post("/v1/email/links")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::HOST, "t.acme.io");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let (status, _, body) = h
        .send(req.body(Body::from(body.to_string())).expect("req"))
        .await;
    (status, body)
}

async fn get_path(
    h: &Harness,
    path: &str,
    user_agent: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let req = Request::get(path)
        .header(header::USER_AGENT, user_agent)
        .body(Body::empty())
        .expect("req");
    let response = h.app.clone().oneshot(req).await.expect("response");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, headers, bytes.to_vec())
}

fn path_of(url: &Value) -> String {
    url.as_str()
        .expect("url")
        .trim_start_matches("http://t.acme.io")
        .to_string()
}

const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15";

#[tokio::test]
async fn minted_links_never_take_their_base_from_the_host_header() {
    let body = leadstream_ingest::routes::email::mint_body(
        "m-1",
        "user-1",
        None,
        &["https://acme.io/offer"],
    );
    // No public URL, listening on loopback (the quickstart): the collector's own address.
    let mut config = email_config(0);
    config.email.public_url = None;
    let h = harness_with(config.clone());
    let (status, minted) = mint(&h, Some(API_TOKEN), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    let pixel = minted["open_pixel"].as_str().expect("pixel");
    assert!(pixel.starts_with("http://127.0.0.1:8080/v1/o/"), "{pixel}");
    // Reachable from elsewhere and no public URL: refused, naming the setting (never `Host`).
    config.listen = "0.0.0.0:8080".parse().expect("addr");
    let h = harness_with(config.clone());
    let (status, refused) = mint(&h, Some(API_TOKEN), body.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(refused["code"], "not_configured", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("ingest.public_url")
    );
    // The public URL, whatever the request's Host says.
    config.public_url = Some("https://t.example.com/".into());
    let h = harness_with(config);
    let (status, minted) = mint(&h, Some(API_TOKEN), body).await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    let link = minted["links"][0]["tracked_url"].as_str().expect("link");
    assert!(link.starts_with("https://t.example.com/v1/c/"), "{link}");
}

#[tokio::test]
async fn minted_links_record_opens_and_clicks_and_redirect_only_to_signed_targets() {
    let h = harness_with(email_config(0));
    let body = leadstream_ingest::routes::email::mint_body(
        "m-1",
        "user-1",
        Some("spring"),
        &["https://acme.io/offer", "https://acme.io/blog"],
    );
    // A read-only token may not mint links (they record opens and clicks for anyone).
    let (status, refused) = mint(&h, Some("tok_acme_read_0123456789"), body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_error(&refused, "forbidden", "Authorization");
    let (status, minted) = mint(&h, Some(API_TOKEN), body).await;
    assert_eq!(status, StatusCode::OK, "{minted}");
    assert!(
        minted["open_pixel"]
            .as_str()
            .expect("pixel")
            .starts_with("http://t.acme.io/v1/o/")
    );

    let (status, headers, gif) = get_path(&h, &path_of(&minted["open_pixel"]), BROWSER).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(gif, leadstream_ingest::routes::pixel::GIF.to_vec());
    assert_eq!(headers["x-leadstream-outcome"], "accepted");

    let (status, headers, _) =
        get_path(&h, &path_of(&minted["links"][0]["tracked_url"]), BROWSER).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(headers[header::LOCATION], "https://acme.io/offer");

    // Tampering with the token never redirects.
    let mut tampered = path_of(&minted["links"][1]["tracked_url"]).into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    for path in [tampered.as_str(), "/v1/c/not-a-token", "/v1/c/abc.def"] {
        let (status, headers, body) = get_path(&h, path, BROWSER).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(headers.get(header::LOCATION).is_none());
        let body: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error"]["code"], "invalid_link_token");
    }
    // An open token is not a click token.
    let open_as_click = path_of(&minted["open_pixel"])
        .replace("/v1/o/", "/v1/c/")
        .replace(".gif", "");
    assert_eq!(
        get_path(&h, &open_as_click, BROWSER).await.0,
        StatusCode::BAD_REQUEST
    );

    let written = h.written().await;
    assert_eq!(written.len(), 2);
    let (open, click) = (&written[0].1.event, &written[1].1.event);
    assert_eq!(open.event.as_deref(), Some("Email Opened"));
    assert_eq!(open.user_id.as_deref(), Some("user-1"));
    assert_eq!(open.properties["email_id"], "m-1");
    assert_eq!(open.properties["campaign_id"], "spring");
    assert_eq!(click.event.as_deref(), Some("Email Clicked"));
    assert_eq!(click.properties["link_url"], "https://acme.io/offer");
    assert!(
        !click.enrichment.as_ref().expect("enrichment").bot,
        "a person's click"
    );
    assert_eq!(written[1].1.workspace, "acme");
}

#[tokio::test]
async fn expired_links_are_refused() {
    use leadstream_ingest::email::{LinkClaims, LinkSigner};
    let h = harness();
    let signer = LinkSigner::new(email_config(0).email.signing_keys, 1);
    let claims = LinkClaims {
        kid: String::new(),
        ws: "acme".into(),
        cmp: None,
        msg: "m".into(),
        rcp: "u".into(),
        url: Some("https://acme.io".into()),
        iat: 0,
        exp: 0,
    };
    let old = signer
        .sign(claims, chrono::Utc::now().timestamp() - 2 * 86_400)
        .expect("signed");
    let (status, headers, body) = get_path(&h, &format!("/v1/c/{old}"), BROWSER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers.get(header::LOCATION).is_none());
    assert!(String::from_utf8_lossy(&body).contains("expired"));
}

#[tokio::test]
async fn scanner_opens_and_clicks_are_kept_but_flagged() {
    let h = harness(); // clicks within 5 s of the send are a scanner's
    let body =
        leadstream_ingest::routes::email::mint_body("m-2", "user-2", None, &["https://acme.io/a"]);
    let (_, minted) = mint(&h, Some(API_TOKEN), body).await;
    let scanner_ua =
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)";
    assert_eq!(
        get_path(&h, &path_of(&minted["open_pixel"]), scanner_ua)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get_path(&h, &path_of(&minted["links"][0]["tracked_url"]), BROWSER)
            .await
            .0,
        StatusCode::FOUND
    );
    let written = h.written().await;
    assert_eq!(written.len(), 2, "kept");
    assert!(
        written
            .iter()
            .all(|(_, r)| r.event.enrichment.as_ref().expect("enrichment").bot),
        "flagged"
    );
}

#[tokio::test]
async fn minting_needs_a_token_and_valid_links() {
    let h = harness();
    let good = leadstream_ingest::routes::email::mint_body("m", "u", None, &["https://acme.io"]);
    let (status, body) = mint(&h, None, good.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized", "Authorization");
    assert_eq!(
        mint(&h, Some("tok_wrong_000000000000"), good).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = mint(
        &h,
        Some(API_TOKEN),
        leadstream_ingest::routes::email::mint_body(
            "m",
            "u",
            None,
            &["https://acme.io", "javascript:alert(1)"],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_field", "links[1]");
    let (status, body) = mint(&h, Some(API_TOKEN), json!({"recipient": "u"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_field", "message_id");
    let (status, body) = mint(
        &h,
        Some(API_TOKEN),
        json!({"message_id": " ", "recipient": "u"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_field", "message_id");

    let unsigned = harness_with(IngestConfig::default());
    let (status, body) = mint(
        &unsigned,
        Some(API_TOKEN),
        leadstream_ingest::routes::email::mint_body("m", "u", None, &[]),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "not_configured");
}

const TWILIO_TOKEN: &str = "twilio-auth-token-for-tests";
const SMS_SECRET: &str = "generic-sms-secret-for-tests";

fn sms_harness() -> Harness {
    let mut c = IngestConfig::default();
    c.sms.twilio_auth_token = Some(TWILIO_TOKEN.into());
    c.sms.generic_secret = Some(SMS_SECRET.into());
    c.sms.public_url = Some("https://t.acme.io".into());
    harness_with(c)
}

async fn twilio(
    h: &Harness,
    query: &str,
    params: &[(&str, &str)],
    signature: Option<String>,
) -> (StatusCode, String) {
    use leadstream_ingest::signatures::twilio_signature;
    let path = format!("/v1/webhooks/sms/twilio{query}");
    let map: std::collections::BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signature = signature.unwrap_or_else(|| {
        twilio_signature(TWILIO_TOKEN, &format!("https://t.acme.io{path}"), &map)
    });
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(Body::from(body))
        .expect("req");
    let response = h.app.clone().oneshot(req).await.expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).to_string())
}

#[tokio::test]
async fn twilio_receipts_and_inbound_messages_become_sms_events() {
    let h = sms_harness();
    let wk = format!("?wk={KEY}");
    let (status, body) = twilio(
        &h,
        &wk,
        &[
            ("MessageSid", "SM1"),
            ("MessageStatus", "delivered"),
            ("To", "+15550001111"),
            ("From", "+15559990000"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "<Response/>");
    let (status, _) = twilio(
        &h,
        &wk,
        &[
            ("MessageSid", "SM2"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
            ("To", "+15550001111"),
            ("From", "+15559990000"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = twilio(
        &h,
        &wk,
        &[
            ("MessageSid", "SM3"),
            ("SmsStatus", "received"),
            ("Body", "Yes, call me"),
            ("From", "+15550001111"),
            ("To", "+15559990000"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = twilio(
        &h,
        &wk,
        &[
            ("MessageSid", "SM4"),
            ("Body", " стоп "),
            ("From", "+15550002222"),
            ("To", "+15559990000"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let written = h.written().await;
    let got: Vec<(&str, &str, &str)> = written
        .iter()
        .map(|(k, r)| {
            (
                k.as_str(),
                r.event.event.as_deref().expect("name"),
                r.event.properties["sms_id"].as_str().expect("id"),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("acme/sms:+15550001111", "SMS Delivered", "SM1"),
            ("acme/sms:+15550001111", "SMS Failed", "SM2"),
            ("acme/sms:+15550001111", "SMS Received", "SM3"),
            ("acme/sms:+15550002222", "SMS Opted Out", "SM4"),
        ]
    );
    assert_eq!(written[1].1.event.properties["error_code"], "30003");
    assert_eq!(written[2].1.event.properties["body"], "Yes, call me");
    assert_eq!(written[2].1.event.context.channel.as_deref(), Some("sms"));
}

#[tokio::test]
async fn a_replayed_twilio_callback_or_message_changes_nothing() {
    let h = sms_harness();
    let wk = format!("?wk={KEY}");
    let stop = [
        ("MessageSid", "SM-stop-1"),
        ("From", "+15550002222"),
        ("To", "+15559990000"),
        ("Body", "STOP"),
    ];
    for _ in 0..3 {
        assert_eq!(twilio(&h, &wk, &stop, None).await.0, StatusCode::OK);
    }
    let written = h.written().await;
    assert_eq!(written.len(), 1, "one STOP, however often it is posted");
    assert_eq!(
        written[0].1.event.message_id.as_deref(),
        Some("sms:twilio:SM-stop-1:sms_opted_out")
    );
    // The same message's later status is another event.
    let delivered = [
        ("MessageSid", "SM-stop-1"),
        ("MessageStatus", "delivered"),
        ("To", "+15550002222"),
    ];
    assert_eq!(twilio(&h, &wk, &delivered, None).await.0, StatusCode::OK);
    assert_eq!(h.written().await.len(), 2);
}

#[tokio::test]
async fn twilio_webhooks_must_be_signed_and_well_formed() {
    let h = sms_harness();
    let wk = format!("?wk={KEY}");
    let receipt = [
        ("MessageSid", "SM1"),
        ("MessageStatus", "delivered"),
        ("To", "+15550001111"),
    ];
    let (status, body) = twilio(
        &h,
        &wk,
        &receipt,
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("bad_signature"), "{body}");
    // Signed for another URL (the write key changed on the way).
    let map: std::collections::BTreeMap<String, String> = receipt
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let other = leadstream_ingest::signatures::twilio_signature(
        TWILIO_TOKEN,
        &format!("https://t.acme.io/v1/webhooks/sms/twilio?wk={OTHER_KEY}"),
        &map,
    );
    assert_eq!(
        twilio(&h, &wk, &receipt, Some(other)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Signed, but no write key / unknown write key.
    assert_eq!(
        twilio(&h, "", &receipt, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        twilio(&h, "?wk=wk_nobody_123", &receipt, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Signed, but missing or unknown fields.
    let (status, body) = twilio(
        &h,
        &wk,
        &[("MessageStatus", "delivered"), ("To", "+1555")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("MessageSid"), "{body}");
    let (status, body) = twilio(
        &h,
        &wk,
        &[
            ("MessageSid", "SM9"),
            ("MessageStatus", "teleported"),
            ("To", "+1555"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("MessageStatus"), "{body}");
    assert!(h.written().await.is_empty());

    // Not configured: refused, never accepted unsigned.
    let unconfigured = harness();
    assert_eq!(
        twilio(&unconfigured, &wk, &receipt, None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let req = Request::post("/v1/webhooks/sms/carrier-pigeon")
        .body(Body::empty())
        .expect("req");
    assert_eq!(h.send(req).await.0, StatusCode::NOT_FOUND);
}

async fn generic(h: &Harness, body: &str, signature: Option<String>) -> (StatusCode, Value) {
    let signature = signature.unwrap_or_else(|| {
        leadstream_ingest::signatures::generic_signature(
            SMS_SECRET,
            chrono::Utc::now().timestamp(),
            KEY,
            body.as_bytes(),
        )
    });
    let req = Request::post(format!("/v1/webhooks/sms/generic?wk={KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-leadstream-signature", signature)
        .body(Body::from(body.to_string()))
        .expect("req");
    let (status, _, body) = h.send(req).await;
    (status, body)
}

#[tokio::test]
async fn the_generic_sms_format_is_signed_json() {
    let h = sms_harness();
    let body = json!({"events": [
        {"type": "sent", "message_id": "g1", "to": "+15550003333", "from": "ACME", "timestamp": "2026-11-01T10:00:00Z"},
        {"type": "received", "message_id": "g2", "to": "ACME", "from": "+15550003333", "body": "UNSUBSCRIBE"}
    ]}).to_string();
    let (status, resp) = generic(&h, &body, None).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let written = h.written().await;
    let names: Vec<&str> = written
        .iter()
        .map(|(_, r)| r.event.event.as_deref().expect("name"))
        .collect();
    assert_eq!(names, vec!["SMS Sent", "SMS Opted Out"]);
    assert!(written.iter().all(|(k, _)| k == "acme/sms:+15550003333"));

    let (status, resp) = generic(&h, &body, Some("sha256=00".into())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&resp, "bad_signature", "signature");
    let (status, resp) = generic(&h, "{\"events\": [", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "malformed_json", "body");
    let (status, resp) = generic(
        &h,
        &json!({"events": [{"type": "beamed", "message_id": "g", "to": "a", "from": "b"}]})
            .to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "events[0].type");
    let (status, resp) = generic(
        &h,
        &json!({"events": [{"type": "sent", "to": "a", "from": "b"}]}).to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "events[0].message_id");
    assert_eq!(h.written().await.len(), 2, "nothing more was written");
}

fn forms_harness(per_minute: u32) -> Harness {
    let form = |id: &str, workspace: &str, thank_you_url: Option<&str>| {
        leadstream_platform::config::FormConfig {
            id: id.into(),
            workspace: workspace.into(),
            thank_you_url: thank_you_url.map(str::to_string),
            honeypot_field: "website_url".into(),
        }
    };
    harness_with(IngestConfig {
        forms: vec![
            form("demo-request", "acme", Some("https://acme.io/thanks")),
            form("ghost", "no-such-workspace", None),
        ],
        form_submissions_per_ip_per_minute: per_minute,
        ..IngestConfig::default()
    })
}

async fn submit_form(
    h: &Harness,
    form: &str,
    content_type: &str,
    body: impl Into<Body>,
    accept_json: bool,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    submit_form_with(h, form, content_type, body, accept_json, None).await
}

async fn submit_form_with(
    h: &Harness,
    form: &str,
    content_type: &str,
    body: impl Into<Body>,
    accept_json: bool,
    cookie: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req =
        Request::post(format!("/v1/forms/{form}")).header(header::CONTENT_TYPE, content_type);
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    if accept_json {
        req = req.header(header::ACCEPT, "application/json");
    }
    let mut req = req.body(body.into()).expect("req");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [198, 51, 100, 9],
            4444,
        ))));
    h.send(req).await
}

const URLENCODED: &str = "application/x-www-form-urlencoded";

#[tokio::test]
async fn a_form_post_becomes_an_identify_and_a_submission_and_redirects() {
    let h = forms_harness(10);
    let body = "Email=Ada%40Example.com&first-name=Ada&Organization=Analytical+Engines&message=Call+me&website_url=";
    let (status, headers, _) = submit_form(&h, "demo-request", URLENCODED, body, false).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "https://acme.io/thanks");

    let written = h.written().await;
    assert_eq!(written.len(), 2);
    let (identify, submitted) = (&written[0].1.event, &written[1].1.event);
    assert_eq!(identify.event_type.as_str(), "identify");
    assert_eq!(identify.user_id.as_deref(), Some("ada@example.com"));
    assert_eq!(identify.traits["email"], "ada@example.com");
    assert_eq!(identify.traits["first_name"], "Ada");
    assert_eq!(identify.traits["company"], "Analytical Engines");
    assert_eq!(submitted.event.as_deref(), Some("Form Submitted"));
    assert_eq!(submitted.properties["form_id"], "demo-request");
    assert_eq!(submitted.properties["message"], "Call me");
    assert!(
        submitted.properties.get("website_url").is_none(),
        "the honeypot is not data"
    );
    assert_eq!(written[0].1.workspace, "acme");
}

#[tokio::test]
async fn multipart_forms_answer_json_when_asked_and_keep_the_cookie_identity() {
    let h = forms_harness(10);
    let boundary = "XyZ";
    // The visitor is the cookie's: an `anonymous_id` field would let anyone tie any visitor's
    // history to an email of their choosing.
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\ngrace@example.com\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"anonymous_id\"\r\n\r\nvictim-7\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n\
         --{boundary}--\r\n"
    );
    let (status, _, resp) = submit_form_with(
        &h,
        "demo-request",
        &format!("multipart/form-data; boundary={boundary}"),
        body,
        true,
        Some("ls_aid=anon-42"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp, json!({"success": true, "form_id": "demo-request"}));
    let written = h.written().await;
    assert_eq!(
        written[0].1.event.user_id.as_deref(),
        Some("grace@example.com")
    );
    assert_eq!(written[0].1.event.anonymous_id.as_deref(), Some("anon-42"));
    assert!(
        written.iter().all(|(_, r)| r
            .event
            .enrichment
            .as_ref()
            .is_some_and(|e| e.submitted_traits)),
        "what a visitor typed is marked as submitted"
    );
    // Without the cookie, the field alone identifies nobody.
    let (status, _, resp) = submit_form(
        &h,
        "demo-request",
        URLENCODED,
        "anonymous_id=victim-7&message=hi",
        true,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_eq!(
        written[0].0, "acme/grace@example.com",
        "keyed by the person; the scorer merges the device's history into it"
    );
    assert!(
        written[1].1.event.properties.get("cv").is_none(),
        "uploads are skipped"
    );
}

#[tokio::test]
async fn spam_and_bad_form_posts_write_nothing() {
    let h = forms_harness(10);
    // The honeypot: answered as a success, nothing written.
    let (status, headers, _) = submit_form(
        &h,
        "demo-request",
        URLENCODED,
        "email=bot%40spam.io&website_url=http%3A%2F%2Fspam",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "https://acme.io/thanks");

    let (status, _, resp) =
        submit_form(&h, "demo-request", URLENCODED, "email=not-an-address", true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "email");
    let (status, _, resp) =
        submit_form(&h, "demo-request", URLENCODED, "message=hello", true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "email");
    let (status, _, resp) = submit_form(&h, "demo-request", "application/json", "{}", true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "Content-Type");
    let (status, _, resp) =
        submit_form(&h, "no-such-form", URLENCODED, "email=a%40b.io", true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(resp["error"]["code"], "not_found");
    let (status, _, _) = submit_form(&h, "ghost", URLENCODED, "email=a%40b.io", true).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.written().await.is_empty());
}

#[tokio::test]
async fn one_ip_cannot_flood_a_form() {
    let h = forms_harness(2);
    for i in 0..2 {
        let (status, _, _) = submit_form(
            &h,
            "demo-request",
            URLENCODED,
            format!("email=p{i}%40acme.io"),
            true,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, resp) =
        submit_form(&h, "demo-request", URLENCODED, "email=p3%40acme.io", true).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp["error"]["code"], "rate_limited");
    assert!(headers.contains_key(header::RETRY_AFTER));
    assert_eq!(h.written().await.len(), 4);
}

mod email_webhooks {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey;

    const SECRET: &str = "generic-email-webhook-secret";

    fn sendgrid_key() -> SigningKey {
        SigningKey::from_slice(&[42u8; 32]).expect("key")
    }

    fn harness() -> Harness {
        let public = p256::PublicKey::from(sendgrid_key().verifying_key());
        let mut c = IngestConfig::default();
        c.email.sendgrid_verification_key =
            Some(STANDARD.encode(public.to_public_key_der().expect("der").as_bytes()));
        c.email.webhook_secret = Some(SECRET.into());
        harness_with(c)
    }

    async fn sendgrid(h: &Harness, body: &str, tamper: bool) -> (StatusCode, Value) {
        sendgrid_at(h, body, tamper, chrono::Utc::now().timestamp()).await
    }

    async fn sendgrid_at(h: &Harness, body: &str, tamper: bool, at: i64) -> (StatusCode, Value) {
        let ts = at.to_string();
        let sig: Signature = sendgrid_key().sign(&[ts.as_bytes(), body.as_bytes()].concat());
        let tampered = (at + 1).to_string();
        let signed_ts = if tamper {
            tampered.as_str()
        } else {
            ts.as_str()
        };
        let req = Request::post(format!("/v1/webhooks/email/sendgrid?wk={KEY}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                "x-twilio-email-event-webhook-signature",
                STANDARD.encode(sig.to_der().as_bytes()),
            )
            .header("x-twilio-email-event-webhook-timestamp", signed_ts)
            .body(Body::from(body.to_string()))
            .expect("req");
        let (status, _, body) = h.send(req).await;
        (status, body)
    }

    #[tokio::test]
    async fn sendgrid_events_become_email_events() {
        let h = harness();
        let body = json!([
            {"email": "Ada@Example.com", "timestamp": 1763799000, "event": "delivered", "sg_event_id": "e1", "sg_message_id": "sm1.filter", "campaign_id": "spring"},
            {"email": "ada@example.com", "timestamp": 1763799100, "event": "open", "sg_event_id": "e2", "sg_message_id": "sm1.filter", "sg_machine_open": true, "useragent": "Mozilla/5.0"},
            {"email": "ada@example.com", "timestamp": 1763799200, "event": "click", "sg_event_id": "e3", "sg_message_id": "sm1.filter", "url": "https://acme.io/offer", "user_id": "crm-7"},
            {"email": "ada@example.com", "timestamp": 1763799300, "event": "deferred", "sg_event_id": "e4", "sg_message_id": "sm1.filter"},
            {"email": "ada@example.com", "timestamp": 1763799400, "event": "spamreport", "sg_event_id": "e5"},
            {"email": "bob@example.com", "timestamp": 1763799500, "event": "bounce", "sg_event_id": "e6", "sg_message_id": "sm2", "type": "bounce", "reason": "550 no such user"}
        ]).to_string();
        let (status, resp) = sendgrid(&h, &body, false).await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        assert_eq!(resp["accepted"], 4);
        assert_eq!(resp["skipped"], 1, "deferred is not an event");
        assert_eq!(resp["rejected"][0]["field"], "[4].sg_message_id");

        let written = h.written().await;
        let got: Vec<(&str, &str, &str, bool)> = written
            .iter()
            .map(|(_, r)| {
                (
                    r.event.event.as_deref().expect("name"),
                    r.event.user_id.as_deref().expect("user"),
                    r.event.message_id.as_deref().expect("id"),
                    r.event.enrichment.as_ref().expect("enrichment").bot,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("Email Delivered", "ada@example.com", "e1", false),
                ("Email Opened", "ada@example.com", "e2", true),
                ("Email Clicked", "crm-7", "e3", false),
                ("Email Bounced", "bob@example.com", "e6", false),
            ]
        );
        assert_eq!(written[0].1.event.properties["campaign_id"], "spring");
        assert_eq!(
            written[2].1.event.properties["link_url"],
            "https://acme.io/offer"
        );
        assert_eq!(written[3].1.event.properties["reason"], "550 no such user");
        assert_eq!(
            written[0].1.event.timestamp.map(|t| t.timestamp()),
            Some(1763799000)
        );
    }

    /// A request signed by SendGrid, not by this test: the key, timestamp, signature and body of
    /// SendGrid's own signature-verification example (sendgrid-python's event webhook tests),
    /// body byte for byte, trailing CRLF included.
    #[tokio::test]
    async fn a_webhook_signed_by_sendgrid_itself_is_accepted() {
        const SENDGRID_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
        const SIGNATURE: &str = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
        const TIMESTAMP: &str = "1600112502";
        const BODY: &str = concat!(
            r#"[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","#,
            r#""sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","#,
            r#""sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","#,
            r#""smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]"#,
            "\r\n"
        );
        let mut c = IngestConfig::default();
        c.email.sendgrid_verification_key = Some(SENDGRID_KEY.into());
        // Signed in 2020: past any tolerance but this test's, which checks the signature alone.
        let h = harness_custom(c, |s| {
            s.security = Arc::new(leadstream_platform::config::SecurityConfig {
                webhook_tolerance_secs: 20 * 365 * 86_400,
                ..Default::default()
            })
        });
        let post = |body: &str, signature: &str| {
            Request::post(format!("/v1/webhooks/email/sendgrid?wk={KEY}"))
                .header(header::CONTENT_TYPE, "application/json")
                .header("x-twilio-email-event-webhook-signature", signature)
                .header("x-twilio-email-event-webhook-timestamp", TIMESTAMP)
                .body(Body::from(body.to_string()))
                .expect("req")
        };
        // Without the trailing CRLF SendGrid sends, the signature no longer matches.
        let (status, _, resp) = h.send(post(BODY.trim_end(), SIGNATURE)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
        let (status, _, resp) = h.send(post(BODY, SIGNATURE)).await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        let written = h.written().await;
        assert_eq!(written.len(), 1);
        let event = &written[0].1.event;
        assert_eq!(event.event.as_deref(), Some("Email Bounced"));
        assert_eq!(event.user_id.as_deref(), Some("hello@world.com"));
        assert_eq!(event.properties["reason"], "Bounced Address");
    }

    #[tokio::test]
    async fn sendgrid_webhooks_must_carry_a_valid_signature() {
        let h = harness();
        let body = json!([{"email": "a@b.io", "event": "open", "sg_message_id": "m"}]).to_string();
        let (status, resp) = sendgrid(&h, &body, true).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(&resp, "bad_signature", "signature");
        let req = Request::post(format!("/v1/webhooks/email/sendgrid?wk={KEY}"))
            .body(Body::from(body.clone()))
            .expect("req");
        assert_eq!(h.send(req).await.0, StatusCode::UNAUTHORIZED);
        let (status, resp) = sendgrid(&h, "[{not json", false).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_error(&resp, "malformed_json", "body");
        assert!(h.written().await.is_empty());
        // Not configured: refused.
        let unconfigured = super::harness();
        let req = Request::post(format!("/v1/webhooks/email/sendgrid?wk={KEY}"))
            .body(Body::from(body))
            .expect("req");
        assert_eq!(
            unconfigured.send(req).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let req = Request::post("/v1/webhooks/email/mailchimp")
            .body(Body::empty())
            .expect("req");
        assert_eq!(h.send(req).await.0, StatusCode::NOT_FOUND);
    }

    async fn generic(h: &Harness, body: &str) -> (StatusCode, Value) {
        let req = Request::post(format!("/v1/webhooks/email/generic?wk={KEY}"))
            .header(
                "x-leadstream-signature",
                leadstream_ingest::signatures::generic_signature(
                    SECRET,
                    chrono::Utc::now().timestamp(),
                    KEY,
                    body.as_bytes(),
                ),
            )
            .body(Body::from(body.to_string()))
            .expect("req");
        let (status, _, body) = h.send(req).await;
        (status, body)
    }

    #[tokio::test]
    async fn signed_webhooks_refuse_replays_stale_timestamps_and_other_workspaces() {
        // SendGrid: a signed timestamp past the tolerance (default 5 min) is refused.
        let h = harness();
        let body = json!([{"email": "a@b.io", "event": "click", "sg_event_id": "ev-1",
            "sg_message_id": "m", "url": "https://acme.io/x"}])
        .to_string();
        let now = chrono::Utc::now().timestamp();
        let (status, resp) = sendgrid_at(&h, &body, false, now - 301).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
        assert!(
            resp["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("from now"),
            "{resp}"
        );
        let (status, resp) = sendgrid_at(&h, &body, false, 1_000_000_000).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
        assert!(h.written().await.is_empty());
        // A fresh one posted three times is one event (its sg_event_id is the messageId).
        for _ in 0..3 {
            assert_eq!(sendgrid(&h, &body, false).await.0, StatusCode::OK);
        }
        assert_eq!(h.written().await.len(), 1);

        // Generic: the same signed post three times is one set of events, even without ids.
        let hook = json!({"events": [
            {"type": "clicked", "message_id": "m-9", "recipient": "ada@acme.io", "url": "https://acme.io/p"},
            {"type": "clicked", "message_id": "m-9", "recipient": "ada@acme.io", "url": "https://acme.io/p",
             "event_id": "click-2"}
        ]})
        .to_string();
        let post = |h: &Harness, wk: &str, signature: String, body: String| {
            let req = Request::post(format!("/v1/webhooks/email/generic?wk={wk}"))
                .header("x-leadstream-signature", signature)
                .body(Body::from(body))
                .expect("req");
            let h = h.app.clone();
            async move {
                let r = h.oneshot(req).await.expect("response");
                let status = r.status();
                let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
                    .await
                    .expect("body");
                (
                    status,
                    serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
                )
            }
        };
        let sign = |secret: &str, at: i64, wk: &str, body: &str| {
            leadstream_ingest::signatures::generic_signature(secret, at, wk, body.as_bytes())
        };
        let signed = sign(SECRET, now, KEY, &hook);
        for _ in 0..3 {
            let (status, resp) = post(&h, KEY, signed.clone(), hook.clone()).await;
            assert_eq!(status, StatusCode::OK, "{resp}");
        }
        let clicks = h
            .written()
            .await
            .into_iter()
            .filter(|(_, r)| r.event.event.as_deref() == Some("Email Clicked"))
            .count();
        assert_eq!(
            clicks, 3,
            "the SendGrid click and the two generic ones, once each"
        );
        // Old, or signed for another workspace's write key: refused.
        let (status, resp) =
            post(&h, KEY, sign(SECRET, now - 3600, KEY, &hook), hook.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
        let (status, resp) = post(&h, OTHER_KEY, signed.clone(), hook.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
        // The old body-only signature is refused with what is wanted.
        let old = format!("sha256={}", "00".repeat(32));
        let (status, resp) = post(&h, KEY, old, hook.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            resp["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("t=<unix seconds>"),
            "{resp}"
        );

        // A workspace with a secret of its own: the global one does not sign for it.
        let mut c = IngestConfig::default();
        c.email.webhook_secret = Some(SECRET.into());
        let own = harness_custom(c, |s| {
            let ws = |name: &str, key: &str, secret: Option<&str>| WorkspaceConfig {
                name: name.into(),
                write_keys: vec![key.into()],
                email_webhook_secret: secret.map(str::to_string),
                ..Default::default()
            };
            s.registry = Arc::new(Registry::from_parts(
                &[
                    ws("acme", KEY, None),
                    ws("globex", OTHER_KEY, Some("globex-own-secret")),
                ],
                &[],
            ));
        });
        let (status, _) = post(
            &own,
            OTHER_KEY,
            sign(SECRET, now, OTHER_KEY, &hook),
            hook.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, resp) = post(
            &own,
            OTHER_KEY,
            sign("globex-own-secret", now, OTHER_KEY, &hook),
            hook.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        let (status, _) = post(&own, KEY, sign(SECRET, now, KEY, &hook), hook.clone()).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn the_generic_email_format_validates_each_event() {
        let h = harness();
        let body = json!({"events": [
            {"type": "opened", "message_id": "m1", "recipient": "Ada@Example.com", "campaign_id": "c1"},
            {"type": "teleported", "message_id": "m1", "recipient": "ada@example.com"},
            {"type": "clicked", "message_id": "m1", "recipient": "ada@example.com", "url": "https://acme.io"},
            {"type": "clicked", "recipient": "ada@example.com"}
        ]}).to_string();
        let (status, resp) = generic(&h, &body).await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        assert_eq!(resp["accepted"], 2);
        let fields: Vec<&str> = resp["rejected"]
            .as_array()
            .expect("rejected")
            .iter()
            .map(|r| r["field"].as_str().expect("f"))
            .collect();
        assert_eq!(fields, vec!["[1].type", "[3].message_id"]);
        let written = h.written().await;
        assert_eq!(written.len(), 2);
        assert_eq!(
            written[0].1.event.user_id.as_deref(),
            Some("ada@example.com")
        );
        assert_eq!(written[1].1.event.properties["link_url"], "https://acme.io");
    }
}

#[tokio::test]
async fn a_repeated_message_id_is_acknowledged_but_written_once() {
    let h = harness();
    let body = json!({"batch": [
        {"type": "track", "userId": "u", "event": "x", "messageId": "dup-1"},
        {"type": "track", "userId": "u", "event": "x", "messageId": "dup-1"},
        {"type": "track", "userId": "u", "event": "y", "messageId": "other"}
    ]})
    .to_string();
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    // The SDK retries the same batch (say, it timed out waiting): acknowledged again, not rewritten.
    let (status, _) = h.post("/v1/batch", Some(KEY), body).await;
    assert_eq!(status, StatusCode::OK);
    // The same id in another workspace is another event.
    let (status, _) = h.post("/v1/batch", Some(OTHER_KEY), json!({"batch": [{"type": "track", "userId": "u", "event": "x", "messageId": "dup-1"}]}).to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let written = h.written().await;
    let ids: Vec<(&str, &str)> = written
        .iter()
        .map(|(_, r)| {
            (
                r.workspace.as_str(),
                r.event.message_id.as_deref().expect("id"),
            )
        })
        .collect();
    assert_eq!(
        ids,
        vec![("acme", "dup-1"), ("acme", "other"), ("globex", "dup-1")]
    );
}

mod posthog {
    use super::*;
    use base64::Engine;
    use std::io::Write;

    async fn capture(
        h: &Harness,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let (status, _, body) = h
            .send(
                Request::post(path)
                    .header(header::CONTENT_TYPE, content_type)
                    .body(Body::from(body))
                    .expect("request"),
            )
            .await;
        (status, body)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(bytes).expect("gzip");
        gz.finish().expect("gzip")
    }

    #[tokio::test]
    async fn posthog_js_encodings_and_event_shapes_become_segment_calls() {
        let h = harness();
        // posthog-js: an array of events, gzip without a Content-Encoding (`compression=gzip-js`).
        let events = json!([
            {"event": "$pageview", "uuid": "0190a000-0000-7000-8000-000000000001", "properties": {
                "token": KEY, "distinct_id": "dev-1", "$device_id": "dev-1",
                "$current_url": "https://acme.io/pricing?utm_source=ph&utm_campaign=q4",
                "$pathname": "/pricing", "$referrer": "$direct", "$lib": "web", "$lib_version": "1.200.0"},
             "offset": 1500},
            {"event": "$identify", "uuid": "0190a000-0000-7000-8000-000000000002", "properties": {
                "token": KEY, "distinct_id": "user-7", "$anon_distinct_id": "dev-1",
                "$set": {"email": "u7@acme.io"}}, "$set_once": {"first_seen": "2026-12-01"}},
            {"event": "Demo Requested", "uuid": "0190a000-0000-7000-8000-000000000003",
             "properties": {"token": KEY, "distinct_id": "user-7", "plan": "pro"}}
        ]);
        let (status, resp) = capture(
            &h,
            "/e/?compression=gzip-js&ver=1.200.0",
            "text/plain",
            gzip(events.to_string().as_bytes()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        assert_eq!(resp, json!({"status": 1}));
        // The old form: `data=<base64>` in a form body.
        let single = json!({"event": "$groupidentify", "api_key": KEY, "distinct_id": "user-7",
            "properties": {"$group_type": "company", "$group_key": "acme", "$group_set": {"name": "Acme"}}});
        let form = format!(
            "data={}",
            base64::engine::general_purpose::STANDARD.encode(single.to_string())
        );
        let (status, resp) = capture(
            &h,
            "/i/v0/e/",
            "application/x-www-form-urlencoded",
            form.into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{resp}");

        let written = h.written().await;
        assert_eq!(written.len(), 4, "{written:#?}");
        let page = &written[0].1.event;
        assert_eq!(page.event_type, leadstream_schemas::EventType::Page);
        // `$device_id` equal to the distinct id: an anonymous visitor.
        assert_eq!(page.anonymous_id.as_deref(), Some("dev-1"));
        assert_eq!(page.user_id, None);
        assert_eq!(
            page.message_id.as_deref(),
            Some("0190a000-0000-7000-8000-000000000001")
        );
        let p = page.context.page.as_ref().expect("page");
        assert_eq!(p.path.as_deref(), Some("/pricing"));
        assert_eq!(p.referrer, None, "`$direct` is no referrer");
        assert_eq!(
            page.context
                .campaign
                .as_ref()
                .and_then(|c| c.name.as_deref()),
            Some("q4")
        );
        assert_eq!(page.context.extra["library"]["name"], "web");
        // `offset`: the event happened 1.5 s before it was sent.
        let lag = page.received_at.expect("received") - page.timestamp.expect("timestamp");
        assert!((1400..=1600).contains(&lag.num_milliseconds()), "{lag}");
        let identify = &written[1].1.event;
        assert_eq!(identify.event_type, leadstream_schemas::EventType::Identify);
        assert_eq!(identify.user_id.as_deref(), Some("user-7"));
        assert_eq!(identify.anonymous_id.as_deref(), Some("dev-1"));
        assert_eq!(identify.traits["email"], "u7@acme.io");
        assert_eq!(identify.traits["first_seen"], "2026-12-01");
        assert!(identify.properties.get("token").is_none());
        let demo = &written[2].1.event;
        assert_eq!(
            leadstream_schemas::EventKind::classify(demo),
            leadstream_schemas::EventKind::DemoRequested
        );
        assert_eq!(demo.properties["plan"], "pro");
        let group = &written[3].1.event;
        assert_eq!(group.group_id.as_deref(), Some("acme"));
        assert_eq!(group.traits["name"], "Acme");
        assert_eq!(group.traits["group_type"], "company");
    }

    #[tokio::test]
    async fn posthog_refusals_carry_detail_and_are_kept() {
        let h = harness();
        // Nothing accepted: 400 with PostHog's `detail` and our shape.
        let body = json!({"api_key": KEY, "batch": [{"event": "x", "properties": {}}]});
        let (status, resp) = capture(
            &h,
            "/batch/",
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
        assert_eq!(resp["code"], "invalid_events");
        assert_eq!(
            resp["detail"], "batch[0].distinct_id: is required",
            "{resp}"
        );
        assert_eq!(resp["rejected"][0]["field"], "batch[0].distinct_id");
        let failed = h.failed_events().await;
        assert_eq!(failed[0].endpoint, "/batch/");
        // Some accepted: 200 and the rejected listed.
        let body = json!({"api_key": KEY, "batch": [
            {"event": "ok", "distinct_id": "u"},
            {"event": "$groupidentify", "distinct_id": "u", "properties": {}}
        ]});
        let (status, resp) = capture(
            &h,
            "/batch",
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{resp}");
        assert_eq!(resp["accepted"], 1);
        assert_eq!(
            resp["rejected"][0]["field"],
            "batch[1].properties.$group_key"
        );
        // A bad key is a 401 in our shape, with `detail`; a missing one too.
        let body = json!({"api_key": "phc_unknown", "event": "x", "distinct_id": "u"});
        let (status, resp) = capture(
            &h,
            "/capture/",
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(resp["detail"], "unknown write key");
        // Not JSON; lz64 is named as unsupported.
        let (status, resp) = capture(&h, "/e/", "application/json", b"{oops".to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(resp["code"], "malformed_json");
        let (status, resp) =
            capture(&h, "/e/?compression=lz64", "text/plain", b"N4Ig".to_vec()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(resp["error"]["field"], "compression");
        // Feature flags: none, in the shape posthog-js reads.
        let (status, text) = h.get("/decide/?v=3").await;
        assert_eq!(status, StatusCode::OK);
        let decide: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(decide["featureFlags"], json!({}));
    }
}

#[tokio::test]
async fn cors_only_on_browser_routes_and_security_headers_everywhere() {
    let h = harness();
    let preflight = |path: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri(path)
            .header(header::ORIGIN, "https://evil.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .expect("request")
    };
    for path in ["/v1/batch", "/v1/t", "/e/", "/v1/forms/contact"] {
        let (_, headers, _) = h.send(preflight(path)).await;
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*", "{path}");
    }
    // Bearer-authenticated and operator routes answer no other origin.
    for path in ["/v1/email/links", "/metrics", "/v1/webhooks/sms/twilio"] {
        let (_, headers, _) = h.send(preflight(path)).await;
        assert!(
            headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
            "{path}: {headers:?}"
        );
    }
    let get = |path: &str| {
        Request::get(path)
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::empty())
            .expect("request")
    };
    let (_, headers, _) = h.send(get("/metrics")).await;
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    // Settings derived from the request's Host are kept out of shared caches.
    let (status, headers, _) = h
        .send(
            Request::get(format!("/v1/projects/{KEY}/settings"))
                .header(header::HOST, "poisoned.example")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "private, max-age=300");
    assert_eq!(headers[header::VARY], "Host");
    let h = harness_with(IngestConfig {
        public_url: Some("https://t.acme.io".into()),
        ..email_config(5)
    });
    let (_, headers, body) = h
        .send(
            Request::get(format!("/v1/projects/{KEY}/settings"))
                .header(header::HOST, "poisoned.example")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=300");
    assert!(!body.to_string().contains("poisoned"), "{body}");
}

#[tokio::test]
async fn the_frameworks_own_refusals_answer_in_the_json_shape() {
    let h = harness();
    let (status, _, body) = h
        .send(Request::get("/nope").body(Body::empty()).expect("request"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found", "");
    let (status, _, body) = h
        .send(
            Request::get("/v1/batch")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "method_not_allowed", "{body}");
    assert_eq!(body["detail"], body["message"], "{body}");
}

#[tokio::test]
async fn minted_links_go_only_to_the_workspace_sites_and_issued_tokens_mint() {
    let h = harness();
    // The workspace's site (acme.io) and its subdomains: yes. Anywhere else: a 400 naming the link.
    let ok = leadstream_ingest::routes::email::mint_body(
        "m",
        "u",
        None,
        &[
            "https://acme.io/a",
            "https://www.acme.io/b",
            "http://blog.acme.io",
        ],
    );
    let (status, resp) = mint(&h, Some(API_TOKEN), ok).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    for evil in [
        "https://evil.example/x",
        "https://acme.io.evil.example/",
        "https://notacme.io/",
    ] {
        let body =
            leadstream_ingest::routes::email::mint_body("m", "u", None, &["https://acme.io", evil]);
        let (status, resp) = mint(&h, Some(API_TOKEN), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{evil}: {resp}");
        assert_error(&resp, "invalid_field", "links[1]");
    }
    // ingest.email.link_domains adds hosts for every workspace (`*.` takes subdomains).
    let mut c = email_config(5);
    c.email.link_domains = vec!["*.shop.example".into(), "partner.example".into()];
    let wider = harness_with(c);
    let body = leadstream_ingest::routes::email::mint_body(
        "m",
        "u",
        None,
        &["https://eu.shop.example/", "https://partner.example/"],
    );
    assert_eq!(mint(&wider, Some(API_TOKEN), body).await.0, StatusCode::OK);

    // Tokens issued through the query API (`lsk_…`) mint too; a read-only one is 403; an
    // expired one 401 token_expired; a well-shaped unknown one 401.
    let issued = |scope, expires_ms| {
        let token = format!("lsk_acme.{}", "ab".repeat(24));
        let stored = leadstream_platform::auth::StoredToken {
            sha256: leadstream_platform::workspaces::hash_token(&token),
            scope,
            hint: token[token.len() - 4..].to_string(),
            expires_ms,
        };
        (token, stored)
    };
    use leadstream_platform::workspaces::Scope;
    let (token, stored) = issued(Scope::ReadWrite, None);
    let body = leadstream_ingest::routes::email::mint_body("m", "u", None, &["https://acme.io"]);
    assert_eq!(
        mint(&h, Some(&token), body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    h.issued.insert("acme", &stored);
    let (status, resp) = mint(&h, Some(&token), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    h.issued.insert(
        "acme",
        &leadstream_platform::auth::StoredToken {
            scope: Scope::Read,
            ..stored.clone()
        },
    );
    assert_eq!(
        mint(&h, Some(&token), body.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    h.issued.insert(
        "acme",
        &leadstream_platform::auth::StoredToken {
            expires_ms: Some(1),
            ..stored.clone()
        },
    );
    let (status, resp) = mint(&h, Some(&token), body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp["error"]["code"], "token_expired", "{resp}");
    h.issued.forget(&stored.sha256);
    assert_eq!(
        mint(&h, Some(&token), body).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_address_past_its_failed_authentications_gets_429_until_its_minute_is_over() {
    let h = harness_custom(email_config(0), |s| {
        s.failed_auth = Arc::new(leadstream_platform::auth::FailedAuth::new(5));
    });
    let at = |ip: [u8; 4], request: axum::http::request::Builder| {
        request.extension(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            ip, 5000,
        ))))
    };
    let mint = |ip: [u8; 4], token: &str| {
        let body = leadstream_ingest::routes::email::mint_body(
            "m-1",
            "user-1",
            None,
            &["https://acme.io/offer"],
        );
        at(ip, Request::post("/v1/email/links"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .expect("req")
    };
    let track = |ip: [u8; 4], key: &str| {
        at(ip, Request::post("/v1/track"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"anonymousId": "a", "event": "x", "writeKey": key}).to_string(),
            ))
            .expect("req")
    };
    let guess = "lsk_acme.0123456789abcdef0123456789abcdef01234567";
    for _ in 0..5 {
        assert_eq!(
            h.send(mint([203, 0, 113, 5], guess)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Blocked now, even with the right token; another address is not.
    let (status, headers, resp) = h.send(mint([203, 0, 113, 5], API_TOKEN)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{resp}");
    assert_eq!(resp["error"]["code"], "too_many_failed_authentications");
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    assert!((1..=60).contains(&retry));
    assert_eq!(
        h.send(mint([203, 0, 113, 6], API_TOKEN)).await.0,
        StatusCode::OK
    );
    // Intake is never turned away for it: write keys are public, and the blocked address may be
    // an office's or a proxy's. Wrong write keys there are refused and not counted.
    assert_eq!(h.send(track([203, 0, 113, 5], KEY)).await.0, StatusCode::OK);
    for _ in 0..10 {
        assert_eq!(
            h.send(track([203, 0, 113, 7], "wk_guess")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        h.send(mint([203, 0, 113, 7], API_TOKEN)).await.0,
        StatusCode::OK
    );
    // Health and readiness always answer.
    let health = at([203, 0, 113, 5], Request::get("/health"))
        .body(Body::empty())
        .expect("req");
    assert_eq!(h.send(health).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_key_given_twice_is_refused_naming_it() {
    let h = harness();
    let one = r#"{"anonymousId":"a","event":"Plan Chosen","properties":{"plan":"free","plan":"enterprise"}}"#;
    let (status, resp) = h.post("/v1/track", Some(KEY), one).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_error(&resp, "invalid_field", "properties.plan");
    // In a batch: that event is listed, the others are written.
    let batch = r#"{"batch":[{"type":"track","anonymousId":"a","event":"ok"},{"type":"track","anonymousId":"a","anonymousId":"b","event":"x"}]}"#;
    let (status, resp) = h.post("/v1/batch", Some(KEY), batch).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["rejected"][0]["index"], 1, "{resp}");
    assert!(
        resp["rejected"][0]["field"]
            .as_str()
            .unwrap_or("")
            .ends_with("anonymousId"),
        "{resp}"
    );
    assert_eq!(h.written().await.len(), 1);
}

#[tokio::test]
async fn metrics_want_the_metrics_token_or_a_loopback_client() {
    let at = |ip: [u8; 4], token: Option<&str>| {
        let mut r = Request::get("/metrics").extension(axum::extract::ConnectInfo(
            std::net::SocketAddr::from((ip, 9100)),
        ));
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        r.body(Body::empty()).expect("req")
    };
    let open = harness();
    assert_eq!(open.send(at([127, 0, 0, 1], None)).await.0, StatusCode::OK);
    let (status, _, resp) = open.send(at([10, 1, 2, 3], None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("security.metrics_token")
    );
    let guarded = harness_custom(IngestConfig::default(), |s| {
        s.metrics = leadstream_platform::telemetry::MetricsAccess::new(
            &leadstream_platform::config::SecurityConfig {
                metrics_token: Some("scrape-secret-0123".into()),
                ..Default::default()
            },
        );
    });
    assert_eq!(
        guarded.send(at([127, 0, 0, 1], None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        guarded.send(at([10, 1, 2, 3], Some("wrong"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _, _) = guarded
        .send(at([10, 1, 2, 3], Some("scrape-secret-0123")))
        .await;
    assert_eq!(status, StatusCode::OK);
}
