//! Structured logs, Prometheus text, and heartbeats behind `/health`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, TextEncoder};

use crate::config::LogFormat;

/// Sets up `tracing` once per process; `RUST_LOG` filters (default `info`). JSON logs are one
/// object per line with the event's fields at the top level (`{"timestamp", "level", "target",
/// "message", "request_id", …}`), as log shippers (Loki, Vector, Fluent Bit) index them. Also
/// registers `leadstream_build_info`.
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    build_info();
}

/// `leadstream_build_info{version}` = 1, as Prometheus exporters expose their build: a
/// dashboard shows which version each instance runs, and a rollout's progress. The process's
/// own `process_*` metrics (CPU seconds, resident memory, open descriptors, start time) come
/// from the prometheus crate's process collector in the same registry.
pub fn build_info() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let gauge = prometheus::register_int_gauge_vec!(
            "leadstream_build_info",
            "The leadstream build this process runs (always 1).",
            &["version"]
        );
        if let Ok(gauge) = gauge {
            gauge.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        }
    });
}

/// Who may read `/metrics`: the holder of a bearer token (`security.metrics_token` or its
/// `…_sha256`), or without one configured, loopback clients only. A wrong token is a 401; a
/// client elsewhere when no token is configured, a 403.
#[derive(Clone, Debug, Default)]
pub struct MetricsAccess {
    token_sha256: Option<String>,
    /// `security.metrics_listen`: the metrics are served there, not here.
    elsewhere: Option<std::net::SocketAddr>,
}

impl MetricsAccess {
    pub fn new(security: &crate::config::SecurityConfig) -> MetricsAccess {
        MetricsAccess {
            token_sha256: security
                .metrics_token
                .as_deref()
                .map(crate::workspaces::hash_token)
                .or_else(|| {
                    security
                        .metrics_token_sha256
                        .as_ref()
                        .map(|h| h.trim().to_ascii_lowercase())
                }),
            elsewhere: security.metrics_listen,
        }
    }

    /// The same rule for the admin listener itself.
    fn on_admin_listener(mut self) -> MetricsAccess {
        self.elsewhere = None;
        self
    }

    /// Answers `GET /metrics` behind this access rule:
    /// `get(move |r| access.clone().serve(r))`.
    pub fn serve(
        self,
        request: axum::extract::Request,
    ) -> impl std::future::Future<Output = Response> + Send {
        let denied = self.denied(&request);
        async move {
            match denied {
                Some(response) => response,
                None => metrics_handler().await,
            }
        }
    }

    /// The refusal of `request`, when it may not read the metrics.
    fn denied(&self, request: &axum::extract::Request) -> Option<Response> {
        let denied = |status: StatusCode, code: &'static str, message: &str| {
            crate::http::error_response(status, code, message.to_string(), None, None)
        };
        if self.elsewhere.is_some() {
            return Some(denied(
                StatusCode::NOT_FOUND,
                "not_found",
                "metrics are served on the admin listener (security.metrics_listen)",
            ));
        }
        match &self.token_sha256 {
            Some(want) => {
                let given = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split_once(' '))
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, t)| crate::workspaces::hash_token(t.trim()));
                if given.as_deref() != Some(want.as_str()) {
                    return Some(denied(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "metrics need the bearer token of security.metrics_token",
                    ));
                }
            }
            None => {
                let loopback = request
                    .extensions()
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .is_some_and(|c| c.0.ip().is_loopback());
                if !loopback {
                    return Some(denied(
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        "metrics answer loopback clients only; set security.metrics_token to \
                         scrape from elsewhere",
                    ));
                }
            }
        }
        None
    }
}

/// With `security.metrics_listen` set: binds it and serves `/metrics` there until `shutdown`
/// (from a plain `fn` inside the runtime, as a binary's start is).
pub fn serve_admin(
    security: &crate::config::SecurityConfig,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let Some(addr) = security.metrics_listen else {
        return Ok(());
    };
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let access = MetricsAccess::new(security).on_admin_listener();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |r: axum::extract::Request| access.clone().serve(r)),
    );
    tracing::info!(%addr, "metrics on the admin listener");
    tokio::spawn(crate::serve::serve(
        listener,
        app,
        crate::serve::ClientTimeouts::default(),
        shutdown,
    ));
    Ok(())
}

/// `GET /metrics`: every metric of the process's default registry, as Prometheus text.
pub async fn metrics_handler() -> Response {
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&prometheus::gather(), &mut buf) {
        tracing::error!(error = %e, "encoding metrics failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], buf).into_response()
}

/// Long-running loops report in; `/health` fails when one has not within its deadline.
#[derive(Clone, Default)]
pub struct Heartbeats {
    inner: Arc<Mutex<HashMap<&'static str, (Instant, Duration)>>>,
}

impl Heartbeats {
    /// Registers (or refreshes) `component`, which must beat again within `deadline`.
    pub fn beat(&self, component: &'static str, deadline: Duration) {
        if let Ok(mut m) = self.inner.lock() {
            m.insert(component, (Instant::now(), deadline));
        }
    }

    /// Removes a component that stopped on purpose.
    pub fn retire(&self, component: &'static str) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(component);
        }
    }

    /// Components that missed their deadline.
    pub fn stalled(&self) -> Vec<&'static str> {
        let Ok(m) = self.inner.lock() else {
            return vec!["heartbeats"];
        };
        let mut out: Vec<_> = m
            .iter()
            .filter(|(_, (at, d))| at.elapsed() > *d)
            .map(|(c, _)| *c)
            .collect();
        out.sort();
        out
    }

    /// `/health`: 200 while every loop reports in, 503 naming the stalled ones otherwise.
    pub fn response(&self) -> Response {
        let stalled = self.stalled();
        if stalled.is_empty() {
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({"status": "ok"})),
            )
                .into_response()
        } else {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "stalled", "stalled": stalled})),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalled_components_are_named() {
        let h = Heartbeats::default();
        h.beat("fast", Duration::from_secs(60));
        h.beat("slow", Duration::from_millis(0));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(h.stalled(), vec!["slow"]);
        h.retire("slow");
        assert!(h.stalled().is_empty());
    }
}
