//! Shared helpers for tests against the real servers that `scripts/services.sh` starts.
#![allow(dead_code)]

use leadstream_platform::config::{ClickhouseConfig, KafkaConfig};

/// The broker the tests use (`LEADSTREAM_TEST_KAFKA`, default 127.0.0.1:9092).
pub fn kafka_brokers() -> String {
    std::env::var("LEADSTREAM_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// The ClickHouse HTTP URL the tests use (`LEADSTREAM_TEST_CLICKHOUSE`).
pub fn clickhouse_url() -> String {
    std::env::var("LEADSTREAM_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A Kafka config on a fresh, uniquely named topic and consumer group.
pub fn kafka_config(partitions: i32) -> KafkaConfig {
    KafkaConfig {
        brokers: kafka_brokers(),
        events_topic: unique("leadstream_test"),
        consumer_group: unique("leadstream_test_group"),
        partitions,
        ..KafkaConfig::default()
    }
}

/// A ClickHouse config on a fresh, uniquely named database.
pub fn clickhouse_config() -> ClickhouseConfig {
    ClickhouseConfig {
        url: clickhouse_url(),
        database: unique("leadstream_test"),
        ..ClickhouseConfig::default()
    }
}

/// Drops a test database.
pub async fn drop_database(config: &ClickhouseConfig) {
    let client = clickhouse::Client::default()
        .with_url(&config.url)
        .with_validation(false);
    let _ = client
        .query("DROP DATABASE IF EXISTS ?")
        .bind(clickhouse::sql::Identifier(&config.database))
        .execute()
        .await;
}
