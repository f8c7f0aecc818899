//! Every way a collector request fails, and the one mapping to HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use leadstream_platform::http::error_response;
use leadstream_platform::log::LogError;

use crate::metrics;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("request body is not valid UTF-8 (first invalid byte at {0})")]
    InvalidUtf8(usize),
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{field}: {problem}")]
    InvalidField { field: String, problem: String },
    #[error("missing write key: send it as HTTP Basic auth user name or as `writeKey` in the body")]
    MissingWriteKey,
    #[error("unknown write key")]
    UnknownWriteKey,
    #[error("request body is over the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the request body stalled: nothing arrived for {0} s")]
    BodyTimeout(u64),
    #[error("the event log is unavailable; retry later")]
    LogUnavailable(#[source] LogError),
    #[error("{0}")]
    NotFound(String),
    #[error("missing bearer token: send `Authorization: Bearer <API token>`")]
    MissingApiToken,
    #[error("unknown API token")]
    UnknownApiToken,
    #[error("this API token has expired")]
    ExpiredApiToken,
    #[error("this token is read-only: minting links needs a read-write token")]
    ReadOnlyApiToken,
    #[error("not configured: {0}")]
    NotConfigured(String),
    #[error("webhook signature: {0}")]
    BadSignature(String),
    #[error("Content-Encoding `{0}` is not supported; send gzip or no encoding")]
    UnsupportedEncoding(String),
    #[error("too many requests for this write key; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(String),
}

impl From<LogError> for IngestError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Rejected(reason) => IngestError::Internal(reason),
            other => IngestError::LogUnavailable(other),
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        match self {
            IngestError::InvalidUtf8(_) => error_response(
                StatusCode::BAD_REQUEST,
                "invalid_utf8",
                message,
                Some("body".into()),
                None,
            ),
            IngestError::MalformedJson(_) => error_response(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                message,
                Some("body".into()),
                None,
            ),
            IngestError::InvalidField { field, problem } => error_response(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                problem,
                Some(field),
                None,
            ),
            IngestError::MissingWriteKey | IngestError::UnknownWriteKey => error_response(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                message,
                Some("writeKey".into()),
                None,
            ),
            IngestError::BodyTooLarge { .. } => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                message,
                Some("body".into()),
                None,
            ),
            IngestError::BodyTimeout(_) => error_response(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                message,
                Some("body".into()),
                None,
            ),
            IngestError::NotFound(_) => {
                error_response(StatusCode::NOT_FOUND, "not_found", message, None, None)
            }
            IngestError::ExpiredApiToken => error_response(
                StatusCode::UNAUTHORIZED,
                "token_expired",
                message,
                Some("Authorization".into()),
                None,
            ),
            IngestError::MissingApiToken | IngestError::UnknownApiToken => error_response(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                message,
                Some("Authorization".into()),
                None,
            ),
            IngestError::ReadOnlyApiToken => error_response(
                StatusCode::FORBIDDEN,
                "forbidden",
                message,
                Some("Authorization".into()),
                None,
            ),
            IngestError::BadSignature(_) => {
                metrics::WEBHOOKS_REFUSED.inc();
                error_response(
                    StatusCode::UNAUTHORIZED,
                    "bad_signature",
                    message,
                    Some("signature".into()),
                    None,
                )
            }
            IngestError::NotConfigured(_) => error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_configured",
                message,
                None,
                None,
            ),
            IngestError::UnsupportedEncoding(_) => error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                message,
                Some("Content-Encoding".into()),
                None,
            ),
            IngestError::RateLimited { retry_after_secs } => {
                metrics::RATE_LIMITED.inc();
                error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    message,
                    None,
                    Some(retry_after_secs),
                )
            }
            IngestError::LogUnavailable(LogError::Full(reason)) => {
                metrics::LOG_ERRORS.with_label_values(&["spool_full"]).inc();
                tracing::warn!(%reason, "spool full, answering 503");
                error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "spool_full",
                    format!(
                        "the event log is unavailable and the spool is full; retry later ({reason})"
                    ),
                    None,
                    Some(30),
                )
            }
            IngestError::LogUnavailable(e) => {
                metrics::LOG_ERRORS
                    .with_label_values(&["unavailable"])
                    .inc();
                tracing::warn!(error = %e, "event log unavailable, answering 503");
                error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "log_unavailable",
                    message,
                    None,
                    Some(1),
                )
            }
            IngestError::Internal(detail) => {
                metrics::LOG_ERRORS.with_label_values(&["internal"]).inc();
                tracing::error!(error = %detail, "internal error");
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                    None,
                    None,
                )
            }
        }
    }
}
