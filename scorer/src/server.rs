//! Starting the scorer from the process's backends.

use std::sync::Arc;
use std::time::Duration;

use leadstream_platform::Backends;
use leadstream_platform::backends::SideLog;
use leadstream_platform::telemetry::Heartbeats;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::model::{Model, watch::watch_file};
use crate::pipeline::{Outputs, Pipeline};
use crate::profile::ProfileBook;

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
        backends.config().scorer.clone(),
        heartbeats,
    )
    .await
}
