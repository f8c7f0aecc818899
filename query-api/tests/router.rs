//! The query API's router on its own, no servers and no sockets: bad input and refused
//! credentials answer in the JSON error shape, naming what is wrong, before any store is asked.
//! The store behind it is the embedded one in a temporary directory.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use leadstream_platform::config::{Config, WorkspaceConfig};
use leadstream_platform::telemetry::Heartbeats;
use leadstream_platform::{Backends, Mode};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "tok_router_acme_0123456789";
const READ_TOKEN: &str = "tok_router_acme_read_0123456789";

async fn app(dir: &std::path::Path) -> Router {
    let config = Config {
        mode: Mode::Embedded,
        data_dir: dir.to_path_buf(),
        workspaces: vec![WorkspaceConfig {
            name: "acme".into(),
            write_keys: vec!["wk_router_acme_0001".into()],
            api_tokens: vec![TOKEN.into()],
            read_tokens: vec![READ_TOKEN.into()],
            ..Default::default()
        }],
        ..Config::default()
    };
    let backends = Backends::new(config);
    let (registry, _) = backends.workspaces().expect("workspaces");
    let state =
        leadstream_query_api::server::state(&backends, Arc::new(registry), Heartbeats::default())
            .await
            .expect("state");
    leadstream_query_api::router(state)
}

async fn call(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{status}: not JSON: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        )
    });
    (status, headers, body)
}

/// The error shape the README promises: `error.code`, `error.message`, `error.field` where one
/// is at fault, and `code` / `message` at the top level too.
fn assert_error(body: &Value, code: &str, field: Option<&str>) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    if let Some(field) = field {
        assert_eq!(body["error"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn credentials_are_checked_first_and_refused_in_the_json_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(dir.path()).await;
    let (status, headers, body) = call(&app, Method::GET, "/v1/segments", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    for token in [
        "tok_wrong_0123456789",
        "lsk_acme.0123456789abcdef0123456789abcdef01234567",
    ] {
        let (status, _, body) = call(&app, Method::GET, "/v1/segments", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}: {body}");
    }
    // A read-only token reads, never changes.
    let (status, _, body) = call(&app, Method::GET, "/v1/segments", Some(READ_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let definition = r#"{"name": "VPs", "definition": {"trait": "title", "contains": "VP"}}"#;
    let (status, _, body) = call(
        &app,
        Method::POST,
        "/v1/segments",
        Some(READ_TOKEN),
        Some(definition),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_error(&body, "forbidden", None);
}

#[tokio::test]
async fn the_frameworks_own_refusals_answer_in_the_json_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(dir.path()).await;
    let (status, _, body) = call(&app, Method::GET, "/v1/nowhere", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error(&body, "not_found", None);
    let (status, _, body) = call(&app, Method::DELETE, "/v1/rfm", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_error(&body, "method_not_allowed", None);
    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(3 << 20));
    let (status, _, body) =
        call(&app, Method::POST, "/v1/segments", Some(TOKEN), Some(&huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "body_too_large", "{body}");
}

/// The front layer sits inside the compression: a framework error asked for gzipped is rewritten
/// from its plain text first, then compressed, and keeps its request id and headers.
#[tokio::test]
async fn a_frameworks_refusal_asked_for_gzip_is_json_then_compressed() {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(dir.path()).await;
    let request = Request::builder()
        .method(Method::DELETE)
        .uri("/v1/rfm")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::ACCEPT_ENCODING, "gzip")
        .header("x-request-id", "req-gzip-405")
        .body(Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip", "{headers:?}");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .expect("text")
            .starts_with("application/json"),
        "{headers:?}"
    );
    assert_eq!(headers["x-request-id"], "req-gzip-405");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .expect("gzip");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_error(&body, "method_not_allowed", None);
    assert_eq!(body["request_id"], "req-gzip-405", "{body}");
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(dir.path()).await;
    let cases: [(Method, String, Option<&str>, &str); 6] = [
        (
            Method::POST,
            "/v1/segments".into(),
            Some(r#"{"name": "x", "definition": {"trait": "title", "near": "VP"}}"#),
            "definition.near",
        ),
        (
            Method::POST,
            "/v1/segments".into(),
            Some(r#"{"name": 7, "definition": {"score": {"gte": 1}}}"#),
            "name",
        ),
        (
            Method::POST,
            "/v1/segments".into(),
            Some("{not json"),
            "body",
        ),
        (
            Method::GET,
            format!("/v1/profiles/{}", "p".repeat(600)),
            None,
            "id",
        ),
        (
            Method::GET,
            "/v1/webhooks/deliveries?limit=0".into(),
            None,
            "limit",
        ),
        (
            Method::POST,
            "/v1/tokens".into(),
            Some(r#"{"name": "mailer", "scope": "read_write", "expires_in_days": 0}"#),
            "expires_in_days",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, _, answer) = call(&app, method.clone(), &path, Some(TOKEN), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{method} {path}: {answer}");
        assert!(answer["code"].is_string(), "{answer}");
    }
    // A well-formed one still goes through, so the refusals above are about their input.
    let (status, _, body) = call(
        &app,
        Method::POST,
        "/v1/segments",
        Some(TOKEN),
        Some(
            &json!({"name": "VPs", "definition": {"trait": "title", "contains": "VP"}}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// In the all-in-one, `/ready` waits for the scorer in the same process to have the profiles of
/// its partitions (a rebalance or a slow store at start), and says why it is not ready.
#[tokio::test]
async fn ready_includes_the_scorer_of_the_same_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        mode: Mode::Embedded,
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let backends = Backends::new(config);
    let (registry, _) = backends.workspaces().expect("workspaces");
    let mut state =
        leadstream_query_api::server::state(&backends, Arc::new(registry), Heartbeats::default())
            .await
            .expect("state");
    let loaded = Arc::new(std::sync::atomic::AtomicBool::new(false));
    state.scorer_loaded = Some(loaded.clone());
    let app = leadstream_query_api::router(state);
    let (status, _, body) = call(&app, Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .expect("reason")
            .contains("not loaded"),
        "{body}"
    );
    loaded.store(true, std::sync::atomic::Ordering::Relaxed);
    let (status, _, body) = call(&app, Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
