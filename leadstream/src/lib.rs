//! leadstream all-in-one: the collector, the scorer and the query API in one process, sharing one
//! set of backends (embedded by default, Kafka + ClickHouse when `mode = "distributed"`).

pub mod admin;

use std::sync::Arc;

use leadstream_platform::Backends;
use leadstream_platform::config::ScorerCpu;
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
    let pipeline = spawn_scorer(scorer.pipeline, backends.config().scorer.cpu, token)?;
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

/// Runs the scorer on its own thread, with its own single-threaded runtime, at the CPU share
/// `cpu` sets (by default only the CPU the collector and the query API leave). The collector
/// acknowledges an event only once it is durable in the log, and the scorer reads it from there:
/// when a burst saturates the CPU, answering senders comes first and scoring lags behind and
/// catches up after (as a Kafka consumer does; `leadstream_scorer_consumer_lag_events` shows by
/// how much). With CPU to spare, the share changes nothing. Threads the scorer starts (its
/// blocking pool) inherit it; polars' shared pool is started first, at the normal priority.
fn spawn_scorer(
    pipeline: Pipeline,
    cpu: ScorerCpu,
    shutdown: CancellationToken,
) -> anyhow::Result<tokio::sync::oneshot::Receiver<anyhow::Result<()>>> {
    // Threads inherit their creator's priority: polars' shared pool (the query API's too) must not
    // be started from the scorer's threads.
    std::sync::LazyLock::force(&polars_core::runtime::THREAD_POOL);
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("scorer".into())
        .spawn(move || {
            share_cpu(cpu);
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

/// Sets the calling thread's CPU share (Linux keeps one per thread; lowering it needs no
/// privilege, and neither `SCHED_IDLE` nor `nice` 10 can be undone without one).
///
/// `Idle` is `SCHED_IDLE`, not a high `nice`: measured on two cores (`benches/RESULTS.md`),
/// `SCHED_IDLE` bought the collector 26–52 % more batch requests per second over `nice` 10,
/// `nice` 19 4 %, and a longer scheduler slice for the niced scorer (so that a waking collector
/// thread ends its slice early) 5 %. The scheduler counts a core that runs only `SCHED_IDLE`
/// threads as idle when it places a waking thread, and a waking normal thread preempts a
/// `SCHED_IDLE` one at once.
fn share_cpu(cpu: ScorerCpu) {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
    };
    let set = match cpu {
        ScorerCpu::Normal => return,
        ScorerCpu::Idle => {
            let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
            // The crate then sets `nice` to 0, which a process started niced may not do; under
            // SCHED_IDLE `nice` means nothing, so only the policy counts.
            let _ = thread_priority::set_thread_priority_and_policy(
                thread_priority::thread_native_id(),
                ThreadPriority::Min,
                idle,
            );
            match thread_priority::thread_schedule_policy() {
                Ok(policy) if policy == idle => Ok(()),
                Ok(policy) => Err(format!("the policy stayed {policy:?}")),
                Err(e) => Err(e.to_string()),
            }
        }
        // `thread-priority` maps its 0–99 scale onto nice 19…−20: 22 is nice 10.
        ScorerCpu::Lower => ThreadPriorityValue::try_from(22u8)
            .map_err(|e| e.to_string())
            .and_then(|v| {
                thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(v))
                    .map_err(|e| e.to_string())
            }),
    };
    if let Err(e) = set {
        tracing::warn!(error = %e, ?cpu, "could not lower the scorer's CPU share; it shares the CPU equally with the collector");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The calling thread's scheduling policy and nice value.
    fn policy_and_nice() -> (String, String) {
        leadstream_platform::testing::policy_and_nice(std::path::Path::new(
            "/proc/thread-self/stat",
        ))
    }

    fn on_a_thread(cpu: ScorerCpu) -> ((String, String), (String, String)) {
        std::thread::spawn(move || {
            share_cpu(cpu);
            let own = policy_and_nice();
            // What the scorer's blocking pool gets: a thread started from the scorer's.
            let child = std::thread::spawn(policy_and_nice).join().expect("child");
            (own, child)
        })
        .join()
        .expect("thread")
    }

    #[test]
    fn the_scorer_threads_take_the_configured_cpu_share() {
        let (own, child) = on_a_thread(ScorerCpu::Idle);
        assert_eq!(own.0, "5", "SCHED_IDLE");
        assert_eq!(child.0, "5", "inherited by the threads it starts");
        let (own, child) = on_a_thread(ScorerCpu::Lower);
        assert_eq!(
            own,
            ("0".to_string(), "10".to_string()),
            "SCHED_OTHER, nice 10"
        );
        assert_eq!(child, own);
        // Normal leaves a thread as it was started (as this test's threads run).
        let mine = policy_and_nice();
        assert_eq!(on_a_thread(ScorerCpu::Normal), (mine.clone(), mine));
    }
}
