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
fn add_security_headers(headers: &mut axum::http::HeaderMap, personal: bool) {
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
}

/// A 4xx or 5xx whose body is not JSON (one the framework made itself).
fn needs_json_error(response: &Response) -> bool {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    (status.is_client_error() || status.is_server_error()) && !is_json
}

/// `response` in the JSON error shape, its text as the message and its headers kept.
async fn json_error(response: Response) -> Response {
    let status = response.status();
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

/// The id of the request the current task is answering (inside [`Front`]).
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

/// A new request id: a UUIDv7 (time-ordered), its random part from the thread's generator
/// rather than a `getrandom` call per request.
fn new_request_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    uuid::Builder::from_unix_timestamp_millis(millis, &rand::random())
        .into_uuid()
        .simple()
        .to_string()
}

/// What [`Front`] notes of a request before answering it.
struct Observation {
    id: String,
    matched: Option<axum::extract::MatchedPath>,
    method: axum::http::Method,
    started: std::time::Instant,
}

impl Observation {
    fn begin(request: &axum::extract::Request) -> Observation {
        Observation {
            id: request
                .headers()
                .get(REQUEST_ID)
                .and_then(usable_request_id)
                .unwrap_or_else(new_request_id),
            matched: request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .cloned(),
            method: request.method().clone(),
            started: std::time::Instant::now(),
        }
    }

    /// Records the answer (latency histogram, `count`, the log line) and echoes the id.
    fn end(self, service: &'static str, response: &mut Response, count: Option<CountRequest>) {
        let elapsed = self.started.elapsed();
        let status = response.status();
        let route = self
            .matched
            .as_ref()
            .map_or("unmatched", axum::extract::MatchedPath::as_str);
        let method = &self.method;
        let id = &self.id;
        REQUEST_SECONDS
            .with_label_values(&[service, route, method.as_str(), status.as_str()])
            .observe(elapsed.as_secs_f64());
        if let Some(count) = count {
            count(route, status);
        }
        let ms = elapsed.as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::warn!(request_id = %id, service, %method, route, status = status.as_u16(), ms, "request failed");
        } else if status.is_client_error() {
            tracing::info!(request_id = %id, service, %method, route, status = status.as_u16(), ms, "request refused");
        } else {
            tracing::debug!(request_id = %id, service, %method, route, status = status.as_u16(), ms, "request");
        }
        if let Ok(value) = HeaderValue::from_str(id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
    }
}

/// A service's own request counter, by matched route and status.
pub type CountRequest = fn(&str, StatusCode);

/// What every service's router does around each request, in one layer (outermost, or just
/// inside a compression layer: `router.layer(Front::new("ingest"))`):
/// - a request id (the caller's `x-request-id` when usable, else a new one) echoed in the
///   response header and in JSON error bodies;
/// - the latency by matched route (never the raw path) in
///   `leadstream_http_request_duration_seconds`, and the service's own counter when it has one;
/// - one log line per request with the id, route, status and latency (`debug` when it succeeded,
///   `info` for a 4xx, `warn` for a 5xx, so a busy collector does not log every event at the
///   default level);
/// - the security headers ([`add_security_headers`]);
/// - every error in the JSON shape, also those the framework makes itself (an unknown route's
///   404, a wrong method's 405, a body over the limit's 413, a stalled body's 408): a 4xx or 5xx
///   whose body is not JSON gets the shape, its text as the message.
///
/// One future per request, where four `from_fn` layers each cost a boxed service and a boxed
/// future (the collector spent ~10 µs of CPU per single-event request in them).
#[derive(Clone, Copy)]
pub struct Front {
    service: &'static str,
    personal: bool,
    count: Option<CountRequest>,
}

impl Front {
    /// For `service`'s router: request ids, latency and log lines, the security headers
    /// (answers that may be cached) and errors in the JSON shape.
    pub fn new(service: &'static str) -> Front {
        Front {
            service,
            personal: false,
            count: None,
        }
    }

    /// Every answer may hold personal data: `Cache-Control: no-store` unless a route set its own.
    pub fn personal(self) -> Front {
        Front {
            personal: true,
            ..self
        }
    }

    /// Also counts each request in the service's own counter.
    pub fn counting(self, count: CountRequest) -> Front {
        Front {
            count: Some(count),
            ..self
        }
    }
}

impl<S> tower::Layer<S> for Front {
    type Service = FrontService<S>;

    fn layer(&self, inner: S) -> FrontService<S> {
        FrontService {
            inner,
            front: *self,
        }
    }
}

/// The service [`Front`] wraps a route in.
#[derive(Clone)]
pub struct FrontService<S> {
    inner: S,
    front: Front,
}

impl<S> tower::Service<axum::extract::Request> for FrontService<S>
where
    S: tower::Service<
            axum::extract::Request,
            Response = Response,
            Error = std::convert::Infallible,
        >,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = FrontFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let observation = Observation::begin(&request);
        let answer = CURRENT_REQUEST_ID.scope(observation.id.clone(), self.inner.call(request));
        FrontFuture {
            state: FrontState::Answering { answer },
            observation: Some(observation),
            front: self.front,
        }
    }
}

type BoxedAnswer = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

pin_project_lite::pin_project! {
    /// The answer of a [`FrontService`].
    pub struct FrontFuture<F> {
        #[pin]
        state: FrontState<F>,
        observation: Option<Observation>,
        front: Front,
    }
}

pin_project_lite::pin_project! {
    #[project = FrontStateProj]
    enum FrontState<F> {
        // The route answering, inside the request id's scope.
        Answering { #[pin] answer: tokio::task::futures::TaskLocalFuture<String, F> },
        // An error the framework made, being rewritten into the JSON shape (rare: boxed).
        Rewriting { rewrite: BoxedAnswer },
    }
}

impl<F> std::future::Future for FrontFuture<F>
where
    F: std::future::Future<Output = Result<Response, std::convert::Infallible>>,
{
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        loop {
            let this = self.as_mut().project();
            let mut response = match this.state.project() {
                FrontStateProj::Answering { answer } => {
                    let Poll::Ready(Ok(response)) = answer.poll(cx) else {
                        return Poll::Pending;
                    };
                    if needs_json_error(&response) {
                        let id = this
                            .observation
                            .as_ref()
                            .map_or_else(String::new, |o| o.id.clone());
                        let rewrite: BoxedAnswer =
                            Box::pin(CURRENT_REQUEST_ID.scope(id, json_error(response)));
                        self.as_mut()
                            .project()
                            .state
                            .set(FrontState::Rewriting { rewrite });
                        continue;
                    }
                    response
                }
                FrontStateProj::Rewriting { rewrite } => match rewrite.as_mut().poll(cx) {
                    Poll::Ready(response) => response,
                    Poll::Pending => return Poll::Pending,
                },
            };
            let front = *this.front;
            add_security_headers(response.headers_mut(), front.personal);
            if let Some(observation) = this.observation.take() {
                observation.end(front.service, &mut response, front.count);
            }
            return Poll::Ready(Ok(response));
        }
    }
}
