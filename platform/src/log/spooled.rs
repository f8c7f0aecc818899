//! The collector's Kafka log with an on-disk spool for broker outages.
//!
//! Normally an append goes straight to Kafka and returns when the broker confirms it. When the
//! broker does not confirm within `spool.after_ms` (down, unreachable, too slow), the append's
//! messages go to the spool instead: an [`EmbeddedLog`] under `spool.dir`, fsynced before the
//! append returns, so the request can still be acknowledged without risking the events. From then
//! on every append goes to the spool (behind the spooled ones, keeping each key's order) until a
//! background task has replayed the whole spool, in order, to the broker. Then appends go direct
//! again.
//!
//! The spool is bounded by `spool.max_bytes`; when a batch does not fit, the append fails with
//! [`LogError::Full`] and the collector answers 503 with `Retry-After`, accepting nothing it
//! could lose. `check` (`/ready`) fails only then. A collector restarted with a non-empty spool
//! resumes spooling and replays it.
//!
//! Delivery is at-least-once across the switch: messages that were in flight to the broker when
//! it timed out may still arrive, and then arrive again from the spool. Events carry a
//! `messageId` for exactly this.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use prometheus::{IntCounter, IntGauge, register_int_counter, register_int_gauge};
use serde::Serialize;
use tokio::sync::{Notify, RwLock};

use super::embedded::EmbeddedLog;
use super::kafka::KafkaLog;
use super::{Delivered, EventLog, LogConsumer, LogError, LogMessage};
use crate::config::SpoolConfig;

/// The spool's consumer group: its cursor is the replay position.
const REPLAY_GROUP: &str = "replay";

static SPOOL_ACTIVE: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "leadstream_ingest_spool_active",
        "1 while appends go to the on-disk spool instead of the broker."
    )
    .expect("metric registers once")
});
static SPOOL_MESSAGES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "leadstream_ingest_spool_messages",
        "Messages in the spool waiting to be replayed to the broker."
    )
    .expect("metric registers once")
});
static SPOOL_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "leadstream_ingest_spool_bytes",
        "Key and payload bytes in the spool waiting to be replayed."
    )
    .expect("metric registers once")
});
static SPOOL_REPLAYED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "leadstream_ingest_spool_replayed_total",
        "Spooled messages the broker has confirmed."
    )
    .expect("metric registers once")
});

/// What `/ready` and operators see of the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SpoolStatus {
    /// Appends are going to the spool.
    pub active: bool,
    pub messages: u64,
    pub bytes: u64,
    pub capacity_bytes: u64,
}

struct Inner {
    primary: KafkaLog,
    spool: EmbeddedLog,
    spooling: AtomicBool,
    /// Spool writers hold it shared; the replayer holds it exclusively to switch back to direct
    /// appends, so no append can land in the spool after it was found empty.
    gate: RwLock<()>,
    messages: AtomicU64,
    bytes: AtomicU64,
    max_bytes: u64,
    /// An append found no room; cleared when a replay frees some.
    full: AtomicBool,
    after: Duration,
    replay_batch: usize,
    wake: Arc<Notify>,
}

/// The Kafka log with its spool. Cheap to clone.
#[derive(Clone)]
pub struct SpooledLog {
    inner: Arc<Inner>,
}

fn message_bytes(messages: &[LogMessage]) -> u64 {
    messages
        .iter()
        .map(|m| (m.key.len() + m.payload.len()) as u64)
        .sum()
}

impl SpooledLog {
    /// Opens the spool under `dir` and starts the replayer (which ends when the log is dropped).
    /// A spool left non-empty by an earlier process starts out active.
    pub fn open(
        primary: KafkaLog,
        dir: &Path,
        config: &SpoolConfig,
    ) -> Result<SpooledLog, LogError> {
        let spool = EmbeddedLog::open(dir)?;
        let (messages, bytes) = spool.backlog(REPLAY_GROUP)?;
        if messages > 0 {
            tracing::warn!(
                messages,
                bytes,
                dir = %dir.display(),
                "the spool holds events from an earlier run; replaying them before new ones"
            );
        }
        let inner = Arc::new(Inner {
            primary,
            spool,
            spooling: AtomicBool::new(messages > 0),
            gate: RwLock::new(()),
            messages: AtomicU64::new(messages),
            bytes: AtomicU64::new(bytes),
            max_bytes: config.max_bytes,
            full: AtomicBool::new(false),
            after: Duration::from_millis(config.after_ms),
            replay_batch: config.replay_batch.max(1),
            wake: Arc::new(Notify::new()),
        });
        inner.publish();
        tokio::spawn(replay_loop(Arc::downgrade(&inner)));
        Ok(SpooledLog { inner })
    }

    pub fn status(&self) -> SpoolStatus {
        self.inner.status()
    }
}

impl Inner {
    fn status(&self) -> SpoolStatus {
        SpoolStatus {
            active: self.spooling.load(Ordering::Acquire),
            messages: self.messages.load(Ordering::Acquire),
            bytes: self.bytes.load(Ordering::Acquire),
            capacity_bytes: self.max_bytes,
        }
    }

    fn publish(&self) {
        let s = self.status();
        SPOOL_ACTIVE.set(i64::from(s.active));
        SPOOL_MESSAGES.set(i64::try_from(s.messages).unwrap_or(i64::MAX));
        SPOOL_BYTES.set(i64::try_from(s.bytes).unwrap_or(i64::MAX));
    }

    /// Writes `messages` to the spool (fsynced) if they fit.
    async fn to_spool(&self, messages: Vec<LogMessage>) -> Result<(), LogError> {
        let size = message_bytes(&messages);
        let count = messages.len() as u64;
        let _shared = self.gate.read().await;
        if !self.spooling.swap(true, Ordering::AcqRel) {
            tracing::warn!("the broker is not confirming writes; spooling events to disk");
        }
        let before = self.bytes.fetch_add(size, Ordering::AcqRel);
        if before + size > self.max_bytes {
            self.bytes.fetch_sub(size, Ordering::AcqRel);
            self.full.store(true, Ordering::Release);
            self.wake.notify_one();
            return Err(LogError::Full(format!(
                "the spool is full ({before} of {} bytes) while the broker is unreachable",
                self.max_bytes
            )));
        }
        match self.spool.append(messages).await {
            Ok(()) => {
                self.messages.fetch_add(count, Ordering::AcqRel);
                self.publish();
                self.wake.notify_one();
                Ok(())
            }
            Err(e) => {
                self.bytes.fetch_sub(size, Ordering::AcqRel);
                Err(e)
            }
        }
    }
}

#[async_trait]
impl EventLog for SpooledLog {
    async fn append(&self, messages: Vec<LogMessage>) -> Result<(), LogError> {
        let inner = &self.inner;
        if messages.is_empty() {
            return Ok(());
        }
        if inner.spooling.load(Ordering::Acquire) {
            return inner.to_spool(messages).await;
        }
        match inner
            .primary
            .append_within(&messages, Some(inner.after))
            .await
        {
            Ok(()) => Ok(()),
            Err(LogError::Unavailable(reason)) => {
                tracing::warn!(%reason, count = messages.len(), "direct append failed; spooling");
                inner.to_spool(messages).await
            }
            Err(other) => Err(other),
        }
    }

    /// Ready while an append can be accepted: straight to the broker, or into a spool with room.
    async fn check(&self) -> Result<(), LogError> {
        let s = self.inner.status();
        if self.inner.full.load(Ordering::Acquire) {
            return Err(LogError::Full(format!(
                "the spool is full ({} bytes) while the broker is unreachable",
                s.bytes
            )));
        }
        if s.active {
            return Ok(());
        }
        match self.inner.primary.check().await {
            Ok(()) => Ok(()),
            Err(e) => {
                // Appends will be spooled; the collector stays ready while the spool has room.
                tracing::warn!(error = %e, "broker check failed; appends will be spooled");
                Ok(())
            }
        }
    }

    async fn flush(&self, timeout: Duration) -> Result<(), LogError> {
        // Spooled messages are durable on disk already; only the producer's queue needs flushing.
        self.inner.primary.flush(timeout).await
    }

    fn spool(&self) -> Option<SpoolStatus> {
        Some(self.inner.status())
    }
}

/// Replays the spool to the broker in order, one batch at a time, and switches appends back to
/// direct once it is empty.
async fn replay_loop(inner: Weak<Inner>) {
    let mut backoff = Duration::from_millis(200);
    let mut consumer: Option<super::embedded::EmbeddedConsumer> = None;
    loop {
        let Some(log) = inner.upgrade() else { return };
        if !log.spooling.load(Ordering::Acquire) {
            backoff = Duration::from_millis(200);
            // Wait for the next spooled append; re-check now and then so a dropped log ends us.
            let wake = log.wake.clone();
            drop(log);
            let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
            continue;
        }
        match replay_step(&log, &mut consumer).await {
            Ok(true) => backoff = Duration::from_millis(200),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "spool replay paused");
                // The next attempt starts again from the committed replay position.
                consumer = None;
                drop(log);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// One step: replay a batch (`Ok(true)`), or find the spool empty and switch back to direct
/// appends (`Ok(false)`).
async fn replay_step(
    log: &Inner,
    consumer: &mut Option<super::embedded::EmbeddedConsumer>,
) -> Result<bool, LogError> {
    if consumer.is_none() {
        // Do not queue a batch into a producer that cannot reach the broker.
        log.primary.check().await?;
        *consumer = Some(log.spool.consumer(REPLAY_GROUP)?);
    }
    let c = consumer.as_mut().expect("set above");
    let batch: Vec<Delivered> = c.poll(log.replay_batch, Duration::ZERO).await?;
    if batch.is_empty() {
        let _exclusive = log.gate.write().await;
        // Appends that were waiting for the gate may have spooled more.
        let more = c.poll(1, Duration::ZERO).await?;
        if more.is_empty() {
            log.spooling.store(false, Ordering::Release);
            log.messages.store(0, Ordering::Release);
            log.bytes.store(0, Ordering::Release);
            log.full.store(false, Ordering::Release);
            log.publish();
            *consumer = None;
            tracing::info!("spool replayed; appending to the broker directly again");
            return Ok(false);
        }
        // Start over from the committed position to pick these up in order.
        *consumer = None;
        return Ok(true);
    }
    let messages: Vec<LogMessage> = batch
        .iter()
        .map(|d| LogMessage {
            key: String::from_utf8_lossy(d.key.as_deref().unwrap_or_default()).into_owned(),
            payload: d.payload.clone(),
        })
        .collect();
    log.primary.append_within(&messages, None).await?;
    c.commit(&batch).await?;
    log.spool.trim_committed(REPLAY_GROUP).await?;
    let size = message_bytes(&messages);
    log.messages
        .fetch_sub(messages.len() as u64, Ordering::AcqRel);
    log.bytes.fetch_sub(size, Ordering::AcqRel);
    SPOOL_REPLAYED.inc_by(messages.len() as u64);
    log.full.store(false, Ordering::Release);
    log.publish();
    Ok(true)
}
