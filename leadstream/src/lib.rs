//! leadstream all-in-one: the collector, the scorer and the query API in one process, sharing one
//! set of backends (embedded by default, Kafka + ClickHouse when `mode = "distributed"`).

use std::sync::Arc;

use leadstream_platform::Backends;
use leadstream_platform::telemetry::Heartbeats;
use leadstream_platform::workspaces::Registry;
use leadstream_scorer::ProfileBook;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Runs the three services until `shutdown` is cancelled or one of them fails (which cancels the
/// others). Each shuts down in its own order: the collector stops taking requests and flushes
/// the log; the scorer writes what is pending and commits its position; the query API stops.
pub async fn serve(
    backends: Arc<Backends>,
    registry: Arc<Registry>,
    collector: TcpListener,
    query: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let heartbeats = Heartbeats::default();
    let ingest_state = leadstream_ingest::server::state(&backends, registry.clone()).await?;
    let query_state =
        leadstream_query_api::server::state(&backends, registry, heartbeats.clone()).await?;
    let model = leadstream_scorer::server::model(&backends, shutdown.clone())?;
    let pipeline = leadstream_scorer::server::pipeline(
        &backends,
        Arc::new(ProfileBook::with_identity(
            backends.config().identity.rules(),
        )),
        model,
        heartbeats,
    )
    .await?;

    let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
    let token = shutdown.clone();
    tasks.spawn(async move {
        (
            "collector",
            leadstream_ingest::serve(ingest_state, collector, token).await,
        )
    });
    let token = shutdown.clone();
    tasks.spawn(async move {
        (
            "query api",
            leadstream_query_api::serve(query_state, query, token).await,
        )
    });
    let token = shutdown.clone();
    tasks.spawn(async move { ("scorer", pipeline.run(token).await) });
    if let Some(sender) = leadstream_scorer::crm::Sender::start(&backends).await? {
        let token = shutdown.clone();
        tasks.spawn(async move { ("crm sender", sender.run(token).await) });
    }

    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let (name, result) = match joined {
            Ok(done) => done,
            Err(e) => ("task", Err(anyhow::anyhow!("task panicked: {e}"))),
        };
        if let Err(e) = result {
            tracing::error!(service = name, error = %e, "service failed; shutting down the others");
            shutdown.cancel();
            first_error.get_or_insert(e.context(format!("{name} failed")));
        } else if !shutdown.is_cancelled() {
            tracing::error!(
                service = name,
                "service stopped unexpectedly; shutting down the others"
            );
            shutdown.cancel();
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
