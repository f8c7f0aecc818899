//! Reading the events log again, for `leadstream replay`: which stretch of each partition to read
//! ([`Plan`]), and bounded readers of it that belong to no consumer group and commit nothing.
//!
//! A replay restores the store to what the scorers had written: each partition is read from its
//! start (the beginning of what the log keeps, or the first record at or after a time) up to the
//! position the scorers' consumer group has committed, which never runs ahead of the store write
//! that covers it. What comes after that position the scorers apply themselves when they resume.
//! The stored profiles carry the position of the last record applied to them, so records the
//! store still has are skipped, and a replay can be interrupted and run again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::embedded::{EmbeddedConsumer, EmbeddedLog};
use super::kafka::classify;
use super::{Delivered, LogConsumer, LogError};
use crate::config::{KafkaConfig, KafkaRole};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The stretch of one partition a replay reads: offsets `start..end`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Span {
    pub partition: i32,
    pub start: i64,
    pub end: i64,
}

impl Span {
    pub fn len(&self) -> u64 {
        (self.end - self.start).max(0) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a replay reads, and who else is reading the log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    /// The consumer group whose committed positions end the spans.
    pub group: String,
    /// One per partition of the log.
    pub spans: Vec<Span>,
    /// Members of the group at the time (distributed; the embedded log's owner holds its file
    /// instead). A replay beside running scorers would race their writes.
    pub members: Vec<String>,
    /// Why the members could not be told, when the broker would not describe the group.
    pub members_unknown: Option<String>,
}

impl Plan {
    /// Records to read over every partition.
    pub fn total(&self) -> u64 {
        self.spans.iter().map(Span::len).sum()
    }

    pub fn partitions(&self) -> i32 {
        self.spans.len() as i32
    }
}

/// How many records a reader has handed out, shared with whoever shows progress.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    pub fn read(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// The embedded log's plan: its one partition from the beginning up to `group`'s cursor.
pub fn embedded_plan(log: &EmbeddedLog, group: &str) -> Result<Plan, LogError> {
    Ok(Plan {
        group: group.to_string(),
        spans: vec![Span {
            partition: 0,
            start: 0,
            end: log.committed(group)? as i64,
        }],
        members: Vec::new(),
        members_unknown: None,
    })
}

/// A reader of the embedded log's span.
pub fn embedded_reader(log: &EmbeddedLog, plan: &Plan) -> (Box<dyn LogConsumer>, Progress) {
    let span = plan.spans.first().cloned().unwrap_or(Span {
        partition: 0,
        start: 0,
        end: 0,
    });
    let progress = Progress::default();
    let reader = Counted {
        inner: log.reader(span.start as u64, span.end as u64),
        progress: progress.clone(),
    };
    (Box::new(reader), progress)
}

struct Counted {
    inner: EmbeddedConsumer,
    progress: Progress,
}

#[async_trait]
impl LogConsumer for Counted {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivered>, LogError> {
        let out = self.inner.poll(max, wait).await?;
        self.progress.add(out.len());
        Ok(out)
    }

    fn fixed_assignment(&self) -> Option<(Vec<i32>, i32)> {
        self.inner.fixed_assignment()
    }

    async fn commit(&mut self, _delivered: &[Delivered]) -> Result<(), LogError> {
        Ok(())
    }

    async fn lag(&mut self) -> Option<i64> {
        self.inner.lag().await
    }

    fn finished(&self) -> bool {
        self.inner.finished()
    }
}

/// The events topic's plan: every partition from its low watermark (or the first record at or
/// after `since_ms`, by the broker's timestamps) up to the scorers' committed offset; a
/// partition the group never committed has nothing to restore. Asks the broker (blocking).
pub fn kafka_plan(config: &KafkaConfig, since_ms: Option<i64>) -> Result<Plan, LogError> {
    let topic = &config.events_topic;
    let group = &config.consumer_group;
    // With the scorers' group id, to read its offsets; it never subscribes, so never joins.
    let consumer: BaseConsumer = config
        .client_config(KafkaRole::Consumer)
        .create()
        .map_err(|e| classify(&e))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(|e| classify(&e))?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len() as i32)
        .filter(|&n| n > 0)
        .ok_or_else(|| LogError::Rejected(format!("the topic {topic} does not exist")))?;
    let (members, members_unknown) = match consumer.fetch_group_list(Some(group), TIMEOUT) {
        Ok(list) => (
            list.groups()
                .iter()
                .filter(|g| g.name() == group)
                .flat_map(|g| g.members())
                .map(|m| format!("{} ({})", m.client_id(), m.client_host()))
                .collect(),
            None,
        ),
        // Some brokers cannot (tansu 0.6's SQLite engine fails on its own stored groups).
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let mut all = TopicPartitionList::new();
    for p in 0..partitions {
        all.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(all, TIMEOUT)
        .map_err(|e| classify(&e))?;
    let from_time = match since_ms {
        None => None,
        Some(ms) => {
            let mut wanted = TopicPartitionList::new();
            for p in 0..partitions {
                wanted
                    .add_partition_offset(topic, p, Offset::Offset(ms))
                    .map_err(|e| classify(&e))?;
            }
            Some(
                consumer
                    .offsets_for_times(wanted, TIMEOUT)
                    .map_err(|e| classify(&e))?,
            )
        }
    };
    let mut spans = Vec::new();
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(|e| classify(&e))?;
        let end = match committed.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o.clamp(low, high),
            _ => low,
        };
        let start = match from_time
            .as_ref()
            .and_then(|t| t.find_partition(topic, p))
            .map(|e| e.offset())
        {
            None => low,
            Some(Offset::Offset(o)) => o.clamp(low, high),
            // No record at or after the time.
            Some(_) => high,
        };
        spans.push(Span {
            partition: p,
            start: start.min(end),
            end,
        });
    }
    Ok(Plan {
        group: group.clone(),
        spans,
        members,
        members_unknown,
    })
}

/// A reader of the events topic's spans, outside any group (a group id of its own that never
/// commits).
pub fn kafka_reader(
    config: &KafkaConfig,
    plan: &Plan,
) -> Result<(Box<dyn LogConsumer>, Progress), LogError> {
    let mut own = config.clone();
    own.consumer_group = format!(
        "leadstream-replay-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    own.group_instance_id = None;
    let consumer: BaseConsumer = own
        .client_config(KafkaRole::Consumer)
        .create()
        .map_err(|e| classify(&e))?;
    let mut assignment = TopicPartitionList::new();
    for s in plan.spans.iter().filter(|s| !s.is_empty()) {
        assignment
            .add_partition_offset(&config.events_topic, s.partition, Offset::Offset(s.start))
            .map_err(|e| classify(&e))?;
    }
    consumer.assign(&assignment).map_err(|e| classify(&e))?;
    let progress = Progress::default();
    let reader = KafkaReader {
        consumer: Arc::new(consumer),
        topic: config.events_topic.clone(),
        next: plan.spans.iter().map(|s| (s.partition, s.start)).collect(),
        ends: plan.spans.iter().map(|s| (s.partition, s.end)).collect(),
        partitions: plan.partitions(),
        progress: progress.clone(),
    };
    Ok((Box::new(reader), progress))
}

struct KafkaReader {
    consumer: Arc<BaseConsumer>,
    topic: String,
    /// The next offset to hand out, by partition.
    next: std::collections::BTreeMap<i32, i64>,
    ends: std::collections::BTreeMap<i32, i64>,
    partitions: i32,
    progress: Progress,
}

impl KafkaReader {
    fn done(&self, partition: i32) -> bool {
        self.next.get(&partition) >= self.ends.get(&partition)
    }
}

#[async_trait]
impl LogConsumer for KafkaReader {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivered>, LogError> {
        if self.finished() {
            return Ok(Vec::new());
        }
        let consumer = self.consumer.clone();
        let polled = tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + wait;
            let mut out = Vec::new();
            while out.len() < max {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let timeout = if out.is_empty() { left } else { Duration::ZERO };
                match consumer.poll(timeout) {
                    None => break,
                    Some(Ok(m)) => out.push(Delivered {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    }),
                    Some(Err(e)) if out.is_empty() => return Err(classify(&e)),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "kafka error while replaying");
                        break;
                    }
                }
                if left.is_zero() {
                    break;
                }
            }
            Ok(out)
        })
        .await
        .map_err(|_| LogError::Closed)??;
        let mut out = Vec::with_capacity(polled.len());
        let mut finished_now = std::collections::BTreeSet::new();
        for d in polled {
            let partition = d.partition;
            let end = self.ends.get(&partition).copied().unwrap_or(0);
            if d.offset < end {
                self.next.insert(partition, d.offset + 1);
                out.push(d);
            } else {
                self.next.insert(partition, end);
            }
            if self.done(partition) {
                finished_now.insert(partition);
            }
        }
        // Done partitions stop fetching (the live log goes on growing past the end).
        if !finished_now.is_empty() {
            let mut pause = TopicPartitionList::new();
            for p in finished_now {
                pause.add_partition(&self.topic, p);
            }
            let _ = self.consumer.pause(&pause);
        }
        // A partition whose end lies past records the broker no longer hands out (compacted or
        // control records): its position tells.
        if out.is_empty()
            && let Ok(positions) = self.consumer.position()
        {
            for e in positions.elements() {
                if let Offset::Offset(o) = e.offset()
                    && self.next.get(&e.partition()).is_some_and(|&n| o > n)
                {
                    let end = self.ends.get(&e.partition()).copied().unwrap_or(0);
                    self.next.insert(e.partition(), o.min(end));
                }
            }
        }
        self.progress.add(out.len());
        Ok(out)
    }

    fn fixed_assignment(&self) -> Option<(Vec<i32>, i32)> {
        Some(((0..self.partitions).collect(), self.partitions))
    }

    async fn commit(&mut self, _delivered: &[Delivered]) -> Result<(), LogError> {
        Ok(())
    }

    async fn lag(&mut self) -> Option<i64> {
        Some(
            self.ends
                .iter()
                .map(|(p, end)| (end - self.next.get(p).copied().unwrap_or(*end)).max(0))
                .sum(),
        )
    }

    fn finished(&self) -> bool {
        self.ends.keys().all(|&p| self.done(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_count_what_lies_between_start_and_end() {
        let plan = Plan {
            group: "g".into(),
            spans: vec![
                Span {
                    partition: 0,
                    start: 3,
                    end: 10,
                },
                Span {
                    partition: 1,
                    start: 5,
                    end: 5,
                },
            ],
            members: Vec::new(),
            members_unknown: None,
        };
        assert_eq!(plan.total(), 7);
        assert!(plan.spans[1].is_empty());
        assert_eq!(plan.partitions(), 2);
    }
}
