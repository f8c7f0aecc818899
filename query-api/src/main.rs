//! `leadstream-query-api`: the query API on its own.

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
    name = "leadstream-query-api",
    version,
    about = "leadstream's query API"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (config, shutdown) = Cli::parse().common.start()?;
    let listen = config.query.listen;
    let backends = Backends::new(config);
    let (registry, created) = backends.workspaces()?;
    created.iter().for_each(|ws| ws.announce());
    let state =
        leadstream_query_api::server::state(&backends, Arc::new(registry), Default::default())
            .await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    leadstream_query_api::serve(state, listener, shutdown).await
}
