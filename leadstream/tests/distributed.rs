//! The slice in distributed mode against the real broker and ClickHouse: a Segment batch in →
//! Kafka (read back here, keys included) → the scorer as a consumer group → ClickHouse →
//! `GET /v1/profiles/{id}` read from ClickHouse. Each test has its own topic and database.

mod common;

use std::time::Duration;

use leadstream_platform::config::Config;
use leadstream_platform::log::LogConsumer;
use leadstream_platform::log::kafka::{KafkaConsumer, delete_topic};
use leadstream_schemas::LogRecord;

async fn cleanup(config: &Config) {
    let _ = delete_topic(&config.kafka, &config.kafka.events_topic).await;
    let client = clickhouse::Client::default()
        .with_url(&config.clickhouse.url)
        .with_validation(false);
    let _ = client
        .query("DROP DATABASE IF EXISTS ?")
        .bind(clickhouse::sql::Identifier(&config.clickhouse.database))
        .execute()
        .await;
}

#[tokio::test]
async fn batch_to_profile_in_distributed_mode() {
    let config = common::distributed_config();
    let running = common::start(config.clone()).await;

    let (status, resp) = running.post_batch(&common::slice_batch()).await;
    assert_eq!(status, 400, "one bad event: {resp}");
    assert_eq!(resp["accepted"], 5);

    // What the collector wrote to Kafka, read back by a separate consumer group.
    let mut reader_config = config.kafka.clone();
    reader_config.consumer_group = common::unique("leadstream_e2e_reader");
    let mut reader = KafkaConsumer::new(&reader_config).expect("reader");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 5 && tokio::time::Instant::now() < deadline {
        seen.extend(
            reader
                .poll(100, Duration::from_millis(500))
                .await
                .expect("poll"),
        );
    }
    assert_eq!(seen.len(), 5, "the accepted events are on the topic");
    let mut keys: Vec<String> = Vec::new();
    for d in &seen {
        let record = LogRecord::decode(&d.payload).expect("decodes");
        let key = String::from_utf8(d.key.clone().expect("key")).expect("utf8");
        assert_eq!(key, record.key());
        assert_eq!(record.workspace, "acme");
        keys.push(key);
    }
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "acme/ada",
            "acme/ada",
            "acme/ada",
            "acme/ada",
            "acme/visitor-7"
        ]
    );
    // One person's events share a partition, in order.
    let ada: Vec<_> = seen
        .iter()
        .filter(|d| d.key.as_deref() == Some(b"acme/ada".as_slice()))
        .collect();
    assert!(ada.iter().all(|d| d.partition == ada[0].partition));

    let profile = running
        .wait_for_profile("ada", |p| p["event_count"] == 4)
        .await;
    common::assert_slice_profile(&profile);
    let (status, _) = running.get_profile("ada", common::OTHER_TOKEN).await;
    assert_eq!(status, 404, "another workspace's token sees nothing");

    // The profile came from ClickHouse: it is in the table.
    let client = clickhouse::Client::default()
        .with_url(&config.clickhouse.url)
        .with_database(&config.clickhouse.database)
        .with_validation(false);
    let stored: u64 = client
        .query("SELECT count() FROM events WHERE workspace = ? AND profile_id = ?")
        .bind("acme")
        .bind("ada")
        .fetch_one()
        .await
        .expect("count");
    assert_eq!(stored, 4);

    running.stop().await;
    drop(reader);

    // A restarted process reloads the profile from ClickHouse and resumes after the committed
    // offsets: one more event, and nothing is counted twice.
    let running = common::start(config.clone()).await;
    running
        .post_batch(&serde_json::json!({"batch": [{"type": "track", "userId": "ada", "event": "Form Submitted", "properties": {"form_id": "demo"}}]}))
        .await;
    let p = running
        .wait_for_profile("ada", |p| p["event_count"] == 5)
        .await;
    assert_eq!(p["score"], 24.0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, p) = running.get_profile("ada", common::TOKEN).await;
    assert_eq!(p["event_count"], 5);
    running.stop().await;

    cleanup(&config).await;
}

#[tokio::test]
async fn every_channel_reaches_the_topic_keyed_by_person() {
    let mut config = common::distributed_config();
    config.ingest.forms = vec![leadstream_platform::config::FormConfig {
        id: "contact".into(),
        workspace: "acme".into(),
        thank_you_url: None,
        honeypot_field: "website_url".into(),
    }];
    let running = common::start(config.clone()).await;
    let base = format!("http://{}", running.collector);
    let http = &running.http;

    let r = http
        .post(format!("{base}/v1/track"))
        .basic_auth(common::WRITE_KEY, Some(""))
        .json(&serde_json::json!({"userId": "u-track", "event": "File Downloaded", "properties": {"file_name": "a.pdf"}}))
        .send()
        .await
        .expect("track");
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!(
            "{base}/v1/p.gif?wk={}&aid=a-pixel&url=https%3A%2F%2Facme.io%2F",
            common::WRITE_KEY
        ))
        .send()
        .await
        .expect("pixel");
    assert_eq!(r.headers()["x-leadstream-outcome"], "accepted");
    let r = http
        .post(format!("{base}/v1/forms/contact"))
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=Lead%40Acme.io&anonymous_id=a-form&company=Acme")
        .send()
        .await
        .expect("form");
    assert_eq!(r.status(), 200);

    let mut reader_config = config.kafka.clone();
    reader_config.consumer_group = common::unique("leadstream_e2e_reader");
    let mut reader = KafkaConsumer::new(&reader_config).expect("reader");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < 4 && tokio::time::Instant::now() < deadline {
        seen.extend(
            reader
                .poll(100, Duration::from_millis(500))
                .await
                .expect("poll"),
        );
    }
    let mut got: Vec<(String, String)> = seen
        .iter()
        .map(|d| {
            let record = LogRecord::decode(&d.payload).expect("decodes");
            let name = record
                .event
                .event
                .clone()
                .unwrap_or_else(|| record.event.event_type.as_str().to_string());
            (
                String::from_utf8(d.key.clone().expect("key")).expect("utf8"),
                name,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("acme/a-form".to_string(), "Form Submitted".to_string()),
            ("acme/a-form".to_string(), "identify".to_string()),
            ("acme/a-pixel".to_string(), "page".to_string()),
            ("acme/u-track".to_string(), "File Downloaded".to_string()),
        ]
    );

    running.stop().await;
    drop(reader);
    cleanup(&config).await;
}
