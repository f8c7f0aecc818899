//! Helpers for the end-to-end tests: an in-process `leadstream::serve` on ephemeral ports, and
//! the real servers `scripts/services.sh` starts.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use leadstream_platform::config::{Config, WorkspaceConfig};
use leadstream_platform::{Backends, Mode};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const WRITE_KEY: &str = "wk_e2e_acme_0001";
pub const TOKEN: &str = "tok_e2e_acme_0123456789";
pub const OTHER_TOKEN: &str = "tok_e2e_globex_0123456789";
/// A read-only token of `acme`.
pub const READ_TOKEN: &str = "tok_e2e_acme_read_0123456789";

#[allow(unused_imports)] // each test binary uses a different subset
pub use leadstream_platform::testing::{clickhouse_url, drop_database, kafka_brokers, unique};

pub fn workspaces() -> Vec<WorkspaceConfig> {
    vec![
        WorkspaceConfig {
            name: "acme".into(),
            write_keys: vec![WRITE_KEY.into()],
            public_write_keys: vec![],
            api_tokens: vec![TOKEN.into()],
            api_token_sha256: vec![],
            read_tokens: vec![READ_TOKEN.into()],
            read_token_sha256: vec![],
            site: Some("https://acme.io".into()),
            ..Default::default()
        },
        WorkspaceConfig {
            name: "globex".into(),
            write_keys: vec!["wk_e2e_globex_0001".into()],
            public_write_keys: vec![],
            api_tokens: vec![OTHER_TOKEN.into()],
            api_token_sha256: vec![],
            read_tokens: vec![],
            read_token_sha256: vec![],
            ..Default::default()
        },
    ]
}

/// An embedded config in `dir`, flushing fast.
pub fn embedded_config(dir: &std::path::Path) -> Config {
    let mut c = Config {
        mode: Mode::Embedded,
        data_dir: dir.to_path_buf(),
        workspaces: workspaces(),
        ..Config::default()
    };
    c.scorer.flush_interval_ms = Some(100);
    c
}

/// A distributed config on a fresh topic, consumer group and database.
pub fn distributed_config() -> Config {
    let mut c = Config {
        mode: Mode::Distributed,
        // The collector's spool lives here: one directory per test, as per collector.
        data_dir: std::env::temp_dir().join(unique("leadstream_e2e_data")),
        workspaces: workspaces(),
        ..Config::default()
    };
    c.kafka.brokers = kafka_brokers();
    c.kafka.events_topic = unique("leadstream_e2e");
    c.kafka.consumer_group = unique("leadstream_e2e_scorer");
    c.kafka.partitions = 3;
    c.ingest.failed_events_topic = unique("leadstream_e2e_failed");
    c.clickhouse.url = clickhouse_url();
    c.clickhouse.database = unique("leadstream_e2e");
    c.scorer.flush_interval_ms = Some(200);
    c.validate().expect("valid config");
    c
}

/// A running all-in-one process (in this test process).
pub struct Running {
    pub collector: SocketAddr,
    pub query: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<anyhow::Result<()>>,
    pub http: reqwest::Client,
}

pub async fn start(mut config: Config) -> Running {
    // RUST_LOG=… shows the process's logs while a test runs.
    if std::env::var_os("RUST_LOG").is_some() {
        leadstream_platform::telemetry::init_tracing(leadstream_platform::config::LogFormat::Text);
    }
    let collector_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let query_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (collector, query) = (
        collector_listener.local_addr().expect("addr"),
        query_listener.local_addr().expect("addr"),
    );
    // As `leadstream serve` does: the configured addresses are the ones listened on (minted
    // links name the collector's when it has no public URL).
    (config.ingest.listen, config.query.listen) = (collector, query);
    let backends = Arc::new(Backends::new(config));
    let (registry, _) = backends.workspaces().expect("workspaces");
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        leadstream::serve(
            backends,
            Arc::new(registry),
            collector_listener,
            query_listener,
            token,
        )
        .await
    });
    let http = reqwest::Client::new();
    // Serving means every part started: the query API listens only after the scorer's start
    // (migrations, topics, stored profiles) went through. A start that fails says why here.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if task.is_finished() {
            match task.await {
                Ok(Ok(())) => panic!("leadstream stopped during its start"),
                Ok(Err(e)) => panic!("leadstream failed to start: {e:#}"),
                Err(e) => panic!("leadstream panicked during its start: {e}"),
            }
        }
        let answered = http
            .get(format!("http://{query}/health"))
            .timeout(std::time::Duration::from_secs(2))
            .send()
            .await
            .is_ok();
        if answered {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "leadstream did not start within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Running {
        collector,
        query,
        shutdown,
        task,
        http,
    }
}

impl Running {
    pub async fn post_batch(&self, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("http://{}/v1/batch", self.collector))
            .basic_auth(WRITE_KEY, Some(""))
            .json(body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_profile(&self, id: &str, token: &str) -> (u16, Value) {
        if self.task.is_finished() {
            panic!("leadstream stopped early");
        }
        let r = self
            .http
            .get(format!("http://{}/v1/profiles/{id}", self.query))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `POST` JSON to a query API path with the workspace's token.
    pub async fn post_query(&self, path: &str, body: &Value) -> (u16, Value) {
        self.json(reqwest::Method::POST, path, Some(body)).await
    }

    /// `GET` a query API path (with its query string) with the workspace's token.
    pub async fn get(&self, path_and_query: &str) -> (u16, Value) {
        self.json(reqwest::Method::GET, path_and_query, None).await
    }

    /// Any call to the query API with `token`: a body with its content type, if given. Answers
    /// the status, the content type and the raw body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        token: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> (u16, String, Vec<u8>) {
        let mut r = self
            .http
            .request(method, format!("http://{}{path_and_query}", self.query))
            .bearer_auth(token);
        if let Some((content_type, bytes)) = body {
            r = r.header("content-type", content_type).body(bytes);
        }
        let r = r.send().await.expect("send");
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (
            status,
            content_type,
            r.bytes().await.expect("body").to_vec(),
        )
    }

    /// [`Running::call`] with a JSON body (or none), answering JSON.
    pub async fn json(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        let (status, _, bytes) = self.call(method, path_and_query, TOKEN, body).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Polls the profile until `done` says yes (the scorer writes asynchronously).
    pub async fn wait_for_profile(&self, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.get_profile(id, TOKEN).await;
            if status == 200 && done(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "profile {id} never got there; last: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process's Prometheus metrics (`/metrics` on the query API), as text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("http://{}/metrics", self.query))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("join").expect("clean shutdown");
    }
}

/// The batch both modes' slice tests send: a visitor reads, identifies, downloads, registers.
pub fn slice_batch() -> Value {
    serde_json::json!({
        "batch": [
            {"type": "page", "userId": "ada", "name": "Pricing", "context": {"page": {"url": "https://acme.io/pricing"}}},
            {"type": "identify", "userId": "ada", "traits": {"email": "ada@example.com", "company": "Analytical Engines"}},
            {"type": "track", "userId": "ada", "event": "File Downloaded", "properties": {"file_name": "whitepaper.pdf"}},
            {"type": "track", "userId": "ada", "event": "Webinar Registered", "properties": {"webinar_id": "w-42"}},
            {"type": "track", "event": "Nobody"},
            {"type": "track", "anonymousId": "visitor-7", "event": "Page Viewed"}
        ]
    })
}

/// What the slice batch must produce for `ada`.
pub fn assert_slice_profile(p: &Value) {
    assert_eq!(p["workspace"], "acme");
    assert_eq!(p["profile_id"], "ada");
    assert_eq!(p["event_count"], 4);
    assert_eq!(p["counts"]["page_viewed"], 1);
    assert_eq!(p["counts"]["identify"], 1);
    assert_eq!(p["counts"]["file_downloaded"], 1);
    assert_eq!(p["counts"]["webinar_registered"], 1);
    assert_eq!(p["traits"]["email"], "ada@example.com");
    // The default model: page view 1 + download 8 + webinar registration 10 (engagement); the
    // pricing page is buying intent; a business email alone is grade E.
    assert_eq!(p["score"], 19.0, "{p}");
    assert_eq!(p["score_name"], "engagement");
    assert_eq!(p["scores"]["buying_intent"], 5.0, "{p}");
    assert_eq!(p["grade"], "E", "{p}");
    assert_eq!(p["pages"][0], "/pricing", "{p}");
    assert_eq!(p["lifecycle_stage"], "name");
}

/// The points of a score history answer (`/v1/profiles/{id}/scores/history`), added up.
pub fn points_sum(history: &Value) -> f64 {
    history["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["points"].as_f64().expect("points"))
        .sum()
}
