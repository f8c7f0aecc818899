//! Starting the scorer from the process's backends.

use std::sync::Arc;

use leadstream_platform::Backends;
use leadstream_platform::telemetry::Heartbeats;

use crate::pipeline::Pipeline;
use crate::profiles::ProfileBook;

/// Opens the consumer and the store and loads the stored profiles.
pub async fn pipeline(
    backends: &Backends,
    book: Arc<ProfileBook>,
    heartbeats: Heartbeats,
) -> anyhow::Result<Pipeline> {
    let store = backends.store().await?;
    let consumer = backends.consumer().await?;
    Pipeline::start(
        consumer,
        store,
        book,
        backends.config().scorer.clone(),
        heartbeats,
    )
    .await
}
