//! The Kafka log against the real broker: what is appended is consumed back in order per key,
//! with its key, and a committed position survives a new consumer in the same group.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use leadstream_platform::log::kafka::{KafkaConsumer, KafkaLog, ensure_topic};
use leadstream_platform::log::{Delivered, EventLog, LogConsumer, LogMessage};

async fn drain(consumer: &mut KafkaConsumer, want: usize) -> Vec<Delivered> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.len() < want && tokio::time::Instant::now() < deadline {
        got.extend(
            consumer
                .poll(500, Duration::from_millis(500))
                .await
                .expect("poll"),
        );
    }
    got
}

/// The consumer's lag once a measure gives `want` (it is measured in the background, so the
/// first answers may be none or older), or the last measure after 10 s.
async fn settled_lag(consumer: &mut KafkaConsumer, want: i64) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut last = -1;
    while tokio::time::Instant::now() < deadline {
        if let Some(lag) = consumer.lag().await {
            last = lag;
            if lag == want {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

#[tokio::test]
async fn appended_messages_come_back_in_order_per_key_and_commits_hold() {
    let config = common::kafka_config(3);
    ensure_topic(&config, &config.events_topic)
        .await
        .expect("create topic");
    let log = KafkaLog::new(&config).expect("producer");
    log.check().await.expect("broker reachable");

    let messages: Vec<LogMessage> = (0..60)
        .map(|i| LogMessage {
            key: format!("ws/person-{}", i % 4),
            payload: format!("{}:{i}", i % 4).into_bytes(),
        })
        .collect();
    log.append(messages).await.expect("append");

    let mut consumer = KafkaConsumer::new(&config).expect("consumer");
    let got = drain(&mut consumer, 60).await;
    assert_eq!(got.len(), 60, "all appended messages are consumed");
    assert_eq!(
        settled_lag(&mut consumer, 0).await,
        0,
        "nothing left behind"
    );

    // Each key's payloads arrive in the order they were appended, and the key is kept.
    let mut per_key: HashMap<String, Vec<usize>> = HashMap::new();
    for d in &got {
        let key = String::from_utf8(d.key.clone().expect("key")).expect("utf8");
        let payload = String::from_utf8(d.payload.clone()).expect("utf8");
        let (person, seq) = payload.split_once(':').expect("payload");
        assert_eq!(key, format!("ws/person-{person}"));
        per_key
            .entry(key)
            .or_default()
            .push(seq.parse().expect("seq"));
    }
    for (key, seqs) in &per_key {
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(seqs, &sorted, "order within {key}");
    }
    consumer.commit(&got).await.expect("commit");
    drop(consumer);

    // Appended after the commit: a new member of the group sees only these.
    log.append(vec![LogMessage {
        key: "ws/person-9".into(),
        payload: b"after".to_vec(),
    }])
    .await
    .expect("append");
    let mut consumer = KafkaConsumer::new(&config).expect("consumer");
    let got = drain(&mut consumer, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, b"after");
    // Nothing else is pending.
    let more = consumer
        .poll(10, Duration::from_secs(2))
        .await
        .expect("poll");
    assert!(
        more.is_empty(),
        "committed messages were delivered again: {}",
        more.len()
    );
    // Lag: what this member's partitions hold beyond what it read.
    log.append(vec![LogMessage {
        key: "ws/person-9".into(),
        payload: b"late".to_vec(),
    }])
    .await
    .expect("append");
    assert_eq!(
        settled_lag(&mut consumer, 1).await,
        1,
        "one appended, not read"
    );

    // The topic stays: tansu's SQLite engine (0.6.0) breaks the metadata of *other* topics when
    // one is deleted, and tests run side by side on one broker (scripts/services.sh starts a
    // fresh database each time).
    drop(consumer);
    drop(log);
}

#[tokio::test]
async fn an_unreachable_broker_is_reported_not_hung() {
    let mut config = common::kafka_config(1);
    config.brokers = "127.0.0.1:1".into();
    config.message_timeout_ms = 1500;
    let log = KafkaLog::new(&config).expect("producer");
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        log.append(vec![LogMessage {
            key: "k".into(),
            payload: b"x".to_vec(),
        }]),
    )
    .await
    .expect("append returns within its message timeout");
    let err = result.expect_err("no broker, no ack");
    assert!(err.is_retryable(), "{err}");
    assert!(log.check().await.is_err());
}
