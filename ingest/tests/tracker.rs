//! The JavaScript tracker, run for real under Node with a minimal browser stand-in: what it
//! sends on a visit is posted to the collector, which must accept all of it as the events the
//! visit stands for. Needs `node` (on the project's machines).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use leadstream_ingest::{AppState, router};
use leadstream_platform::config::IngestConfig;
use leadstream_platform::log::LogConsumer;
use leadstream_platform::log::embedded::EmbeddedLog;
use leadstream_platform::testing::workspace;
use leadstream_platform::workspaces::Registry;
use leadstream_schemas::LogRecord;
use serde_json::Value;
use tower::ServiceExt;

const KEY: &str = "wk_test_tracker_1";

#[tokio::test]
async fn a_visit_recorded_by_the_tracker_is_accepted_by_the_collector() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path()).expect("log");
    let registry = Registry::from_parts(&[workspace("acme", &[KEY], &[])], &[]);
    let app = router(AppState::new(
        Arc::new(registry),
        Arc::new(log.clone()),
        &IngestConfig::default(),
    ));

    // The script as the collector serves it.
    let response = app
        .clone()
        .oneshot(Request::get("/v1/t.js").body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("application/javascript")
    );
    let script = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    assert!(script.len() < 8 * 1024, "a few kilobytes: {}", script.len());
    let path = dir.path().join("t.js");
    std::fs::write(&path, &script).expect("write");

    let harness = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tracker.js");
    let out = std::process::Command::new("node")
        .arg(harness)
        .arg(&path)
        .arg(KEY)
        .output()
        .expect("node runs (install Node.js)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let visit: Value = serde_json::from_slice(&out.stdout).expect("harness prints JSON");
    let anonymous_id = visit["anonymousId"].as_str().expect("id").to_string();
    assert_eq!(visit["cookie"], format!("ls_aid={anonymous_id}"));

    let sent = visit["sent"].as_array().expect("sent");
    assert_eq!(
        sent.len(),
        3,
        "flushed on the download, the submit and the page hide: {visit}"
    );
    for beacon in sent {
        assert_eq!(beacon["url"], "https://collector.test/v1/batch");
        assert_eq!(beacon["type"], "text/plain");
        let req = Request::post("/v1/batch")
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(
                beacon["body"].as_str().expect("body").to_string(),
            ))
            .expect("req");
        let response = app.clone().oneshot(req).await.expect("resp");
        assert_eq!(response.status(), StatusCode::OK);
    }

    let mut consumer = log.consumer("check").expect("consumer");
    let got = consumer
        .poll(100, Duration::from_millis(10))
        .await
        .expect("poll");
    let events: Vec<LogRecord> = got
        .iter()
        .map(|d| LogRecord::decode(&d.payload).expect("decode"))
        .collect();
    let names: Vec<String> = events
        .iter()
        .map(|r| {
            r.event
                .event
                .clone()
                .unwrap_or_else(|| r.event.event_type.as_str().to_string())
        })
        .collect();
    assert_eq!(
        names,
        vec!["page", "File Downloaded", "Form Submitted", "identify"]
    );
    assert!(
        events
            .iter()
            .all(|r| r.event.anonymous_id.as_deref() == Some(anonymous_id.as_str()))
    );
    let page = &events[0].event;
    assert_eq!(
        page.context
            .page
            .as_ref()
            .and_then(|p| p.referrer.as_deref()),
        Some("https://google.com/")
    );
    assert_eq!(
        page.context
            .campaign
            .as_ref()
            .and_then(|c| c.name.as_deref()),
        Some("spring")
    );
    assert_eq!(events[1].event.properties["file_name"], "guide.pdf");
    assert_eq!(events[2].event.properties["form_id"], "contact");
    assert_eq!(events[3].event.user_id.as_deref(), Some("user-9"));
    assert!(!events[0].event.enrichment.as_ref().expect("enrichment").bot);
}

#[tokio::test]
async fn browsers_on_other_origins_may_post() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path()).expect("log");
    let app = router(AppState::new(
        Arc::new(Registry::default()),
        Arc::new(log),
        &IngestConfig::default(),
    ));
    let req = Request::builder()
        .method("OPTIONS")
        .uri("/v1/batch")
        .header(header::ORIGIN, "https://shop.example")
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            // RudderStack's browser SDK adds `AnonymousId`.
            "content-type,authorization,anonymousid",
        )
        .body(Body::empty())
        .expect("req");
    let response = app.oneshot(req).await.expect("resp");
    assert!(response.status().is_success());
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let allowed = response.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    for wanted in ["content-type", "authorization", "anonymousid"] {
        assert!(allowed.contains(wanted), "{wanted} not in {allowed}");
    }
}
