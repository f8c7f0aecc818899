//! The Kafka log: the collector produces to `kafka.events_topic`, the scorers consume it as the
//! consumer group `kafka.consumer_group`.
//!
//! Wire protocol: one Kafka message per event; key `"{workspace}/{person}"` (UTF-8), value the
//! JSON [`leadstream_schemas::LogRecord`]. The producer is idempotent with `acks=all`, so a send
//! that returns `Ok` is on every in-sync replica and ordered per key. The consumer neither
//! auto-commits nor auto-stores offsets: [`KafkaConsumer::commit`] commits synchronously the
//! positions of a batch after the store write that covers it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::{Delivered, EventLog, LogConsumer, LogError, LogMessage};
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

/// Logs the partitions this member gets and gives back, and counts them in
/// `leadstream_consumer_assigned_partitions`, so an operator sees how the group shares the topic.
pub struct GroupContext {
    topic: String,
    /// `{group.instance.id or pid}-{n}`: one per consumer of the process.
    name: String,
}

impl rdkafka::ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn post_rebalance(
        &self,
        _base: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        let gauge = ASSIGNED.with_label_values(&[self.topic.as_str(), self.name.as_str()]);
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                gauge.set(partitions.len() as i64);
                tracing::info!(topic = %self.topic, consumer = %self.name, ?partitions, "partitions assigned");
            }
            Rebalance::Revoke(tpl) => {
                let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                gauge.set(0);
                tracing::info!(topic = %self.topic, consumer = %self.name, ?partitions, "partitions revoked");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "consumer group rebalance failed"),
        }
    }
}

/// Consumer side: a member of the scorers' consumer group.
pub struct KafkaConsumer {
    consumer: Arc<StreamConsumer<GroupContext>>,
    topic: String,
}

impl KafkaConsumer {
    pub fn new(config: &KafkaConfig) -> Result<KafkaConsumer, LogError> {
        KafkaConsumer::for_topic(config, &config.events_topic)
    }

    /// A member of `config.consumer_group` reading `topic`.
    pub fn for_topic(config: &KafkaConfig, topic: &str) -> Result<KafkaConsumer, LogError> {
        let consumer: StreamConsumer<GroupContext> = config
            .client_config(KafkaRole::Consumer)
            .create_with_context(GroupContext {
                topic: topic.to_string(),
                name: format!(
                    "{}-{}",
                    config
                        .group_instance_id
                        .clone()
                        .unwrap_or_else(|| std::process::id().to_string()),
                    CONSUMERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                ),
            })
            .map_err(|e| classify(&e))?;
        consumer.subscribe(&[topic]).map_err(|e| classify(&e))?;
        Ok(KafkaConsumer {
            consumer: Arc::new(consumer),
            topic: topic.to_string(),
        })
    }
}

#[async_trait]
impl LogConsumer for KafkaConsumer {
    /// Per assigned partition: the high watermark minus the next offset to read.
    async fn lag(&mut self) -> Option<i64> {
        let consumer = self.consumer.clone();
        tokio::task::spawn_blocking(move || {
            let positions = consumer.position().ok()?;
            // Partitions not fetched from yet resume at their committed offset.
            let committed = consumer.committed(Duration::from_secs(2)).ok();
            let mut lag = 0i64;
            for e in positions.elements() {
                let (_, high) = consumer
                    .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(2))
                    .ok()?;
                let committed_at = committed
                    .as_ref()
                    .and_then(|c| c.find_partition(e.topic(), e.partition()))
                    .map(|c| c.offset());
                let next = match (e.offset(), committed_at) {
                    (Offset::Offset(o), _) | (_, Some(Offset::Offset(o))) => o,
                    // Never read nor committed: all of it is behind.
                    _ => {
                        consumer
                            .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(2))
                            .ok()?
                            .0
                    }
                };
                lag += (high - next).max(0);
            }
            Some(lag)
        })
        .await
        .ok()
        .flatten()
    }

    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivered>, LogError> {
        let mut out = Vec::new();
        let to_delivered = |m: &rdkafka::message::BorrowedMessage<'_>| Delivered {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        };
        match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_elapsed) => return Ok(out),
            Ok(Err(e)) => return Err(classify(&e)),
            Ok(Ok(m)) => out.push(to_delivered(&m)),
        }
        // Take what is already buffered, without waiting again.
        while out.len() < max {
            match tokio::time::timeout(Duration::from_millis(1), self.consumer.recv()).await {
                Ok(Ok(m)) => out.push(to_delivered(&m)),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "kafka consumer error while batching");
                    break;
                }
                Err(_elapsed) => break,
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
