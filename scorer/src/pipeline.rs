//! The scorer's loop: poll the log → apply each event to its profile → write the events and the
//! changed profiles to the store → commit the log position. A position is committed only after
//! the store write that covers it, so a crash at any point replays from the last commit and loses
//! nothing (replayed events are counted again until deduplication by `messageId` arrives).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leadstream_platform::config::ScorerConfig;
use leadstream_platform::log::{Delivered, LogConsumer};
use leadstream_platform::store::{EventRow, ProfileRow, Store};
use leadstream_platform::telemetry::Heartbeats;
use leadstream_schemas::LogRecord;
use tokio_util::sync::CancellationToken;

use crate::metrics;
use crate::profiles::{ProfileBook, ProfileKey};
use crate::scoring::Scoring;

const HEARTBEAT: &str = "scorer_pipeline";
const HEARTBEAT_DEADLINE: Duration = Duration::from_secs(60);
/// How long shutdown may spend writing what is pending.
const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Pipeline {
    consumer: Box<dyn LogConsumer>,
    store: Arc<dyn Store>,
    book: Arc<ProfileBook>,
    scoring: Scoring,
    config: ScorerConfig,
    heartbeats: Heartbeats,
    pending: Vec<Delivered>,
    events: Vec<EventRow>,
    dirty: HashSet<ProfileKey>,
}

impl Pipeline {
    /// Loads the stored profiles into `book` and prepares to consume.
    pub async fn start(
        consumer: Box<dyn LogConsumer>,
        store: Arc<dyn Store>,
        book: Arc<ProfileBook>,
        config: ScorerConfig,
        heartbeats: Heartbeats,
    ) -> anyhow::Result<Pipeline> {
        let stored = store.load_profiles().await?;
        tracing::info!(profiles = stored.len(), "loaded stored profiles");
        book.load(stored);
        metrics::PROFILES_IN_MEMORY.set(book.len() as i64);
        Ok(Pipeline {
            consumer,
            store,
            book,
            scoring: Scoring::new(config.mql_threshold),
            config,
            heartbeats,
            pending: Vec::new(),
            events: Vec::new(),
            dirty: HashSet::new(),
        })
    }

    /// Runs until `shutdown`, then writes what is pending and commits it.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let interval = Duration::from_millis(self.config.flush_interval_ms);
        let mut last_flush = Instant::now();
        let mut poll_backoff = Duration::from_millis(100);
        loop {
            self.heartbeats.beat(HEARTBEAT, HEARTBEAT_DEADLINE);
            let wait = interval.min(Duration::from_millis(250));
            let polled = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = self.consumer.poll(self.config.flush_max_events, wait) => r,
            };
            match polled {
                Ok(batch) => {
                    poll_backoff = Duration::from_millis(100);
                    self.apply(batch);
                }
                Err(e) => {
                    metrics::ERRORS.with_label_values(&["poll"]).inc();
                    tracing::warn!(error = %e, "polling the log failed; backing off");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(poll_backoff) => {}
                    }
                    poll_backoff = (poll_backoff * 2).min(Duration::from_secs(5));
                }
            }
            let due = last_flush.elapsed() >= interval
                || self.events.len() >= self.config.flush_max_events;
            if due && !self.pending.is_empty() {
                self.flush(&shutdown, None).await?;
                last_flush = Instant::now();
            }
        }
        tracing::info!(
            pending = self.pending.len(),
            "scorer stopping; writing what is pending"
        );
        if !self.pending.is_empty() {
            self.flush(&shutdown, Some(SHUTDOWN_FLUSH_TIMEOUT)).await?;
        }
        self.heartbeats.retire(HEARTBEAT);
        Ok(())
    }

    fn apply(&mut self, batch: Vec<Delivered>) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        for d in &batch {
            let record = match LogRecord::decode(&d.payload) {
                Ok(r) => r,
                Err(e) => {
                    metrics::DECODE_ERRORS.inc();
                    tracing::warn!(partition = d.partition, offset = d.offset, error = %e, "undecodable log message skipped");
                    continue;
                }
            };
            if let Some(key) = self.book.apply(&record, &self.scoring, now_ms) {
                self.events.push(EventRow::from_record(&record, &key.1));
                self.dirty.insert(key);
                metrics::EVENTS.inc();
            }
        }
        self.pending.extend(batch);
        metrics::PROFILES_IN_MEMORY.set(self.book.len() as i64);
    }

    /// Writes pending events and changed profiles, retrying while the store is unavailable, then
    /// commits the log position. With `deadline` (shutdown) it gives up after that long, leaving
    /// the position uncommitted so that the next start replays it.
    async fn flush(
        &mut self,
        shutdown: &CancellationToken,
        deadline: Option<Duration>,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let profiles: Vec<ProfileRow> = self
            .book
            .snapshot(&self.dirty)
            .iter()
            .map(ProfileRow::from)
            .collect();
        let mut backoff = Duration::from_millis(100);
        loop {
            self.heartbeats.beat(HEARTBEAT, HEARTBEAT_DEADLINE);
            match self
                .store
                .write(self.events.clone(), profiles.clone())
                .await
            {
                Ok(()) => break,
                Err(e) => {
                    metrics::ERRORS.with_label_values(&["store"]).inc();
                    tracing::warn!(error = %e, retryable = e.is_retryable(), "writing to the store failed; retrying");
                    if deadline.is_some_and(|d| started.elapsed() >= d) {
                        anyhow::bail!(
                            "store unavailable at shutdown; {} events stay uncommitted and will be replayed",
                            self.pending.len()
                        );
                    }
                    if deadline.is_none() && shutdown.is_cancelled() {
                        // Shutdown began while retrying: the final flush takes over with its deadline.
                        return Ok(());
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        metrics::FLUSH_SECONDS.observe(started.elapsed().as_secs_f64());
        if let Err(e) = self.consumer.commit(&self.pending).await {
            // The rows are written; an uncommitted position is replayed after a restart.
            metrics::ERRORS.with_label_values(&["commit"]).inc();
            tracing::warn!(error = %e, "committing the log position failed");
        }
        tracing::debug!(
            events = self.events.len(),
            profiles = profiles.len(),
            "flushed"
        );
        self.pending.clear();
        self.events.clear();
        self.dirty.clear();
        Ok(())
    }
}
