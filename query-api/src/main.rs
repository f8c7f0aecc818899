//! `leadstream-query-api`: the query API on its own.

use std::sync::Arc;

use clap::Parser;
use leadstream_platform::Backends;
use leadstream_platform::cli::CommonArgs;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "leadstream-query-api", about = "leadstream's query API")]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Cli::parse().common.load()?;
    leadstream_platform::telemetry::init_tracing(config.log_format);
    let listen = config.query.listen;
    let backends = Backends::new(config);
    let (registry, created) = backends.workspaces()?;
    if let Some(ws) = created {
        println!(
            "created workspace `{}`\n  write key: {}\n  API token: {}",
            ws.name, ws.write_key, ws.api_token
        );
    }
    let state =
        leadstream_query_api::server::state(&backends, Arc::new(registry), Default::default())
            .await?;
    let shutdown = CancellationToken::new();
    leadstream_platform::shutdown::cancel_on_signal(shutdown.clone());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    leadstream_query_api::serve(state, listener, shutdown).await
}
