//! The collector's HTTP contract, driven through the router over a real embedded log, which the
//! tests read back to check what was written (keys included). Every endpoint's bad inputs are here,
//! one module per channel: [`segment`] (Segment's and RudderStack's HTTP API, analytics.js, limits,
//! dedup), [`pixel`], [`email`] (minted links) and [`email_webhooks`], [`sms`], [`forms`],
//! [`posthog`], [`security`] (CORS, headers, the framework's refusals, failed-authentication
//! limits). The harness and the helpers several channels use are in this file.

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

mod email;
mod email_webhooks;
mod forms;
mod pixel;
mod posthog;
mod security;
mod segment;
mod sms;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("compress");
    encoder.finish().expect("finish")
}

fn batch_request(_: ()) -> axum::http::request::Builder {
    Request::post("/v1/batch").header(header::CONTENT_TYPE, "application/json")
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
