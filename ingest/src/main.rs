//! `leadstream-ingest`: the collector on its own.

/// mimalloc: the collector and scorer allocate per event; glibc malloc showed up as ~20 % of a
/// profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use clap::Parser;
use leadstream_platform::Backends;
use leadstream_platform::cli::CommonArgs;

#[derive(Parser)]
#[command(
    name = "leadstream-ingest",
    version,
    about = "leadstream's event collector"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, shutdown) = Cli::parse().common.start()?;
    let listen = config.ingest.listen;
    let backends = Arc::new(Backends::new(config));
    let (registry, created) = backends.workspaces()?;
    created.iter().for_each(|ws| ws.announce());
    let state = leadstream_ingest::server::state(&backends, Arc::new(registry)).await?;
    if backends.config().mode == leadstream_platform::Mode::Distributed {
        leadstream_ingest::server::keep_tokens_fresh(backends.clone(), &state, shutdown.clone());
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    leadstream_ingest::serve(state, listener, shutdown).await
}
