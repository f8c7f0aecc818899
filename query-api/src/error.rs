//! Every way a query fails, and the one mapping to HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use leadstream_platform::http::error_response;
use leadstream_platform::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    MissingToken,
    #[error("unknown API token")]
    UnknownToken,
    #[error("this API token has expired")]
    ExpiredToken,
    #[error("this token is read-only: changes need a read-write token")]
    ReadOnlyToken,
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    #[error("{field}: {problem}")]
    InvalidField { field: String, problem: String },
    /// Well-formed, but more than the server will do in one request.
    #[error("{field}: {problem}")]
    Unprocessable { field: String, problem: String },
    #[error("{field}: {problem}")]
    TooLarge { field: String, problem: String },
    #[error("{field}: {problem}")]
    Conflict { field: String, problem: String },
    #[error("the event log is unavailable; retry later")]
    LogUnavailable(String),
    #[error("the store is unavailable; retry later")]
    StoreUnavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for QueryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => QueryError::StoreUnavailable(m),
            StoreError::Invalid(m) => QueryError::Internal(m),
        }
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        match self {
            QueryError::ExpiredToken => error_response(
                StatusCode::UNAUTHORIZED,
                "token_expired",
                message,
                Some("Authorization".into()),
                None,
            ),
            QueryError::MissingToken | QueryError::UnknownToken => error_response(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                message,
                Some("Authorization".into()),
                None,
            ),
            QueryError::ReadOnlyToken => error_response(
                StatusCode::FORBIDDEN,
                "forbidden",
                message,
                Some("Authorization".into()),
                None,
            ),
            QueryError::NotFound { .. } => {
                error_response(StatusCode::NOT_FOUND, "not_found", message, None, None)
            }
            QueryError::InvalidField { field, problem } => error_response(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                problem,
                Some(field),
                None,
            ),
            QueryError::Unprocessable { field, problem } => error_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                problem,
                Some(field),
                None,
            ),
            QueryError::TooLarge { field, problem } => error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                problem,
                Some(field),
                None,
            ),
            QueryError::Conflict { field, problem } => {
                error_response(StatusCode::CONFLICT, "conflict", problem, Some(field), None)
            }
            QueryError::LogUnavailable(detail) => {
                tracing::warn!(error = %detail, "event log unavailable");
                error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "log_unavailable",
                    message,
                    None,
                    Some(1),
                )
            }
            QueryError::StoreUnavailable(detail) => {
                tracing::warn!(error = %detail, "store unavailable");
                error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    message,
                    None,
                    Some(1),
                )
            }
            QueryError::Internal(detail) => {
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
