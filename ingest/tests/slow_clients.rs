//! The collector on a real port against clients that are too slow: unfinished headers are cut
//! off, a stalled body gets 408 with the usual JSON error and writes nothing, while a normal
//! client on another connection is served meanwhile. Then shutdown lets the server return.

use std::sync::Arc;
use std::time::Duration;

use leadstream_ingest::AppState;
use leadstream_platform::config::IngestConfig;
use leadstream_platform::log::LogConsumer;
use leadstream_platform::log::embedded::EmbeddedLog;
use leadstream_platform::testing::{read_to_close, workspace};
use leadstream_platform::workspaces::Registry;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const KEY: &str = "wk_test_slow_clients";

fn request(body: &str, declared_length: usize) -> String {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"));
    format!(
        "POST /v1/track HTTP/1.1\r\nHost: t.acme.io\r\nAuthorization: Basic {basic}\r\n\
         Content-Type: application/json\r\nContent-Length: {declared_length}\r\n\
         Connection: close\r\n\r\n{body}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_normal_ones_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path()).expect("log");
    let registry = Registry::from_parts(&[workspace("acme", &[KEY], &[])], &[]);
    let config = IngestConfig {
        client_timeout_secs: 1,
        ..IngestConfig::default()
    };
    let state = AppState::new(Arc::new(registry), Arc::new(log.clone()), &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(leadstream_ingest::serve(state, listener, shutdown.clone()));

    // Headers never finished: the connection is closed, nothing answered.
    let mut unfinished = TcpStream::connect(addr).await.expect("connect");
    unfinished
        .write_all(b"POST /v1/track HTTP/1.1\r\nHost: t.acme.io\r\n")
        .await
        .expect("write");
    // A body that stops half way.
    let event = r#"{"userId":"u-slow","event":"Signed Up"}"#;
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    stalled
        .write_all(request(&event[..10], event.len()).as_bytes())
        .await
        .expect("write");
    // Meanwhile a normal client is served.
    let mut normal = TcpStream::connect(addr).await.expect("connect");
    let ok = r#"{"userId":"u-ok","event":"Signed Up"}"#;
    normal
        .write_all(request(ok, ok.len()).as_bytes())
        .await
        .expect("write");
    let answer = read_to_close(&mut normal).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let answer = read_to_close(&mut stalled).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body: Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).expect("body")).expect("JSON error");
    assert_eq!(body["error"]["code"], "body_timeout", "{body}");
    assert_eq!(body["error"]["field"], "body", "{body}");
    assert_eq!(read_to_close(&mut unfinished).await, "");

    let mut consumer = log.consumer("check").expect("consumer");
    let written = consumer
        .poll(10, Duration::from_millis(100))
        .await
        .expect("poll");
    assert_eq!(written.len(), 1, "only the normal client's event");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the collector stops")
        .expect("join")
        .expect("serve");
}
