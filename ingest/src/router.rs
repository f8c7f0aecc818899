//! The collector's routes and shared state.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware;
use axum::routing::{get, post};
use leadstream_platform::config::IngestConfig;
use leadstream_platform::log::EventLog;
use leadstream_platform::workspaces::Registry;
use tower_http::cors::{AllowHeaders, Any, CorsLayer};

use crate::dedup::Deduper;
use crate::email::{LinkSigner, ScannerDetector};
use crate::enrich::Enricher;
use crate::metrics;
use crate::ratelimit::RateLimits;
use crate::routes;
use crate::routes::forms::FormLimits;

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub log: Arc<dyn EventLog>,
    /// The collector's whole `[ingest]` configuration (limits, channels, URLs).
    pub config: Arc<IngestConfig>,
    pub enricher: Arc<Enricher>,
    pub rate_limits: Arc<RateLimits>,
    pub signer: Arc<LinkSigner>,
    pub scanners: Arc<ScannerDetector>,
    pub form_limits: Arc<FormLimits>,
    pub dedup: Arc<Deduper>,
    /// The workspaces' tracking plans.
    pub plans: Arc<crate::plan::Plans>,
    /// Where refused events are kept (none: they are only counted).
    pub failed: Option<Arc<dyn leadstream_platform::failed::FailedSink>>,
    /// API tokens issued through the query API (the all-in-one shares the query API's copy).
    pub issued: Arc<leadstream_platform::auth::IssuedTokens>,
    /// Failed authentications per client address.
    pub failed_auth: Arc<leadstream_platform::auth::FailedAuth>,
    /// Who may read `/metrics`.
    pub metrics: leadstream_platform::telemetry::MetricsAccess,
    /// Signed webhooks' tolerance and the other `[security]` settings.
    pub security: Arc<leadstream_platform::config::SecurityConfig>,
}

impl AppState {
    /// The state for `config`'s collector over `log`.
    pub fn new(registry: Arc<Registry>, log: Arc<dyn EventLog>, config: &IngestConfig) -> AppState {
        AppState {
            registry,
            log,
            config: Arc::new(config.clone()),
            enricher: Arc::new(Enricher::new(config)),
            rate_limits: Arc::new(RateLimits::new(config)),
            signer: Arc::new(LinkSigner::new(
                config.email.signing_keys.clone(),
                config.email.link_ttl_days,
            )),
            scanners: Arc::new(ScannerDetector::new(&config.email)),
            form_limits: Arc::new(FormLimits::new(config.form_submissions_per_ip_per_minute)),
            dedup: Arc::new(Deduper::new(
                std::time::Duration::from_secs(config.dedup_window_secs),
                config.dedup_max_ids,
            )),
            plans: Arc::new(crate::plan::Plans::default()),
            failed: None,
            issued: Arc::default(),
            failed_auth: Arc::new(leadstream_platform::auth::FailedAuth::new(
                leadstream_platform::config::SecurityConfig::default().failed_auth_per_minute,
            )),
            metrics: leadstream_platform::telemetry::MetricsAccess::default(),
            security: Arc::default(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    // One reference count per request for the handlers, not one for each of the state's parts.
    let state = Arc::new(state);
    let metrics = state.metrics.clone();
    // What browsers on customers' sites call: the intake routes, their settings, forms.
    let browser = Router::new()
        .route("/v1/batch", post(routes::track::batch))
        .route("/v1/import", post(routes::track::batch))
        // analytics.js (Segment's browser SDK) batches to `/b` under its API host.
        .route("/v1/b", post(routes::track::batch))
        .route(
            "/v1/projects/{write_key}/settings",
            get(routes::settings::segment_settings),
        )
        .route(
            "/sourceConfig",
            get(routes::settings::rudderstack_source_config),
        )
        .route(
            "/sourceConfig/",
            get(routes::settings::rudderstack_source_config),
        )
        .route("/v1/p.gif", get(routes::pixel::pixel))
        .route("/v1/forms/{form_id}", post(routes::forms::submit))
        .route("/v1/{call}", post(routes::track::single))
        .route("/v1/t.js", get(routes::tracker::script))
        // PostHog's capture API (posthog-js, PostHog's server SDKs), with or without the
        // trailing slash the SDKs add.
        .route("/e", post(routes::posthog::capture))
        .route("/e/", post(routes::posthog::capture))
        .route("/i/v0/e", post(routes::posthog::capture))
        .route("/i/v0/e/", post(routes::posthog::capture))
        .route("/batch", post(routes::posthog::capture))
        .route("/batch/", post(routes::posthog::capture))
        .route("/capture", post(routes::posthog::capture))
        .route("/capture/", post(routes::posthog::capture))
        .route("/track", post(routes::posthog::capture))
        .route("/track/", post(routes::posthog::capture))
        .route(
            "/decide",
            get(routes::posthog::decide).post(routes::posthog::decide),
        )
        .route(
            "/decide/",
            get(routes::posthog::decide).post(routes::posthog::decide),
        )
        .route(
            "/flags",
            get(routes::posthog::decide).post(routes::posthog::decide),
        )
        .route(
            "/flags/",
            get(routes::posthog::decide).post(routes::posthog::decide),
        )
        // Any origin may send events with a write key, with whatever headers its SDK adds
        // (RudderStack's sends `AnonymousId`). Mirrored rather than `*`, which would not cover
        // `Authorization`; no credentials, so nothing to leak.
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers(AllowHeaders::mirror_request())
                .max_age(std::time::Duration::from_secs(86_400)),
        );
    // Everything else: navigations (email opens and clicks), server-to-server calls (providers'
    // webhooks, minting links with an API token) and operations. No CORS: a page elsewhere cannot
    // read their answers.
    let rest = Router::new()
        .route("/v1/o/{file}", get(routes::email::open))
        .route("/v1/c/{token}", get(routes::email::click))
        .route("/v1/webhooks/sms/{provider}", post(routes::sms::webhook))
        .route(
            "/v1/webhooks/email/{provider}",
            post(routes::email_webhooks::webhook),
        )
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready));
    // What wants a bearer token: past security.failed_auth_per_minute 401s, an address gets 429
    // here. Not on intake or webhooks: write keys are public and a provider's or an office's
    // shared address must not lose events for someone else's wrong key or signature.
    let enricher = state.enricher.clone();
    let client: leadstream_platform::http::ClientAddress = Arc::new(move |r: &Request| {
        enricher.client_ip(leadstream_platform::http::peer_address(r), r.headers())
    });
    let failed_auth = state.failed_auth.clone();
    let bearer = Router::new()
        .route("/v1/email/links", post(routes::email::mint))
        .route(
            "/metrics",
            get(move |r: axum::extract::Request| metrics.clone().serve(r)),
        )
        .layer(middleware::from_fn(move |r, n| {
            leadstream_platform::http::limit_failed_auth(failed_auth.clone(), client.clone(), r, n)
        }));
    browser
        .merge(rest)
        .merge(bearer)
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "no such route") })
        // Request ids, latency, log lines, security headers, JSON errors and the request count
        // in one layer: the collector's hot path.
        .layer(leadstream_platform::http::Front::new("ingest").counting(count_request))
        .with_state(state)
}

/// Counts requests by matched route (never the raw path) and status.
fn count_request(route: &str, status: axum::http::StatusCode) {
    metrics::REQUESTS
        .with_label_values(&[route, status.as_str()])
        .inc();
}
