//! Reloading the model file without a restart: the file's modification time is checked every
//! few seconds; a changed file is parsed and, when valid, replaces the model the pipeline uses.
//! An invalid file is refused with its line in the log and the last good model stays in force.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use leadstream_scoring::Model;

/// Watches `path` and publishes each valid new version on the returned channel.
pub fn watch_file(
    path: PathBuf,
    initial: Arc<Model>,
    every: Duration,
    shutdown: CancellationToken,
) -> watch::Receiver<Arc<Model>> {
    let (tx, rx) = watch::channel(initial);
    let mut seen = modified(&path);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let now = modified(&path);
            if now == seen {
                continue;
            }
            seen = now;
            match Model::load_file(&path) {
                Ok(model) => {
                    tracing::info!(path = %path.display(), digest = %model.digest, "scoring model reloaded");
                    crate::metrics::MODEL_RELOADS
                        .with_label_values(&["ok"])
                        .inc();
                    if tx.send(Arc::new(model)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    crate::metrics::MODEL_RELOADS
                        .with_label_values(&["refused"])
                        .inc();
                    tracing::error!(path = %path.display(), error = %e, "scoring model refused; the last good model stays in force");
                }
            }
        }
    });
    rx
}

fn modified(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some((m.modified().ok()?, m.len())))
}
