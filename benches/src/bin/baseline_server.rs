//! The baselines of the collector's single-event load test, one HTTP server in three modes:
//!
//! - `baseline-server 127.0.0.1:18090`: a trivial axum endpoint that reads the same request body
//!   and answers what the collector answers, without validating or writing anything (issue 20's
//!   goal 2 compares with it);
//! - `baseline-server 127.0.0.1:18091 embedded <dir>`: the same endpoint, which first appends the
//!   body as one message to the embedded log (redb, group-committed fsync; the log the all-in-one
//!   writes) and answers once it is durable;
//! - `baseline-server 127.0.0.1:18092 kafka <brokers> <topic>`: the same, through the collector's
//!   producer (`KafkaLog`: idempotent, `acks=all`, lz4, `linger.ms` 5), answering once the broker
//!   confirmed the message.
//!
//! The durable modes are the least any collector that acknowledges only durable events does for a
//! single-event request on this machine: HTTP, the body, one durable append, the answer; no
//! parsing, validation, enrichment or dedup. Each request is one message whatever its body (meant
//! for single events), keyed over 5,000 people as the load scripts' events are. Loopback only.

/// mimalloc: the collector and scorer allocate per event; glibc malloc showed up as ~20 % of a
/// profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use leadstream_benches::arg;
use leadstream_platform::config::KafkaConfig;
use leadstream_platform::log::embedded::EmbeddedLog;
use leadstream_platform::log::kafka::{KafkaLog, ensure_topic};
use leadstream_platform::log::{EventLog, LogMessage};

fn answer() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"success": true}))
}

struct Durable {
    log: Box<dyn EventLog>,
    requests: AtomicU64,
}

/// Appends the body as one message and answers once the log has it durably.
async fn durable(
    State(state): State<Arc<Durable>>,
    body: Bytes,
) -> Result<axum::Json<serde_json::Value>, (StatusCode, String)> {
    let n = state.requests.fetch_add(1, Ordering::Relaxed);
    let message = LogMessage {
        key: format!("bench/user-{}", n % 5000),
        payload: body.to_vec(),
    };
    state
        .log
        .append(vec![message])
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(answer())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:18090".into());
    let log: Option<Box<dyn EventLog>> = match args.get(2).map(String::as_str) {
        None => None,
        Some("embedded") => Some(Box::new(
            EmbeddedLog::open(std::path::Path::new(&arg::<String>(&args, 3, "dir")))
                .expect("embedded log"),
        )),
        Some("kafka") => {
            let config = KafkaConfig {
                brokers: arg(&args, 3, "brokers"),
                events_topic: arg(&args, 4, "topic"),
                ..KafkaConfig::default()
            };
            ensure_topic(&config, &config.events_topic)
                .await
                .expect("topic");
            Some(Box::new(KafkaLog::new(&config).expect("producer")))
        }
        Some(other) => panic!(
            "usage: baseline-server <addr> [embedded <dir> | kafka <brokers> <topic>], not {other}"
        ),
    };
    let app = match log {
        None => Router::new()
            .route("/v1/track", post(|_body: Bytes| async { answer() }))
            .route("/v1/batch", post(|_body: Bytes| async { answer() })),
        Some(log) => Router::new()
            .route("/v1/{call}", post(durable))
            .with_state(Arc::new(Durable {
                log,
                requests: AtomicU64::new(0),
            })),
    };
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
