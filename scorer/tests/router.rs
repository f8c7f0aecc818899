//! The scorer's own listener (`/health`, `/ready`, `/metrics`) on its own, no sockets: what the
//! framework refuses answers in the JSON shape with its request id and the security headers, as
//! on the collector and the query API (one front layer for every service).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use leadstream_platform::store::embedded::EmbeddedStore;
use leadstream_platform::telemetry::{Heartbeats, MetricsAccess};
use leadstream_scorer::router::{ScorerState, router};
use serde_json::Value;
use tower::ServiceExt;

#[tokio::test]
async fn an_unknown_route_or_method_answers_in_the_json_shape_with_its_request_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = router(ScorerState {
        store: Arc::new(EmbeddedStore::open(dir.path()).expect("store")),
        heartbeats: Heartbeats::default(),
        metrics: MetricsAccess::new(&Default::default()),
        loaded: Arc::new(AtomicBool::new(false)),
    });
    for (method, path, status, code) in [
        (Method::GET, "/nowhere", StatusCode::NOT_FOUND, "not_found"),
        (
            Method::POST,
            "/health",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("x-request-id", "req-scorer-1")
            .body(Body::empty())
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        assert_eq!(response.status(), status, "{path}");
        let headers = response.headers().clone();
        assert_eq!(headers["x-request-id"], "req-scorer-1", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .expect("text")
                .starts_with("application/json"),
            "{path}: {headers:?}"
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let body: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert_eq!(body["request_id"], "req-scorer-1", "{body}");
    }
}
