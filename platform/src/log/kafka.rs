//! The Kafka log: the collector produces to `kafka.events_topic`, the scorers consume it as the
//! consumer group `kafka.consumer_group`.
//!
//! Wire protocol: one Kafka message per event; key `"{workspace}/{person}"` (UTF-8), value the
//! JSON [`leadstream_schemas::LogRecord`]. The producer is idempotent with `acks=all`, so a send
//! that returns `Ok` is on every in-sync replica and ordered per key. The consumer neither
//! auto-commits nor auto-stores offsets: [`KafkaConsumer::commit`] commits synchronously the
//! positions of a batch after the store write that covers it. Rebalances reach the consumer's
//! owner as [`Ownership`] changes in line with the messages (see [`GroupContext`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::{Delivered, EventLog, LogConsumer, LogError, LogMessage, Ownership, Revocation};
use crate::config::{KafkaConfig, KafkaRole};

/// The one place rdkafka errors are classified: retryable (broker down, queue full, timeouts) or
/// final (the message itself is refused).
pub fn classify(e: &KafkaError) -> LogError {
    let code = match e {
        KafkaError::MessageProduction(c) => Some(*c),
        other => other.rdkafka_error_code(),
    };
    match code {
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::InvalidTopic,
        ) => LogError::Rejected(e.to_string()),
        _ => LogError::Unavailable(e.to_string()),
    }
}

/// Producer side.
#[derive(Clone)]
pub struct KafkaLog {
    producer: FutureProducer,
    topic: String,
}

impl KafkaLog {
    pub fn new(config: &KafkaConfig) -> Result<KafkaLog, LogError> {
        KafkaLog::for_topic(config, &config.events_topic)
    }

    /// A producer to another topic (hand-offs, dead letters) with the same settings.
    pub fn for_topic(config: &KafkaConfig, topic: &str) -> Result<KafkaLog, LogError> {
        let producer: FutureProducer = config
            .client_config(KafkaRole::Producer)
            .create()
            .map_err(|e| classify(&e))?;
        Ok(KafkaLog {
            producer,
            topic: topic.to_string(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl KafkaLog {
    /// Sends `messages` and waits until the broker confirms every one, or until `deadline` passes
    /// (then `Unavailable`; what is still queued may be delivered later, which the spool's replay
    /// and the messageId make harmless). The caller keeps the messages, to spool them on failure.
    pub async fn append_within(
        &self,
        messages: &[LogMessage],
        deadline: Option<Duration>,
    ) -> Result<(), LogError> {
        let started = tokio::time::Instant::now();
        let mut pending = Vec::with_capacity(messages.len());
        for m in messages {
            let mut record = FutureRecord::to(&self.topic)
                .key(m.key.as_bytes())
                .payload(m.payload.as_slice());
            let mut backoff = Duration::from_millis(5);
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // The local queue is full: wait for deliveries to drain it, then retry.
                        if backoff > Duration::from_secs(2)
                            || deadline.is_some_and(|d| started.elapsed() + backoff > d)
                        {
                            return Err(LogError::Unavailable("producer queue full".into()));
                        }
                        record = back;
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                    }
                    Err((e, _)) => return Err(classify(&e)),
                }
            }
        }
        let confirmed = async {
            for result in join_all(pending).await {
                match result {
                    Ok(Ok(_delivery)) => {}
                    Ok(Err((e, _msg))) => return Err(classify(&e)),
                    Err(_canceled) => return Err(LogError::Closed),
                }
            }
            Ok(())
        };
        match deadline {
            None => confirmed.await,
            Some(d) => tokio::time::timeout(d.saturating_sub(started.elapsed()), confirmed)
                .await
                .unwrap_or_else(|_| {
                    Err(LogError::Unavailable(format!(
                        "the broker did not confirm within {} ms",
                        d.as_millis()
                    )))
                }),
        }
    }
}

#[async_trait]
impl EventLog for KafkaLog {
    async fn append(&self, messages: Vec<LogMessage>) -> Result<(), LogError> {
        self.append_within(&messages, None).await
    }

    async fn check(&self) -> Result<(), LogError> {
        let (producer, topic) = (self.producer.clone(), self.topic.clone());
        tokio::task::spawn_blocking(move || {
            let md = producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(3))
                .map_err(|e| classify(&e))?;
            match md.topics().iter().find(|t| t.name() == topic) {
                Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
                _ => Err(LogError::Unavailable(format!(
                    "topic {topic} has no partitions"
                ))),
            }
        })
        .await
        .map_err(|_| LogError::Closed)?
    }

    async fn flush(&self, timeout: Duration) -> Result<(), LogError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.flush(timeout).map_err(|e| classify(&e)))
            .await
            .map_err(|_| LogError::Closed)?
    }
}

/// Creates `config.events_topic` when it does not exist.
pub async fn ensure_topic(config: &KafkaConfig, topic: &str) -> Result<(), LogError> {
    let admin: AdminClient<DefaultClientContext> = config
        .client_config(KafkaRole::Admin)
        .create()
        .map_err(|e| classify(&e))?;
    let new = NewTopic::new(
        topic,
        config.partitions,
        TopicReplication::Fixed(config.replication_factor),
    );
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    tracing::debug!(topic, "creating topic");
    let results = admin
        .create_topics([&new], &opts)
        .await
        .map_err(|e| classify(&e))?;
    tracing::debug!(topic, ?results, "created topic");
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => {
                return Err(LogError::Unavailable(format!("creating topic {t}: {code}")));
            }
        }
    }
    Ok(())
}

/// Deletes a topic (tests clean up after themselves).
pub async fn delete_topic(config: &KafkaConfig, topic: &str) -> Result<(), LogError> {
    let admin: AdminClient<DefaultClientContext> = config
        .client_config(KafkaRole::Admin)
        .create()
        .map_err(|e| classify(&e))?;
    admin
        .delete_topics(&[topic], &AdminOptions::new())
        .await
        .map_err(|e| classify(&e))?;
    Ok(())
}

static ASSIGNED: std::sync::LazyLock<prometheus::IntGaugeVec> = std::sync::LazyLock::new(|| {
    prometheus::register_int_gauge_vec!(
        "leadstream_consumer_assigned_partitions",
        "Partitions of the events topic assigned to each consumer of this process.",
        &["topic", "consumer"]
    )
    .expect("metric registers once")
});

static CONSUMERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// How long a revocation waits for the consumer's owner to write and commit what it applied of
/// the revoked partitions. Past it the group goes on, and the next owner replays what was not
/// committed (the same events at the same offsets give the same profile versions).
const REVOKE_WAIT: Duration = Duration::from_secs(30);
/// How many polled items wait for the owner at most (then the polling thread waits too).
const QUEUE: usize = 4096;
/// How often librdkafka reports its statistics (the consumer lag comes from them).
const STATS_EVERY: Duration = Duration::from_secs(5);

/// What the polling thread hands the consumer's owner, in log order.
enum Item {
    Message(Delivered),
    Error(LogError),
    Ownership(Ownership),
}

/// The polling thread's side of a consumer: it logs the partitions this member gets and gives
/// back, counts them in `leadstream_consumer_assigned_partitions`, and passes each change to the
/// consumer's owner in line with the messages. A revocation waits (up to 30 s) until
/// the owner has written and committed what it applied of those partitions, so the next owner
/// starts from there.
pub struct GroupContext {
    topic: String,
    /// `{group.instance.id or pid}-{n}`: one per consumer of the process.
    name: String,
    items: tokio::sync::mpsc::Sender<Item>,
    /// The consumer lag, from librdkafka's statistics.
    lag: Arc<Lag>,
}

impl GroupContext {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements()
            .iter()
            .filter(|e| e.topic() == self.topic)
            .map(|e| e.partition())
            .collect()
    }

    /// Passes `item` on; `false` once the owner is gone. Waits while the queue is full, except
    /// on an async runtime's thread (a consumer closed there), where it does not wait.
    fn send(&self, item: Item) -> bool {
        if tokio::runtime::Handle::try_current().is_ok() {
            return self.items.try_send(item).is_ok();
        }
        self.items.blocking_send(item).is_ok()
    }
}

impl rdkafka::ClientContext for GroupContext {
    /// librdkafka's statistics (every [`STATS_EVERY`]), served by the polling thread: the lag of
    /// each partition this member fetches, from what librdkafka already knows (the high watermark
    /// of the last fetch response, the offset of the last message handed over, the last committed
    /// offset). Measuring it with requests of its own (`ListOffsets`, `OffsetFetch`) sat on the
    /// broker connection behind a slow fetch; when one timed out librdkafka closed the connection,
    /// the fetch with it, and on tansu's SQLite engine (fetches of seconds) the consumer stopped
    /// for good (issue 20: stuck at 51,060 of 300,000 events).
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let known = topic
            .partitions
            .values()
            .filter(|p| p.partition >= 0 && p.desired && p.hi_offset >= 0)
            .map(|p| {
                // Where reading stands when this consumer has taken nothing of the partition.
                let read = [p.committed_offset, p.lo_offset]
                    .into_iter()
                    .find(|&o| o >= 0);
                (p.partition, (p.hi_offset, read))
            })
            .collect();
        *self
            .lag
            .partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(known);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _base: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let partitions = self.partitions(tpl);
        tracing::info!(topic = %self.topic, consumer = %self.name, ?partitions, "partitions revoked; writing what was applied of them");
        ASSIGNED
            .with_label_values(&[self.topic.as_str(), self.name.as_str()])
            .set(0);
        if partitions.is_empty() {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let change = Ownership::Revoked {
            partitions,
            done: Revocation::new(tx),
        };
        if self.send(Item::Ownership(change)) {
            match rx.recv_timeout(REVOKE_WAIT) {
                Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => tracing::warn!(
                    topic = %self.topic,
                    "the revoked partitions' writes did not finish in time; the next owner replays what is not committed"
                ),
            }
        }
    }

    fn post_rebalance(&self, base: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions = self.partitions(tpl);
                ASSIGNED
                    .with_label_values(&[self.topic.as_str(), self.name.as_str()])
                    .set(partitions.len() as i64);
                tracing::info!(topic = %self.topic, consumer = %self.name, ?partitions, "partitions assigned");
                let of = base
                    .fetch_metadata(Some(&self.topic), Duration::from_secs(10))
                    .ok()
                    .and_then(|md| {
                        md.topics()
                            .iter()
                            .find(|t| t.name() == self.topic)
                            .map(|t| t.partitions().len() as i32)
                    })
                    .unwrap_or(0);
                self.send(Item::Ownership(Ownership::Assigned { partitions, of }));
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "consumer group rebalance failed"),
        }
    }
}

/// The partition librdkafka's default partitioner (`consistent_random`) gives a non-empty `key`
/// among `of` partitions: CRC-32 of the key, modulo the count. The collector produces with it, so
/// a profile stored before rows carried their partition is found by its key.
pub fn partition_for(key: &str, of: i32) -> i32 {
    if of <= 0 {
        return -1;
    }
    (crc32fast::hash(key.as_bytes()) % of as u32) as i32
}

/// Consumer side: a member of the scorers' consumer group. A thread of its own polls librdkafka
/// (where the group's rebalance callbacks run) and queues messages and changes of ownership for
/// [`LogConsumer::poll`].
pub struct KafkaConsumer {
    consumer: Arc<BaseConsumer<GroupContext>>,
    topic: String,
    items: tokio::sync::mpsc::Receiver<Item>,
    change: Option<Ownership>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    lag: Arc<Lag>,
    /// Per partition, the offset after the last message the owner took.
    taken: HashMap<i32, i64>,
}

impl KafkaConsumer {
    pub fn new(config: &KafkaConfig) -> Result<KafkaConsumer, LogError> {
        KafkaConsumer::for_topic(config, &config.events_topic)
    }

    /// A member of `config.consumer_group` reading `topic`.
    pub fn for_topic(config: &KafkaConfig, topic: &str) -> Result<KafkaConsumer, LogError> {
        let (tx, items) = tokio::sync::mpsc::channel(QUEUE);
        let lag = Arc::new(Lag::default());
        let consumer: BaseConsumer<GroupContext> = config
            .client_config(KafkaRole::Consumer)
            .set(
                "statistics.interval.ms",
                STATS_EVERY.as_millis().to_string(),
            )
            .create_with_context(GroupContext {
                lag: lag.clone(),
                topic: topic.to_string(),
                name: format!(
                    "{}-{}",
                    config
                        .group_instance_id
                        .clone()
                        .unwrap_or_else(|| std::process::id().to_string()),
                    CONSUMERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                ),
                items: tx.clone(),
            })
            .map_err(|e| classify(&e))?;
        consumer.subscribe(&[topic]).map_err(|e| classify(&e))?;
        let consumer = Arc::new(consumer);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (consumer, stop) = (consumer.clone(), stop.clone());
            std::thread::Builder::new()
                .name("kafka-consumer".into())
                .spawn(move || poll_thread(consumer, tx, stop))
                .map_err(|e| LogError::Unavailable(format!("starting the consumer thread: {e}")))?
        };
        Ok(KafkaConsumer {
            consumer,
            topic: topic.to_string(),
            items,
            change: None,
            stop,
            thread: Some(thread),
            lag,
            taken: HashMap::new(),
        })
    }
}

/// What librdkafka's last statistics say of the partitions this member fetches: the high
/// watermark and, when known, the committed (else the first) offset. `None` before the first.
#[derive(Default)]
struct Lag {
    #[allow(clippy::type_complexity)]
    partitions: std::sync::Mutex<Option<HashMap<i32, (i64, Option<i64>)>>>,
}

static PARTITION_LAG: std::sync::LazyLock<prometheus::IntGaugeVec> =
    std::sync::LazyLock::new(|| {
        prometheus::register_int_gauge_vec!(
            "leadstream_consumer_partition_lag_events",
            "Records of each assigned partition not yet read, by topic and partition (measured \
             every few seconds off the poll loop; a partition given up drops out).",
            &["topic", "partition"]
        )
        .expect("metric registers once")
    });

fn poll_thread(
    consumer: Arc<BaseConsumer<GroupContext>>,
    items: tokio::sync::mpsc::Sender<Item>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let item = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Ok(m)) => Item::Message(Delivered {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            }),
            Some(Err(e)) => Item::Error(classify(&e)),
        };
        if items.blocking_send(item).is_err() {
            break;
        }
    }
    // Leaving the group (a last revocation) happens here, off the owner's runtime, when this
    // thread holds the last reference.
    drop(items);
    drop(consumer);
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.items.close();
        // Wake a thread waiting for room in the queue.
        while self.items.try_recv().is_ok() {}
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[async_trait]
impl LogConsumer for KafkaConsumer {
    fn ownership(&mut self) -> Option<Ownership> {
        self.change.take()
    }

    /// Per partition this member fetches: the high watermark minus the next offset the owner
    /// has to take (what it took, or what is committed, whichever is further), from
    /// librdkafka's statistics (no request of its own; see [`GroupContext`]'s `stats`).
    async fn lag(&mut self) -> Option<i64> {
        let partitions = self
            .lag
            .partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        // Partitions this member no longer fetches stop being reported (another reports them).
        PARTITION_LAG.reset();
        let mut total = 0;
        for (partition, (high, read)) in partitions {
            let next = match (self.taken.get(&partition).copied(), read) {
                (Some(t), Some(r)) => t.max(r),
                (Some(t), None) => t,
                (None, Some(r)) => r,
                (None, None) => continue,
            };
            let behind = (high - next).max(0);
            PARTITION_LAG
                .with_label_values(&[self.topic.as_str(), partition.to_string().as_str()])
                .set(behind);
            total += behind;
        }
        Some(total)
    }

    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivered>, LogError> {
        // A change the caller did not take goes on (a revocation is let go by dropping it).
        self.change = None;
        let mut out = Vec::new();
        let first = match tokio::time::timeout(wait, self.items.recv()).await {
            Err(_elapsed) => return Ok(out),
            Ok(None) => return Err(LogError::Closed),
            Ok(Some(item)) => item,
        };
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Item::Message(d) => {
                    self.taken.insert(d.partition, d.offset + 1);
                    out.push(d)
                }
                Item::Error(e) if out.is_empty() => return Err(e),
                Item::Error(e) => {
                    tracing::warn!(error = %e, "kafka consumer error while batching");
                    break;
                }
                Item::Ownership(change) => {
                    self.change = Some(change);
                    break;
                }
            }
            if out.len() < max {
                // Take what is already queued, without waiting again.
                next = self.items.try_recv().ok();
            }
        }
        Ok(out)
    }

    async fn commit(&mut self, delivered: &[Delivered]) -> Result<(), LogError> {
        let positions = super::next_positions(delivered);
        if positions.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (partition, next) in positions {
            tpl.add_partition_offset(&self.topic, partition, Offset::Offset(next))
                .map_err(|e| classify(&e))?;
        }
        let consumer = self.consumer.clone();
        tokio::task::spawn_blocking(move || {
            consumer
                .commit(&tpl, CommitMode::Sync)
                .map_err(|e| classify(&e))
        })
        .await
        .map_err(|_| LogError::Closed)?
    }
}

#[cfg(test)]
mod tests {
    use super::partition_for;

    /// The partitions librdkafka's default partitioner gave these keys over 3 partitions on
    /// tansu (`leadstream/tests/identity.rs` relies on them).
    #[test]
    fn partitions_match_the_producers() {
        assert_eq!(partition_for("acme/dev-0", 3), 0);
        assert_eq!(partition_for("acme/user-0", 3), 2);
        assert_eq!(partition_for("acme/dev-2", 3), 0);
        assert_eq!(partition_for("acme/user-2", 3), 1);
        assert_eq!(partition_for("anything", 0), -1);
    }
}
