//! Shared helpers for tests against the real servers that `scripts/services.sh` starts.
#![allow(dead_code)]

use leadstream_platform::config::{ClickhouseConfig, KafkaConfig};

#[allow(unused_imports)] // each test binary uses a different subset
pub use leadstream_platform::testing::{clickhouse_url, drop_database, kafka_brokers, unique};

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
