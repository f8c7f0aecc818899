//! leadstream all-in-one: the collector, the scorer and the query API in one process, sharing one
//! set of backends (embedded by default, Kafka + ClickHouse when `mode = "distributed"`).

pub mod admin;

use std::sync::Arc;

use leadstream_platform::Backends;
use leadstream_platform::telemetry::Heartbeats;
use leadstream_platform::workspaces::Registry;
use leadstream_scorer::Pipeline;
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
    let mut ingest_state = leadstream_ingest::server::state(&backends, registry.clone()).await?;
    let mut query_state =
        leadstream_query_api::server::state(&backends, registry, heartbeats.clone()).await?;
    // One copy of the issued API tokens (the query API keeps it fresh) and one count of failed
    // authentications per address, for both ports.
    ingest_state.issued = query_state.tokens.clone();
    query_state.failed_auth = ingest_state.failed_auth.clone();
    // Replays go through the collector's own intake: one dedup window for both.
    query_state.intake = ingest_state.clone();
    let scorer = leadstream_scorer::server::wire(&backends, heartbeats, shutdown.clone()).await?;
    // The process is ready only once its scorer has the profiles of the partitions it owns.
    query_state.scorer_loaded = Some(scorer.pipeline.loaded());

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
    let pipeline = spawn_scorer(scorer.pipeline, token)?;
    tasks.spawn(async move {
        let result = pipeline.await.unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "the scorer's thread ended without a result"
            ))
        });
        ("scorer", result)
    });
    for (name, task) in scorer.beside {
        tasks.spawn(async move { (name, task.await) });
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

/// Runs the scorer on its own thread, with its own single-threaded runtime, at a lower CPU
/// priority than the collector and the query API. The collector acknowledges an event only once
/// it is durable in the log, and the scorer reads it from there: when a burst saturates the
/// CPU, answering senders comes first and scoring lags behind and catches up after (as a Kafka
/// consumer does; `leadstream_consumer_lag` shows by how much). With CPU to spare, priority
/// changes nothing. Threads the scorer starts (its blocking pool) inherit the priority; polars'
/// shared pool is started first, at normal priority.
fn spawn_scorer(
    pipeline: Pipeline,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::sync::oneshot::Receiver<anyhow::Result<()>>> {
    // Threads inherit their creator's priority: polars' shared pool (the query API's too) must not
    // be started from the scorer's threads.
    std::sync::LazyLock::force(&polars_core::runtime::THREAD_POOL);
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("scorer".into())
        .spawn(move || {
            lower_this_threads_priority();
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name("scorer-blocking")
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(pipeline.run(shutdown)));
            let _ = done.send(outcome);
        })?;
    Ok(result)
}

/// Lowers the calling thread's priority to `nice` 10 (Linux keeps one per thread; raising it needs
/// no privilege). `thread-priority` maps its 0–99 scale onto nice 19…−20: 22 is nice 10.
fn lower_this_threads_priority() {
    let lower = thread_priority::ThreadPriorityValue::try_from(22u8)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            thread_priority::set_current_thread_priority(
                thread_priority::ThreadPriority::Crossplatform(v),
            )
            .map_err(|e| e.to_string())
        });
    if let Err(e) = lower {
        tracing::warn!(error = %e, "could not lower the scorer's priority; it shares the CPU equally with the collector");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_scorer_thread_runs_at_nice_10() {
        let nice = std::thread::spawn(|| {
            super::lower_this_threads_priority();
            // Field 19 of /proc/thread-self/stat, after the parenthesised name.
            let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
            let after_name = &stat[stat.rfind(')').expect("name") + 2..];
            after_name.split(' ').nth(16).expect("nice").to_string()
        })
        .join()
        .expect("thread");
        assert_eq!(nice, "10");
    }
}
