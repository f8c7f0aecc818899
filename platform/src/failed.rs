//! Where failed events (what the collector refused) are kept, in both modes.
//!
//! - Embedded: one redb file, `<data_dir>/failed-events/failed.redb`, written by the collector
//!   itself (each refusal committed, fsynced, before the collector answers) and read by the query
//!   API in the same process.
//! - Distributed: the collector produces each refusal to a Kafka topic
//!   (`ingest.failed_events_topic`, keyed by workspace) before it answers; the scorer service
//!   consumes that topic into ClickHouse's `failed_events` table, which the query API reads.
//!
//! Both keep a failed event for `ingest.failed_events_retention_days` (a purge runs hourly).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use leadstream_schemas::{FailedEvent, FailedFilter};
use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::log::{EventLog, LogError, LogMessage};
use crate::store::StoreError;
use crate::store::clickhouse::{ClickhouseStore, classify};

/// Where the collector writes what it refused.
#[async_trait]
pub trait FailedSink: Send + Sync + 'static {
    /// Keeps `events`, durably, before returning.
    async fn record(&self, events: Vec<FailedEvent>) -> Result<(), LogError>;
}

/// Where failed events are read, annotated with their replays, and purged.
#[async_trait]
pub trait FailedEvents: Send + Sync + 'static {
    /// Adds or replaces (by workspace and id) these failed events.
    async fn put(&self, events: &[FailedEvent]) -> Result<(), StoreError>;
    /// A workspace's failed events passing `filter`, newest first, at most `limit`.
    async fn list(
        &self,
        workspace: &str,
        filter: &FailedFilter,
        limit: usize,
    ) -> Result<Vec<FailedEvent>, StoreError>;
    /// Forgets every failed event received before `before_ms`; how many (when known).
    async fn purge(&self, before_ms: i64) -> Result<u64, StoreError>;
}

/// A log (a Kafka topic) as the collector's sink: one message per failed event, keyed by workspace.
pub struct LogSink(pub Arc<dyn EventLog>);

#[async_trait]
impl FailedSink for LogSink {
    async fn record(&self, events: Vec<FailedEvent>) -> Result<(), LogError> {
        let messages = events
            .iter()
            .map(|e| LogMessage {
                key: e.workspace.clone(),
                payload: e.encode(),
            })
            .collect();
        self.0.append(messages).await
    }
}

/// Key: (workspace, id). Ids are UUID v7 text, so a workspace's failed events are in time order.
const FAILED: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("failed_events");

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The embedded keeper of failed events: sink and reader in one file.
#[derive(Clone)]
pub struct EmbeddedFailed {
    db: Arc<Database>,
}

impl EmbeddedFailed {
    pub fn open(dir: &Path) -> Result<EmbeddedFailed, StoreError> {
        std::fs::create_dir_all(dir).map_err(unavailable)?;
        let db = Database::create(dir.join("failed.redb")).map_err(unavailable)?;
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(FAILED).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        Ok(EmbeddedFailed { db: Arc::new(db) })
    }

    fn put_blocking(&self, events: &[FailedEvent]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(unavailable)?;
        {
            let mut table = txn.open_table(FAILED).map_err(unavailable)?;
            for e in events {
                table
                    .insert((e.workspace.as_str(), e.id.as_str()), e.encode().as_slice())
                    .map_err(unavailable)?;
            }
        }
        // redb's default durability: the commit is on disk when it returns.
        txn.commit().map_err(unavailable)
    }
}

#[async_trait]
impl FailedSink for EmbeddedFailed {
    async fn record(&self, events: Vec<FailedEvent>) -> Result<(), LogError> {
        self.put(&events)
            .await
            .map_err(|e| LogError::Unavailable(e.to_string()))
    }
}

#[async_trait]
impl FailedEvents for EmbeddedFailed {
    async fn put(&self, events: &[FailedEvent]) -> Result<(), StoreError> {
        let (this, events) = (self.clone(), events.to_vec());
        tokio::task::spawn_blocking(move || this.put_blocking(&events))
            .await
            .map_err(unavailable)?
    }

    async fn list(
        &self,
        workspace: &str,
        filter: &FailedFilter,
        limit: usize,
    ) -> Result<Vec<FailedEvent>, StoreError> {
        let (db, workspace, filter) = (self.db.clone(), workspace.to_string(), filter.clone());
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(FAILED).map_err(unavailable)?;
            // `~` sorts after every character of a UUID's text.
            let range = table
                .range((workspace.as_str(), "")..=(workspace.as_str(), "~"))
                .map_err(unavailable)?;
            let mut out = Vec::new();
            for entry in range.rev() {
                let (_, value) = entry.map_err(unavailable)?;
                let event = FailedEvent::decode(value.value())
                    .map_err(|e| StoreError::Invalid(format!("failed event: {e}")))?;
                if filter.matches(&event) {
                    out.push(event);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(unavailable)?
    }

    async fn purge(&self, before_ms: i64) -> Result<u64, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_write().map_err(unavailable)?;
            let mut purged = 0;
            {
                let mut table = txn.open_table(FAILED).map_err(unavailable)?;
                table
                    .retain(|_, value| {
                        let keep = FailedEvent::decode(value)
                            .map(|e| e.received_at_ms >= before_ms)
                            .unwrap_or(false);
                        purged += u64::from(!keep);
                        keep
                    })
                    .map_err(unavailable)?;
            }
            txn.commit().map_err(unavailable)?;
            Ok(purged)
        })
        .await
        .map_err(unavailable)?
    }
}

/// One row of ClickHouse's `failed_events` (`ReplacingMergeTree(version)`: a replay writes the
/// event again with a higher version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct FailedEventRow {
    pub workspace: String,
    pub id: String,
    pub received_ms: i64,
    pub endpoint: String,
    pub code: String,
    pub field: String,
    pub problem: String,
    pub event_name: String,
    pub message_id: String,
    pub sent_at: String,
    pub public_key: u8,
    pub ip: String,
    pub user_agent: String,
    pub payload: String,
    pub replayed_ms: i64,
    pub replay_outcome: String,
    pub version: u64,
}

impl From<&FailedEvent> for FailedEventRow {
    fn from(e: &FailedEvent) -> Self {
        FailedEventRow {
            workspace: e.workspace.clone(),
            id: e.id.clone(),
            received_ms: e.received_at_ms,
            endpoint: e.endpoint.clone(),
            code: e.code.clone(),
            field: e.field.clone().unwrap_or_default(),
            problem: e.problem.clone(),
            event_name: e.event_name.clone().unwrap_or_default(),
            message_id: e.message_id.clone(),
            sent_at: e.sent_at.clone().unwrap_or_default(),
            public_key: u8::from(e.public_key),
            ip: e.ip.clone().unwrap_or_default(),
            user_agent: e.user_agent.clone().unwrap_or_default(),
            payload: e.payload.clone(),
            replayed_ms: e.replayed_at_ms.unwrap_or(0),
            replay_outcome: e.replay_outcome.clone().unwrap_or_default(),
            // Later replays win: each write of the same event carries a later version.
            version: u64::try_from(e.replayed_at_ms.unwrap_or(0)).unwrap_or(0),
        }
    }
}

impl From<FailedEventRow> for FailedEvent {
    fn from(r: FailedEventRow) -> Self {
        let some = |s: String| (!s.is_empty()).then_some(s);
        FailedEvent {
            workspace: r.workspace,
            id: r.id,
            received_at_ms: r.received_ms,
            endpoint: r.endpoint,
            code: r.code,
            field: some(r.field),
            problem: r.problem,
            event_name: some(r.event_name),
            message_id: r.message_id,
            sent_at: some(r.sent_at),
            public_key: r.public_key != 0,
            ip: some(r.ip),
            user_agent: some(r.user_agent),
            payload: r.payload,
            replayed_at_ms: (r.replayed_ms > 0).then_some(r.replayed_ms),
            replay_outcome: some(r.replay_outcome),
        }
    }
}

/// Most rows one listing reads from ClickHouse before filtering what SQL did not.
const LIST_SCAN_LIMIT: usize = 100_000;

#[async_trait]
impl FailedEvents for ClickhouseStore {
    async fn put(&self, events: &[FailedEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut insert = self
            .client()
            .insert::<FailedEventRow>("failed_events")
            .await
            .map_err(classify)?;
        for e in events {
            insert
                .write(&FailedEventRow::from(e))
                .await
                .map_err(classify)?;
        }
        insert.end().await.map_err(classify)
    }

    async fn list(
        &self,
        workspace: &str,
        filter: &FailedFilter,
        limit: usize,
    ) -> Result<Vec<FailedEvent>, StoreError> {
        // The selective parts in SQL; ids and the replay state (which FINAL decides) after.
        let mut sql = String::from("SELECT ?fields FROM failed_events FINAL WHERE workspace = ?");
        if filter.code.is_some() {
            sql.push_str(" AND code = ?");
        }
        if filter.event.is_some() {
            sql.push_str(" AND event_name = ?");
        }
        if filter.from_ms.is_some() {
            sql.push_str(" AND received_ms >= ?");
        }
        if filter.to_ms.is_some() {
            sql.push_str(" AND received_ms < ?");
        }
        sql.push_str(" ORDER BY received_ms DESC, id DESC LIMIT ?");
        let mut query = self.client().query(&sql).bind(workspace);
        if let Some(c) = &filter.code {
            query = query.bind(c.as_str());
        }
        if let Some(n) = &filter.event {
            query = query.bind(n.as_str());
        }
        if let Some(t) = filter.from_ms {
            query = query.bind(t);
        }
        if let Some(t) = filter.to_ms {
            query = query.bind(t);
        }
        let scan = if filter.ids.is_empty() && !filter.pending_only {
            limit
        } else {
            LIST_SCAN_LIMIT
        };
        let rows = query
            .bind(scan as u64)
            .fetch_all::<FailedEventRow>()
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(FailedEvent::from)
            .filter(|e| filter.matches(e))
            .take(limit)
            .collect())
    }

    async fn purge(&self, before_ms: i64) -> Result<u64, StoreError> {
        // 23.3 and later: a lightweight delete (the rows are masked at once, dropped at the next
        // merge); before, a mutation that rewrites the parts in the background.
        let statement = if self.features().lightweight_delete() {
            "DELETE FROM failed_events WHERE received_ms < ?"
        } else {
            "ALTER TABLE failed_events DELETE WHERE received_ms < ?"
        };
        self.client()
            .query(statement)
            .bind(before_ms)
            .execute()
            .await
            .map_err(classify)?;
        Ok(0)
    }
}

/// Keeps failed events: distributed, moves them from their topic into ClickHouse (committing the
/// topic's position only after the insert); both modes, purges those past retention hourly.
pub struct Keeper {
    consumer: Option<Box<dyn crate::log::LogConsumer>>,
    store: Arc<dyn FailedEvents>,
    retention_ms: i64,
}

impl Keeper {
    pub async fn start(backends: &crate::Backends) -> anyhow::Result<Keeper> {
        let config = backends.config();
        let consumer = match config.mode {
            crate::Mode::Embedded => None,
            crate::Mode::Distributed => {
                let group = format!("{}-failed-events", config.kafka.consumer_group);
                Some(
                    backends
                        .side_consumer(crate::backends::SideLog::FailedEvents, &group)
                        .await?,
                )
            }
        };
        Ok(Keeper {
            consumer,
            store: backends.failed_events().await?,
            retention_ms: i64::from(config.ingest.failed_events_retention_days) * 86_400_000,
        })
    }

    pub async fn run(
        mut self,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<()> {
        use std::time::Duration;
        let mut purge = tokio::time::interval(Duration::from_secs(3600));
        loop {
            let polled = match self.consumer.as_mut() {
                Some(consumer) => tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = purge.tick() => None,
                    r = consumer.poll(500, Duration::from_millis(500)) => Some(r),
                },
                None => tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = purge.tick() => None,
                },
            };
            let Some(polled) = polled else {
                purge_old(self.store.as_ref(), self.retention_ms).await;
                continue;
            };
            let batch = match polled {
                Ok(b) if b.is_empty() => continue,
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the failed-events log failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let events: Vec<FailedEvent> = batch
                .iter()
                .filter_map(|d| match FailedEvent::decode(&d.payload) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        tracing::warn!(error = %e, offset = d.offset, "undecodable failed-event record skipped");
                        None
                    }
                })
                .collect();
            // Not committed until stored: a crash repeats the insert (the table replaces by id).
            while let Err(e) = self.store.put(&events).await {
                tracing::warn!(error = %e, "storing failed events failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            if let Some(consumer) = self.consumer.as_mut() {
                consumer.commit(&batch).await?;
            }
        }
        Ok(())
    }
}

async fn purge_old(store: &dyn FailedEvents, retention_ms: i64) {
    let before = chrono::Utc::now().timestamp_millis() - retention_ms;
    match store.purge(before).await {
        Ok(n) => tracing::debug!(purged = n, "failed events past retention purged"),
        Err(e) => tracing::warn!(error = %e, "purging failed events failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(ws: &str, id: &str, at: i64, code: &str) -> FailedEvent {
        FailedEvent {
            id: id.into(),
            workspace: ws.into(),
            received_at_ms: at,
            endpoint: "/v1/batch".into(),
            code: code.into(),
            field: Some("properties.currency".into()),
            problem: "is required".into(),
            event_name: Some("Order Completed".into()),
            message_id: format!("m-{id}"),
            sent_at: None,
            public_key: false,
            ip: None,
            user_agent: None,
            payload: "{}".into(),
            replayed_at_ms: None,
            replay_outcome: None,
        }
    }

    #[tokio::test]
    async fn embedded_keeps_lists_newest_first_replaces_and_purges() {
        let dir = tempfile::tempdir().expect("dir");
        let store = EmbeddedFailed::open(dir.path()).expect("open");
        let ids = [
            uuid::Uuid::now_v7().to_string(),
            uuid::Uuid::now_v7().to_string(),
            uuid::Uuid::now_v7().to_string(),
        ];
        store
            .record(vec![
                failed("w", &ids[0], 1_000, "tracking_plan"),
                failed("w", &ids[1], 2_000, "invalid_field"),
                failed("other", &ids[2], 3_000, "tracking_plan"),
            ])
            .await
            .expect("record");
        let all = store
            .list("w", &FailedFilter::default(), 10)
            .await
            .expect("list");
        assert_eq!(
            all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            [ids[1].as_str(), ids[0].as_str()]
        );
        let plan = FailedFilter {
            code: Some("tracking_plan".into()),
            ..FailedFilter::default()
        };
        assert_eq!(store.list("w", &plan, 10).await.expect("list").len(), 1);
        let mut replayed = all[1].clone();
        replayed.replayed_at_ms = Some(5_000);
        replayed.replay_outcome = Some("accepted".into());
        store.put(&[replayed]).await.expect("put");
        let pending = FailedFilter {
            pending_only: true,
            ..FailedFilter::default()
        };
        let left = store.list("w", &pending, 10).await.expect("list");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].id, ids[1]);
        assert_eq!(store.purge(1_500).await.expect("purge"), 1);
        assert_eq!(
            store
                .list("w", &FailedFilter::default(), 10)
                .await
                .expect("list")
                .len(),
            1
        );
        // Reopened, it still has what was committed.
        drop(store);
        let again = EmbeddedFailed::open(dir.path()).expect("reopen");
        assert_eq!(
            again
                .list("other", &FailedFilter::default(), 10)
                .await
                .expect("list")
                .len(),
            1
        );
    }
}
