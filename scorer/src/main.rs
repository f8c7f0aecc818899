//! `leadstream-scorer`: the scorer on its own (health and metrics on `scorer.listen`).

/// mimalloc: the collector and scorer allocate per event; glibc malloc showed up as ~20 % of a
/// profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use clap::Parser;
use leadstream_platform::Backends;
use leadstream_platform::cli::CommonArgs;
use leadstream_platform::telemetry::Heartbeats;
use leadstream_scorer::ProfileBook;
use leadstream_scorer::router::{ScorerState, router};

#[derive(Parser)]
#[command(name = "leadstream-scorer", about = "leadstream's scorer")]
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
    let model = leadstream_scorer::server::model(&backends, shutdown.clone())?;
    let pipeline = leadstream_scorer::server::pipeline(
        &backends,
        Arc::new(ProfileBook::with_identity(
            backends.config().identity.rules(),
        )),
        model,
        heartbeats.clone(),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let app = router(ScorerState {
        store: backends.store().await?,
        heartbeats,
        metrics: leadstream_platform::telemetry::MetricsAccess::new(&backends.config().security),
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
    let keeper = leadstream_platform::failed::Keeper::start(&backends).await?;
    let keeper = {
        let token = shutdown.clone();
        tokio::spawn(async move { keeper.run(token).await })
    };
    let sender = match leadstream_scorer::handoff_sender::Sender::start(&backends).await? {
        Some(sender) => {
            let token = shutdown.clone();
            Some(tokio::spawn(async move { sender.run(token).await }))
        }
        None => None,
    };
    let result = pipeline.run(shutdown.clone()).await;
    shutdown.cancel();
    http.await?;
    if let Some(sender) = sender {
        sender.await??;
    }
    keeper.await??;
    result
}
