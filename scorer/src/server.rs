//! Starting the scorer from the process's backends.

use std::sync::Arc;
use std::time::Duration;

use leadstream_platform::Backends;
use leadstream_platform::backends::SideLog;
use leadstream_platform::config::ScorerConfig;
use leadstream_platform::telemetry::Heartbeats;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use futures::future::BoxFuture;
use leadstream_scoring::Model;
use leadstream_scoring::profile::ProfileBook;

use crate::model_watch::watch_file;
use crate::pipeline::{Outputs, Pipeline};

/// The scoring model the config names (watched for changes until `shutdown`), or the one that
/// ships with leadstream. A model file with an error stops the start, naming the line.
pub fn model(
    backends: &Backends,
    shutdown: CancellationToken,
) -> anyhow::Result<watch::Receiver<Arc<Model>>> {
    let config = &backends.config().scorer;
    match &config.model {
        None => Ok(watch::channel(Arc::new(Model::default_model())).1),
        Some(path) => {
            let model = Model::load_file(path)
                .map_err(|e| anyhow::anyhow!("scorer.model {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), digest = %model.digest, "scoring model loaded");
            Ok(watch_file(
                path.clone(),
                Arc::new(model),
                Duration::from_secs(config.model_reload_secs),
                shutdown,
            ))
        }
    }
}

/// Opens the consumer, the store and the side logs, and loads the stored profiles.
pub async fn pipeline(
    backends: &Backends,
    book: Arc<ProfileBook>,
    model: watch::Receiver<Arc<Model>>,
    heartbeats: Heartbeats,
) -> anyhow::Result<Pipeline> {
    let store = backends.store().await?;
    tracing::debug!("scorer: store open");
    let consumer = backends.consumer().await?;
    tracing::debug!("scorer: consumer open");
    let outputs = Outputs {
        events: backends.plain_log().await?,
        handoffs: backends.side_log(SideLog::Handoffs).await?,
        dead_letters: backends.side_log(SideLog::DeadLetters).await?,
    };
    Pipeline::start(
        consumer,
        store,
        outputs,
        book,
        model,
        ScorerConfig {
            flush_interval_ms: Some(backends.config().flush_interval_ms()),
            ..backends.config().scorer.clone()
        },
        heartbeats,
    )
    .await
}

/// A scorer wired from the process's backends: the pipeline (its model watched, over a fresh
/// profile book with the config's identity rules) and the tasks that run beside it. Both binaries
/// (`leadstream-scorer` and the all-in-one `leadstream serve`) start their scorer with [`wire`];
/// they differ only in where they run [`Scorer::pipeline`] (the all-in-one on its own
/// low-priority thread).
pub struct Scorer {
    pub pipeline: Pipeline,
    /// Named tasks to run beside the pipeline until `shutdown`: the failed-events keeper and,
    /// when webhooks are configured, the outbound CRM hand-off sender.
    pub beside: Vec<(&'static str, BoxFuture<'static, anyhow::Result<()>>)>,
}

/// Wires a scorer; see [`Scorer`].
pub async fn wire(
    backends: &Backends,
    heartbeats: Heartbeats,
    shutdown: CancellationToken,
) -> anyhow::Result<Scorer> {
    let model = model(backends, shutdown.clone())?;
    let book = Arc::new(ProfileBook::with_identity(
        backends.config().identity.rules(),
    ));
    let pipeline = pipeline(backends, book, model, heartbeats).await?;
    let mut beside: Vec<(&'static str, BoxFuture<'static, anyhow::Result<()>>)> = Vec::new();
    let keeper = leadstream_platform::failed::Keeper::start(backends).await?;
    let token = shutdown.clone();
    beside.push((
        "failed-events keeper",
        Box::pin(async move { keeper.run(token).await }),
    ));
    if let Some(sender) = crate::handoff_sender::Sender::start(backends).await? {
        beside.push(("crm sender", Box::pin(sender.run(shutdown))));
    }
    Ok(Scorer { pipeline, beside })
}
