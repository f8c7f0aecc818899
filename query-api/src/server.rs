//! Serving the query API until shutdown.

use std::sync::Arc;

use leadstream_platform::Backends;
use leadstream_platform::telemetry::Heartbeats;
use leadstream_platform::workspaces::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::router::{AppState, router};

pub async fn state(
    backends: &Backends,
    registry: Arc<Registry>,
    heartbeats: Heartbeats,
) -> anyhow::Result<AppState> {
    let intake = leadstream_ingest::server::replay_state(
        backends,
        registry.clone(),
        CancellationToken::new(),
    )
    .await?;
    let store = backends.store().await?;
    let tokens = Arc::new(leadstream_platform::auth::IssuedTokens::default());
    if let Err(e) = tokens.refresh(&*store, registry.names()).await {
        tracing::warn!(error = %e, "issued API tokens not read at start; retrying");
    }
    let security = &backends.config().security;
    Ok(AppState {
        failed: backends.failed_events().await?,
        segment_limits: backends.config().query.segment_limits(),
        intake,
        registry,
        store,
        log: backends.plain_log().await?,
        crm: Arc::new(backends.config().crm.clone()),
        webhook_client: leadstream_platform::webhook::client(),
        heartbeats,
        tokens,
        failed_auth: Arc::new(leadstream_platform::auth::FailedAuth::new(
            security.failed_auth_per_minute,
        )),
        metrics: leadstream_platform::telemetry::MetricsAccess::new(security),
        scorer_loaded: None,
        model_file: backends.config().scorer.model.clone(),
    })
}

pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "query api listening");
    tokio::spawn(state.tokens.clone().keep_fresh(
        state.store.clone(),
        state.registry.names().to_vec(),
        shutdown.clone(),
    ));
    leadstream_platform::serve::serve(
        listener,
        router(state),
        leadstream_platform::serve::ClientTimeouts::default(),
        shutdown,
    )
    .await;
    tracing::info!("query api stopped");
    Ok(())
}
