//! Helpers for tests against the real servers that `scripts/services.sh` starts. Each test works
//! on its own uniquely named topic, consumer group and database, and drops them after.

use crate::config::ClickhouseConfig;

/// The broker tests use: `LEADSTREAM_TEST_KAFKA`, default `127.0.0.1:9092`.
pub fn kafka_brokers() -> String {
    std::env::var("LEADSTREAM_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// The ClickHouse HTTP URL tests use: `LEADSTREAM_TEST_CLICKHOUSE`, default `http://127.0.0.1:8123`.
pub fn clickhouse_url() -> String {
    std::env::var("LEADSTREAM_TEST_CLICKHOUSE").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// `prefix_<random>`: a name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
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
