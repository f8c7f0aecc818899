//! The query API's routes and shared state.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, post};
use leadstream_platform::store::Store;
use leadstream_platform::telemetry::Heartbeats;
use leadstream_platform::workspaces::Registry;

use crate::routes;

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub store: Arc<dyn Store>,
    /// The events log, for the CRM's calls (recycling, won deals).
    pub log: Arc<dyn leadstream_platform::log::EventLog>,
    /// The CRM webhooks, for replaying parked calls.
    pub crm: Arc<leadstream_platform::webhook::CrmConfig>,
    pub webhook_client: leadstream_platform::webhook::crm_http::Client,
    /// Loops of this process that must report in for `/health` (the scorer's, all-in-one).
    pub heartbeats: Heartbeats,
    /// Issued API tokens (every workspace's, held in memory).
    pub tokens: Arc<leadstream_platform::auth::IssuedTokens>,
    /// Failed authentications per client address.
    pub failed_auth: Arc<leadstream_platform::auth::FailedAuth>,
    /// Who may read `/metrics`.
    pub metrics: leadstream_platform::telemetry::MetricsAccess,
    /// Failed events (what the collector refused).
    pub failed: Arc<dyn leadstream_platform::failed::FailedEvents>,
    /// The collector's intake, for replaying failed events (the all-in-one shares the
    /// collector's own: one dedup window).
    pub intake: leadstream_ingest::AppState,
    /// How large a segment may be once inlined.
    pub segment_limits: leadstream_platform::segment::SegmentLimits,
    /// In the all-in-one: the scorer's "profiles of the owned partitions loaded" flag, which
    /// `/ready` then includes (a query API on its own has no scorer: `None`).
    pub scorer_loaded: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The scorers' model file (`scorer.model`), for `GET /v1/models/live`; `None`: the
    /// shipped model.
    pub model_file: Option<std::path::PathBuf>,
}

pub fn router(state: AppState) -> Router {
    let metrics = state.metrics.clone();
    let failed_auth = state.failed_auth.clone();
    Router::new()
        .route("/v1/profiles", get(routes::profiles::lookup))
        .route("/v1/profiles/{id}", get(routes::profiles::get_profile))
        .route(
            "/v1/profiles/{id}/timeline",
            get(routes::profiles::timeline),
        )
        .route(
            "/v1/profiles/{id}/memberships",
            get(routes::profiles::memberships),
        )
        .route(
            "/v1/profiles/{id}/scores/history",
            get(routes::scores::history),
        )
        .route("/v1/profiles/{id}/scores/why", get(routes::scores::why))
        .route("/v1/profiles/{id}/handoffs", get(routes::handoffs::list))
        .route(
            "/v1/profiles/{id}/recycle",
            post(routes::crm_calls::recycle),
        )
        .route("/v1/profiles/{id}/won", post(routes::crm_calls::won))
        .route("/v1/models/what-if", post(routes::models::what_if))
        .route("/v1/overview", get(routes::overview::overview))
        .route("/v1/workspace", get(routes::workspace::info))
        .route("/v1/models/live", get(routes::models::live))
        .route("/v1/models/check", post(routes::models::check))
        .route("/v1/segments/preview", post(routes::segments::preview))
        .route(
            "/v1/segments/migration",
            post(routes::rfm::family_migration),
        )
        .route(
            "/v1/campaigns",
            get(routes::campaigns::list).post(routes::campaigns::create),
        )
        .route("/v1/campaigns/compare", get(routes::campaigns::compare))
        .route(
            "/v1/campaigns/{id}",
            get(routes::campaigns::get_campaign)
                .put(routes::campaigns::update)
                .delete(routes::campaigns::delete),
        )
        .route("/v1/campaigns/{id}/report", get(routes::campaigns::report))
        .route(
            "/v1/campaigns/{id}/responses",
            get(routes::campaigns::responses),
        )
        .route(
            "/v1/campaigns/{id}/responses/{profile_id}/lead",
            post(routes::campaigns::to_lead),
        )
        .route(
            "/v1/tokens",
            get(routes::tokens::list).post(routes::tokens::create),
        )
        .route("/v1/tokens/{id}", delete(routes::tokens::revoke))
        .route("/v1/rfm", post(routes::rfm::report))
        .route("/v1/rfm/customers", post(routes::rfm::customers))
        .route("/v1/rfm/migration", post(routes::rfm::migration))
        .route(
            "/v1/segments",
            get(routes::segments::list).post(routes::segments::create),
        )
        .route(
            "/v1/segments/{id}",
            get(routes::segments::get_segment)
                .put(routes::segments::update)
                .delete(routes::segments::delete),
        )
        .route(
            "/v1/segments/{id}/preview",
            get(routes::segments::saved_preview),
        )
        .route("/v1/segments/{id}/members", get(routes::segments::members))
        .route("/v1/segments/{id}/export", get(routes::segments::export))
        .route(
            "/v1/segments/{id}/snapshots",
            get(routes::segments::list_snapshots).post(routes::segments::take_snapshot),
        )
        .route("/v1/segments/{id}/compare", get(routes::segments::compare))
        .route(
            "/v1/lists",
            get(routes::lists::list).post(routes::lists::create),
        )
        .route("/v1/lists/combine", post(routes::lists::combine))
        .route(
            "/v1/lists/{id}",
            get(routes::lists::get_list)
                .patch(routes::lists::rename)
                .delete(routes::lists::delete),
        )
        .route(
            "/v1/lists/{id}/members",
            get(routes::lists::members).post(routes::lists::change_members),
        )
        .route(
            "/v1/lists/{id}/members/from-segment",
            post(routes::lists::add_from_segment),
        )
        .route(
            "/v1/lists/{id}/import",
            post(routes::list_import::import).layer(DefaultBodyLimit::max(
                routes::list_import::MAX_IMPORT_BYTES + 1,
            )),
        )
        .route("/v1/lists/{id}/copy", post(routes::lists::copy))
        .route("/v1/lists/{id}/export", get(routes::lists::export))
        .route("/v1/accounts", get(routes::accounts::list))
        .route("/v1/accounts/{id}", get(routes::accounts::get_account))
        .route("/v1/webhooks/deliveries", get(routes::webhooks::list))
        .route(
            "/v1/webhooks/deliveries/{id}/replay",
            post(routes::webhooks::replay),
        )
        .route("/v1/failed-events", get(routes::failed::list))
        .route("/v1/failed-events/replay", post(routes::failed::replay))
        .route("/v1/expectation-misses", get(routes::failed::misses))
        .route("/console", get(crate::console::redirect))
        .route("/console/", get(crate::console::index))
        .route("/console/assets/{name}", get(crate::console::asset))
        .route(
            "/console/session",
            post(crate::console::sign_in)
                .get(crate::console::current)
                .delete(crate::console::sign_out),
        )
        .route("/openapi.json", get(crate::openapi::serve))
        .route("/health", get(routes::health::health))
        .route("/ready", get(routes::health::ready))
        .route(
            "/metrics",
            get(move |r: axum::extract::Request| metrics.clone().serve(r)),
        )
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::from_fn(move |r, n| {
            leadstream_platform::http::limit_failed_auth(
                failed_auth.clone(),
                Arc::new(leadstream_platform::http::peer_address),
                r,
                n,
            )
        }))
        // Request ids, latency and log lines, errors in the JSON shape, and (every answer may
        // hold personal data) never cached, never sniffed or framed. Inside the compression, so
        // that a framework error is rewritten from its plain text.
        .layer(leadstream_platform::http::Front::new("query").personal())
        // JSON answers and exports gzipped for clients that ask (`Accept-Encoding: gzip`):
        // a segment's members or a list export shrink ~10×.
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}
