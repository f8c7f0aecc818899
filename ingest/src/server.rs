//! Serving the collector, and shutting down in order: stop intake (finish in-flight requests),
//! then flush the log.

use std::sync::Arc;
use std::time::Duration;

use leadstream_platform::serve::ClientTimeouts;
use leadstream_platform::{Backends, Mode};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::router::{AppState, router};

/// Builds the collector's state from the process's backends.
pub async fn state(
    backends: &Backends,
    registry: Arc<leadstream_platform::workspaces::Registry>,
) -> anyhow::Result<AppState> {
    let log = backends.log().await?;
    if let Err(e) = log.check().await {
        // Not fatal: `/ready` reports it and requests answer 503 until the log is back.
        tracing::warn!(error = %e, "event log not reachable at start");
    }
    let mut config = backends.config().ingest.clone();
    if config.email.signing_keys.is_empty() && backends.config().mode == Mode::Embedded {
        let path = backends.config().data_dir.join("email-signing-key.json");
        config
            .email
            .signing_keys
            .push(crate::email::load_or_create_key(&path)?);
    }
    if config.email.signing_keys.is_empty() {
        tracing::warn!("ingest.email.signing_keys is empty: email open and click links are off");
    }
    let mut state = AppState::new(registry, log, &config);
    state.enricher = Arc::new(
        crate::enrich::Enricher::new(&config).with_identity(backends.config().identity.rules()),
    );
    state.plans = Arc::new(crate::plan::Plans::load(&config.tracking_plans)?);
    state.failed = Some(backends.failed_sink().await?);
    let security = &backends.config().security;
    state.failed_auth = Arc::new(leadstream_platform::auth::FailedAuth::new(
        security.failed_auth_per_minute,
    ));
    state.metrics = leadstream_platform::telemetry::MetricsAccess::new(security);
    state.security = Arc::new(security.clone());
    Ok(state)
}

/// For a collector on its own: keeps its copy of the issued API tokens (which minting email
/// links accepts) fresh from the store until `shutdown`. The all-in-one shares the query API's
/// copy instead. A store that does not answer at start is retried; until then only configured
/// tokens mint.
pub fn keep_tokens_fresh(backends: Arc<Backends>, state: &AppState, shutdown: CancellationToken) {
    let issued = state.issued.clone();
    let workspaces = state.registry.names().to_vec();
    tokio::spawn(async move {
        let store = loop {
            match backends.store().await {
                Ok(s) => break s,
                Err(e) => {
                    tracing::warn!(error = %e, "store not reachable for issued API tokens; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(leadstream_platform::auth::REFRESH) => {}
                    }
                }
            }
        };
        issued.keep_fresh(store, workspaces, shutdown).await;
    });
}

/// The collector's state for replaying failed events from another service (the query API): the
/// same intake, over the log writers other than the collector use.
pub async fn replay_state(
    backends: &Backends,
    registry: Arc<leadstream_platform::workspaces::Registry>,
    shutdown: CancellationToken,
) -> anyhow::Result<AppState> {
    let config = &backends.config().ingest;
    let mut state = AppState::new(registry, backends.plain_log().await?, config);
    state.enricher = Arc::new(
        crate::enrich::Enricher::new(config).with_identity(backends.config().identity.rules()),
    );
    state.plans = Arc::new(crate::plan::Plans::load(&config.tracking_plans)?);
    state.plans.clone().watch(Duration::from_secs(2), shutdown);
    Ok(state)
}

/// Serves until `shutdown` is cancelled, then flushes the log.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let log = state.log.clone();
    state
        .plans
        .clone()
        .watch(Duration::from_secs(2), shutdown.clone());
    tracing::info!(addr = %listener.local_addr()?, "collector listening");
    let timeouts = ClientTimeouts::uniform(Duration::from_secs(state.config.client_timeout_secs));
    leadstream_platform::serve::serve(listener, router(state), timeouts, shutdown).await;
    tracing::info!("collector stopped taking requests; flushing the log");
    log.flush(Duration::from_secs(10)).await?;
    Ok(())
}
