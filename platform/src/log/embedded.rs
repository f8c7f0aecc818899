//! The embedded log: a redb database file (`<data_dir>/log/events.redb`).
//!
//! Wire protocol (on disk): table `events` maps a `u64` offset (dense, from 0) to the message
//! payload; table `keys` maps the same offset to the message key; table `cursors` maps a consumer
//! group name to the next offset it will read. Every append is one redb write transaction committed
//! with `Durability::Immediate` (fsync), so an acknowledged event survives `kill -9` and power loss.
//!
//! Appends are group-committed: a single writer thread takes every append waiting at the time into
//! one transaction, so many concurrent small requests share one fsync.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{oneshot, watch};

use super::{Delivered, EventLog, LogConsumer, LogError, LogMessage};

const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const KEYS: TableDefinition<u64, &str> = TableDefinition::new("keys");
const CURSORS: TableDefinition<&str, u64> = TableDefinition::new("cursors");

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(e.to_string())
}

struct AppendRequest {
    messages: Vec<LogMessage>,
    done: oneshot::Sender<Result<(), LogError>>,
}

/// The writer thread; dropping the last handle closes its queue and waits for it, so that the
/// database file is released when the log is.
struct Writer {
    queue: Option<tokio::sync::mpsc::Sender<AppendRequest>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The embedded log. Cheap to clone; one per data directory per process.
#[derive(Clone)]
pub struct EmbeddedLog {
    db: Arc<Database>,
    writer: Arc<Writer>,
    /// The next offset to be written, published after each commit.
    head: watch::Receiver<u64>,
    path: PathBuf,
}

impl EmbeddedLog {
    /// Opens (or creates) the log under `dir`.
    pub fn open(dir: &Path) -> Result<EmbeddedLog, LogError> {
        std::fs::create_dir_all(dir).map_err(unavailable)?;
        let path = dir.join("events.redb");
        let db = Arc::new(Database::create(&path).map_err(unavailable)?);
        {
            let txn = db.begin_write().map_err(unavailable)?;
            txn.open_table(EVENTS).map_err(unavailable)?;
            txn.open_table(KEYS).map_err(unavailable)?;
            txn.open_table(CURSORS).map_err(unavailable)?;
            txn.commit().map_err(unavailable)?;
        }
        let next = Self::read_head(&db)?;
        let (head_tx, head) = watch::channel(next);
        // Bounded: appends wait (asynchronously) while the writer is 1024 requests behind.
        let (queue, requests) = tokio::sync::mpsc::channel::<AppendRequest>(1024);
        let writer_db = db.clone();
        let thread = std::thread::Builder::new()
            .name("embedded-log-writer".into())
            .spawn(move || writer_loop(writer_db, requests, head_tx, next))
            .map_err(unavailable)?;
        let writer = Arc::new(Writer {
            queue: Some(queue),
            thread: Some(thread),
        });
        Ok(EmbeddedLog {
            db,
            writer,
            head,
            path,
        })
    }

    /// The next offset to write: after the last message, and never behind a cursor (a trimmed log
    /// may hold no message at all).
    fn read_head(db: &Database) -> Result<u64, LogError> {
        let txn = db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(EVENTS).map_err(unavailable)?;
        let after_last = table
            .last()
            .map_err(unavailable)?
            .map(|(k, _)| k.value() + 1)
            .unwrap_or(0);
        let cursors = txn.open_table(CURSORS).map_err(unavailable)?;
        let mut head = after_last;
        for entry in cursors.iter().map_err(unavailable)? {
            let (_, v) = entry.map_err(unavailable)?;
            head = head.max(v.value());
        }
        Ok(head)
    }

    /// Deletes every message before `group`'s committed cursor (the spool forgets what it has
    /// replayed). Returns how many messages were deleted.
    pub async fn trim_committed(&self, group: &str) -> Result<u64, LogError> {
        let (db, group) = (self.db.clone(), group.to_string());
        tokio::task::spawn_blocking(move || -> Result<u64, LogError> {
            let txn = db.begin_write().map_err(unavailable)?;
            let mut deleted = 0;
            {
                let cursors = txn.open_table(CURSORS).map_err(unavailable)?;
                let before = cursors
                    .get(group.as_str())
                    .map_err(unavailable)?
                    .map(|v| v.value())
                    .unwrap_or(0);
                let mut events = txn.open_table(EVENTS).map_err(unavailable)?;
                let mut keys = txn.open_table(KEYS).map_err(unavailable)?;
                events
                    .retain_in(..before, |_, _| {
                        deleted += 1;
                        false
                    })
                    .map_err(unavailable)?;
                keys.retain_in(..before, |_, _| false)
                    .map_err(unavailable)?;
            }
            txn.commit().map_err(unavailable)?;
            Ok(deleted)
        })
        .await
        .map_err(|_| LogError::Closed)?
    }

    /// How many messages, and how many bytes of keys and payloads, lie at or after `group`'s
    /// committed cursor.
    pub fn backlog(&self, group: &str) -> Result<(u64, u64), LogError> {
        let from = self.committed(group)?;
        let txn = self.db.begin_read().map_err(unavailable)?;
        let events = txn.open_table(EVENTS).map_err(unavailable)?;
        let keys = txn.open_table(KEYS).map_err(unavailable)?;
        let (mut messages, mut bytes) = (0u64, 0u64);
        for entry in events.range(from..).map_err(unavailable)? {
            let (k, v) = entry.map_err(unavailable)?;
            let key_len = keys
                .get(k.value())
                .map_err(unavailable)?
                .map_or(0, |k| k.value().len());
            messages += 1;
            bytes += (v.value().len() + key_len) as u64;
        }
        Ok((messages, bytes))
    }

    /// The next offset to be written (= number of messages ever appended).
    pub fn head(&self) -> u64 {
        *self.head.borrow()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A consumer for `group`, resuming at its committed cursor.
    pub fn consumer(&self, group: &str) -> Result<EmbeddedConsumer, LogError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let cursors = txn.open_table(CURSORS).map_err(unavailable)?;
        let position = cursors
            .get(group)
            .map_err(unavailable)?
            .map(|v| v.value())
            .unwrap_or(0);
        Ok(EmbeddedConsumer {
            db: self.db.clone(),
            group: Some(group.to_string()),
            position,
            end: None,
            head: self.head.clone(),
        })
    }

    /// A reader of the offsets `start..end` that belongs to no group and commits nothing
    /// (`leadstream replay`); [`LogConsumer::finished`] once it has handed out the last of them.
    pub fn reader(&self, start: u64, end: u64) -> EmbeddedConsumer {
        EmbeddedConsumer {
            db: self.db.clone(),
            group: None,
            position: start,
            end: Some(end.max(start)),
            head: self.head.clone(),
        }
    }

    /// The committed cursor of `group`.
    pub fn committed(&self, group: &str) -> Result<u64, LogError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let cursors = txn.open_table(CURSORS).map_err(unavailable)?;
        Ok(cursors
            .get(group)
            .map_err(unavailable)?
            .map(|v| v.value())
            .unwrap_or(0))
    }
}

fn writer_loop(
    db: Arc<Database>,
    mut requests: tokio::sync::mpsc::Receiver<AppendRequest>,
    head: watch::Sender<u64>,
    mut next: u64,
) {
    while let Some(first) = requests.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(more) = requests.try_recv() {
            batch.push(more);
        }
        let result = (|| -> Result<u64, LogError> {
            let txn = db.begin_write().map_err(unavailable)?;
            let mut offset = next;
            {
                let mut events = txn.open_table(EVENTS).map_err(unavailable)?;
                let mut keys = txn.open_table(KEYS).map_err(unavailable)?;
                for req in &batch {
                    for m in &req.messages {
                        events
                            .insert(offset, m.payload.as_slice())
                            .map_err(unavailable)?;
                        keys.insert(offset, m.key.as_str()).map_err(unavailable)?;
                        offset += 1;
                    }
                }
            }
            txn.commit().map_err(unavailable)?;
            Ok(offset)
        })();
        match result {
            Ok(offset) => {
                next = offset;
                head.send_replace(next);
                for req in batch {
                    let _ = req.done.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "embedded log append failed");
                for req in batch {
                    let _ = req.done.send(Err(LogError::Unavailable(e.to_string())));
                }
            }
        }
    }
}

#[async_trait]
impl EventLog for EmbeddedLog {
    async fn append(&self, messages: Vec<LogMessage>) -> Result<(), LogError> {
        if messages.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        let writer = self.writer.queue.as_ref().ok_or(LogError::Closed)?;
        writer
            .send(AppendRequest { messages, done })
            .await
            .map_err(|_| LogError::Closed)?;
        wait.await.map_err(|_| LogError::Closed)?
    }

    async fn check(&self) -> Result<(), LogError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.begin_read().map(|_| ()).map_err(unavailable))
            .await
            .map_err(|_| LogError::Closed)?
    }

    async fn flush(&self, _timeout: Duration) -> Result<(), LogError> {
        // Every append is durable before it returns; nothing is buffered.
        Ok(())
    }
}

/// A consumer of the embedded log with a persisted cursor.
pub struct EmbeddedConsumer {
    db: Arc<Database>,
    /// The group whose cursor commits move; none for a [`EmbeddedLog::reader`].
    group: Option<String>,
    /// Next offset to hand out (ahead of the committed cursor while a batch is in flight).
    position: u64,
    /// Where a reader stops (exclusive).
    end: Option<u64>,
    head: watch::Receiver<u64>,
}

#[async_trait]
impl LogConsumer for EmbeddedConsumer {
    async fn lag(&mut self) -> Option<i64> {
        let end = self.end.unwrap_or(*self.head.borrow());
        Some(end.saturating_sub(self.position) as i64)
    }

    fn finished(&self) -> bool {
        self.end.is_some_and(|end| self.position >= end)
    }

    /// The embedded log is one partition, this consumer's from its first poll.
    fn fixed_assignment(&self) -> Option<(Vec<i32>, i32)> {
        Some((vec![0], 1))
    }

    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivered>, LogError> {
        let mut max = max as u64;
        if let Some(end) = self.end {
            max = max.min(end.saturating_sub(self.position));
            if max == 0 {
                return Ok(Vec::new());
            }
        } else if *self.head.borrow() <= self.position {
            let position = self.position;
            let _ = tokio::time::timeout(wait, self.head.wait_for(|h| *h > position)).await;
        }
        let (db, from) = (self.db.clone(), self.position);
        let out = tokio::task::spawn_blocking(move || -> Result<Vec<Delivered>, LogError> {
            let txn = db.begin_read().map_err(unavailable)?;
            let events = txn.open_table(EVENTS).map_err(unavailable)?;
            let keys = txn.open_table(KEYS).map_err(unavailable)?;
            let mut out = Vec::new();
            for entry in events
                .range(from..from.saturating_add(max))
                .map_err(unavailable)?
            {
                let (k, v) = entry.map_err(unavailable)?;
                let offset = k.value();
                let key = keys
                    .get(offset)
                    .map_err(unavailable)?
                    .map(|k| k.value().as_bytes().to_vec());
                out.push(Delivered {
                    partition: 0,
                    offset: offset as i64,
                    key,
                    payload: v.value().to_vec(),
                });
            }
            Ok(out)
        })
        .await
        .map_err(|_| LogError::Closed)??;
        match (out.last(), self.end) {
            (Some(last), _) => self.position = last.offset as u64 + 1,
            // Nothing left before the end (a trimmed stretch): done.
            (None, Some(end)) => self.position = end,
            (None, None) => {}
        }
        Ok(out)
    }

    async fn commit(&mut self, delivered: &[Delivered]) -> Result<(), LogError> {
        let Some(next) = super::next_positions(delivered)
            .into_iter()
            .find(|(p, _)| *p == 0)
            .map(|(_, o)| o as u64)
        else {
            return Ok(());
        };
        let Some(group) = self.group.clone() else {
            return Ok(());
        };
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || -> Result<(), LogError> {
            let txn = db.begin_write().map_err(unavailable)?;
            {
                let mut cursors = txn.open_table(CURSORS).map_err(unavailable)?;
                let current = cursors
                    .get(group.as_str())
                    .map_err(unavailable)?
                    .map(|v| v.value())
                    .unwrap_or(0);
                if next > current {
                    cursors.insert(group.as_str(), next).map_err(unavailable)?;
                }
            }
            txn.commit().map_err(unavailable)
        })
        .await
        .map_err(|_| LogError::Closed)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: usize) -> LogMessage {
        LogMessage {
            key: format!("w/p{}", i % 3),
            payload: format!("event-{i}").into_bytes(),
        }
    }

    #[tokio::test]
    async fn appends_are_read_back_in_order_and_cursor_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let log = EmbeddedLog::open(dir.path()).expect("open");
            let appends: Vec<_> = (0..10)
                .map(|i| log.append(vec![msg(2 * i), msg(2 * i + 1)]))
                .collect();
            for r in futures::future::join_all(appends).await {
                r.expect("append");
            }
            assert_eq!(log.head(), 20);
            let mut c = log.consumer("scorer").expect("consumer");
            assert_eq!(c.lag().await, Some(20));
            let got = c.poll(5, Duration::from_millis(10)).await.expect("poll");
            assert_eq!(got.len(), 5);
            assert_eq!(got[0].offset, 0);
            assert_eq!(c.lag().await, Some(15));
            c.commit(&got).await.expect("commit");
            // Uncommitted reads are handed out again after a restart.
            let _ = c.poll(5, Duration::from_millis(10)).await.expect("poll");
        }
        // Dropping the log and its consumers released the file.
        let log = EmbeddedLog::open(dir.path()).expect("reopen");
        assert_eq!(log.head(), 20);
        assert_eq!(log.committed("scorer").expect("committed"), 5);
        let mut c = log.consumer("scorer").expect("consumer");
        let got = c.poll(100, Duration::from_millis(10)).await.expect("poll");
        assert_eq!(got.len(), 15);
        assert_eq!(got[0].offset, 5);
        assert_eq!(
            got.iter().map(|d| d.offset).collect::<Vec<_>>(),
            (5..20).collect::<Vec<_>>()
        );

        // Concurrent appends land in any order, but each append's messages stay together and in
        // order, with their keys.
        let all = log
            .consumer("everything")
            .expect("consumer")
            .poll(100, Duration::from_millis(10))
            .await
            .expect("poll");
        let seq: Vec<usize> = all
            .iter()
            .map(|d| {
                let i: usize = String::from_utf8_lossy(&d.payload)
                    .trim_start_matches("event-")
                    .parse()
                    .expect("n");
                assert_eq!(d.key.as_deref(), Some(format!("w/p{}", i % 3).as_bytes()));
                i
            })
            .collect();
        for pair in seq.chunks(2) {
            assert_eq!(pair[0] % 2, 0, "{seq:?}");
            assert_eq!(pair[1], pair[0] + 1, "{seq:?}");
        }
        let mut sorted = seq.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn trimming_forgets_what_a_group_committed_and_offsets_keep_growing() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let log = EmbeddedLog::open(dir.path()).expect("open");
            log.append((0..4).map(msg).collect()).await.expect("append");
            let mut c = log.consumer("replay").expect("consumer");
            let got = c.poll(10, Duration::from_millis(10)).await.expect("poll");
            c.commit(&got).await.expect("commit");
            assert_eq!(log.trim_committed("replay").await.expect("trim"), 4);
            assert_eq!(log.backlog("replay").expect("backlog"), (0, 0));
        }
        // Empty after the trim, the log still continues after the cursor, not from 0.
        let log = EmbeddedLog::open(dir.path()).expect("reopen");
        assert_eq!(log.head(), 4);
        log.append(vec![msg(4)]).await.expect("append");
        assert_eq!(log.backlog("replay").expect("backlog"), (1, 7 + 4));
        let mut c = log.consumer("replay").expect("consumer");
        let got = c.poll(10, Duration::from_millis(10)).await.expect("poll");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].offset, 4);
    }

    #[tokio::test]
    async fn poll_waits_for_new_appends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = EmbeddedLog::open(dir.path()).expect("open");
        let mut c = log.consumer("g").expect("consumer");
        let writer = log.clone();
        let handle = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer.append(vec![msg(0)]).await
        });
        let got = c.poll(10, Duration::from_secs(5)).await.expect("poll");
        assert_eq!(got.len(), 1);
        handle.await.expect("join").expect("append");
    }
}
