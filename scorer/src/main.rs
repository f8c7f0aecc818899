//! `leadstream-scorer`: the scorer on its own (health and metrics on `scorer.listen`).

/// mimalloc: the collector and scorer allocate per event; glibc malloc showed up as ~20 % of a
/// profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use leadstream_platform::Backends;
use leadstream_platform::cli::CommonArgs;
use leadstream_platform::telemetry::Heartbeats;
use leadstream_scorer::router::{ScorerState, router};

#[derive(Parser)]
#[command(name = "leadstream-scorer", version, about = "leadstream's scorer")]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, shutdown) = Cli::parse().common.start()?;
    let listen = config.scorer.listen;
    let backends = Backends::new(config);
    let heartbeats = Heartbeats::default();
    let scorer =
        leadstream_scorer::server::wire(&backends, heartbeats.clone(), shutdown.clone()).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let app = router(ScorerState {
        store: backends.store().await?,
        heartbeats,
        metrics: leadstream_platform::telemetry::MetricsAccess::new(&backends.config().security),
        loaded: scorer.pipeline.loaded(),
    });
    let http_shutdown = shutdown.clone();
    let http = tokio::spawn(async move {
        leadstream_platform::serve::serve(
            listener,
            app,
            leadstream_platform::serve::ClientTimeouts::default(),
            http_shutdown,
        )
        .await
    });
    let beside: Vec<_> = scorer
        .beside
        .into_iter()
        .map(|(name, task)| (name, tokio::spawn(task)))
        .collect();
    let result = scorer.pipeline.run(shutdown.clone()).await;
    shutdown.cancel();
    http.await?;
    for (name, task) in beside {
        task.await
            .map_err(|e| anyhow::anyhow!("{name} panicked: {e}"))?
            .map_err(|e| e.context(format!("{name} failed")))?;
    }
    result
}
