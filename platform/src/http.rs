//! The one JSON error shape every leadstream API answers with:
//!
//! ```json
//! {"error": {"code": "invalid_event", "message": "one of userId or anonymousId is required", "field": "batch[2].userId"}}
//! ```
//!
//! with the same `code` and `message` also at the top level, where Segment's and RudderStack's SDKs
//! read them (RudderStack's Python SDK fails on an error body without a top-level `code`), and the
//! message as `detail`, where PostHog's SDKs read it:
//!
//! ```json
//! {"error": {…}, "code": "invalid_event", "message": "one of userId or anonymousId is required",
//!  "detail": "one of userId or anonymousId is required"}
//! ```
//!
//! Each service's `error.rs` maps its error enum to a status and this body.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `malformed_json`, `invalid_event`, `unauthorized`, …
    pub code: &'static str,
    pub message: String,
    /// The field at fault, as a path into the request body, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// `error.code` again, for SDKs that read it at the top level.
    pub code: &'static str,
    /// `error.message` again, likewise.
    pub message: String,
    /// `error.message` once more, where PostHog's SDKs read it.
    pub detail: String,
    /// The request's id (also in the `x-request-id` header and in the service's log line for
    /// the request), to quote to an operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorBody {
    pub fn new(error: ErrorDetail) -> ErrorBody {
        ErrorBody {
            request_id: current_request_id(),
            code: error.code,
            message: error.message.clone(),
            detail: error.message.clone(),
            error,
        }
    }
}

/// A JSON error response; `retry_after` adds `Retry-After` (seconds).
pub fn error_response(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
    field: Option<String>,
    retry_after: Option<u64>,
) -> Response {
    let mut response = (
        status,
        Json(ErrorBody::new(ErrorDetail {
            code,
            message: message.into(),
            field,
        })),
    )
        .into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// `/ready`: 200 when `check` succeeded, 503 with the reason otherwise.
pub fn ready_response<E: std::fmt::Display>(check: Result<(), E>) -> Response {
    match check {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "not_ready", "reason": e.to_string()})),
        )
            .into_response(),
    }
}

/// Headers every answer of a leadstream API carries: no MIME sniffing, no referrer, no framing,
/// and (`personal`) no caching of the answer anywhere, since it may hold personal data. A route
/// that sets its own `Cache-Control` keeps it.
pub async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
    personal: bool,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if personal && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Answers every error in the JSON shape, also those the framework makes itself (an unknown
/// route's 404, a wrong method's 405, a body over the limit's 413, a stalled body's 408): a
/// 4xx or 5xx whose body is not JSON gets the shape, its text as the message.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "body_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string()
    } else {
        text
    };
    let mut fixed = error_response(status, code, message, None, None);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fixed.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fixed
}

/// Where a request comes from, for per-client limits (the collector looks behind its trusted
/// proxies; other services take the peer).
pub type ClientAddress =
    std::sync::Arc<dyn Fn(&axum::extract::Request) -> Option<std::net::IpAddr> + Send + Sync>;

/// The peer address of a request (none for requests that did not come over a socket).
pub fn peer_address(request: &axum::extract::Request) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Counts every 401 a client gets in `limit`; past the limit its requests answer 429 (with
/// `Retry-After`) without being looked at until its minute is over. `/health` and `/ready`
/// always answer.
pub async fn limit_failed_auth(
    limit: std::sync::Arc<crate::auth::FailedAuth>,
    client: ClientAddress,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if path == "/health" || path == "/ready" {
        return next.run(request).await;
    }
    let Some(ip) = client(&request) else {
        return next.run(request).await;
    };
    if let Some(retry) = limit.blocked(ip) {
        return error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_failed_authentications",
            format!("too many failed authentications from this address; retry in {retry} s"),
            None,
            Some(retry),
        );
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        limit.failed(ip);
    }
    response
}

/// The header a request id travels in, both ways.
pub const REQUEST_ID: &str = "x-request-id";

tokio::task_local! {
    static CURRENT_REQUEST_ID: String;
}

/// The id of the request the current task is answering (inside [`observe`]).
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// A request id a client or a proxy in front sent, when it is one we can echo safely: 1-128
/// characters of letters, digits, `-`, `_`, `.` and `:`.
fn usable_request_id(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then(|| s.to_string())
}

static REQUEST_SECONDS: std::sync::LazyLock<prometheus::HistogramVec> = std::sync::LazyLock::new(
    || {
        prometheus::register_histogram_vec!(
            "leadstream_http_request_duration_seconds",
            "HTTP request latency until the response head, by service, matched route, method and status.",
            &["service", "route", "method", "status"],
            vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0
            ]
        )
        .expect("metric registers once")
    },
);

/// Request-level observability for every service's router (`.layer(from_fn_with_state(service,
/// observe))`, outermost): a request id (the caller's `x-request-id` when usable, else a new
/// one) echoed in the response header and in JSON error bodies; the latency by matched route
/// (never the raw path) in `leadstream_http_request_duration_seconds`; one log line per request
/// with the id, route, status and latency (`debug` when it succeeded, `info` for a 4xx, `warn`
/// for a 5xx, so a busy collector does not log every event at the default level).
pub async fn observe(
    axum::extract::State(service): axum::extract::State<&'static str>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(usable_request_id)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let matched = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let method = request.method().clone();
    let started = std::time::Instant::now();
    let mut response = CURRENT_REQUEST_ID
        .scope(id.clone(), next.run(request))
        .await;
    let elapsed = started.elapsed();
    let status = response.status();
    let route = matched
        .as_ref()
        .map_or("unmatched", axum::extract::MatchedPath::as_str);
    REQUEST_SECONDS
        .with_label_values(&[service, route, method.as_str(), status.as_str()])
        .observe(elapsed.as_secs_f64());
    let ms = elapsed.as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::warn!(request_id = %id, service, %method, route, status = status.as_u16(), ms, "request failed");
    } else if status.is_client_error() {
        tracing::info!(request_id = %id, service, %method, route, status = status.as_u16(), ms, "request refused");
    } else {
        tracing::debug!(request_id = %id, service, %method, route, status = status.as_u16(), ms, "request");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}
