//! The slice in distributed mode against the real broker and ClickHouse: a Segment batch in →
//! Kafka (read back here, keys included) → the scorer as a consumer group → ClickHouse →
//! `GET /v1/profiles/{id}` read from ClickHouse. Each test has its own topic and database.

mod common;

use std::time::Duration;

use leadstream_platform::config::Config;
use leadstream_platform::log::LogConsumer;
use leadstream_platform::log::kafka::KafkaConsumer;
use leadstream_schemas::{Control, Decoded, LogRecord};

async fn cleanup(config: &Config) {
    // Topics stay (see scripts/services.sh: deleting one breaks the others on tansu's SQLite
    // engine); the database goes.
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
    assert_eq!(status, 200, "one bad event, the rest accepted: {resp}");
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
    assert_eq!(
        p["score"], 29.0,
        "form fill 10 on top of the slice's 19: {p}"
    );
    assert_eq!(p["scores"]["buying_intent"], 35.0, "the demo request: {p}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, p) = running.get_profile("ada", common::TOKEN).await;
    assert_eq!(p["event_count"], 5);
    running.stop().await;

    cleanup(&config).await;
}

/// Every collector channel (tracking API and analytics.js's one-letter path, pixel, forms, email
/// links, email and SMS webhooks, the tracker's beacon) through the distributed collector, read
/// back from the topic with its key.
#[tokio::test]
async fn every_channel_reaches_the_topic_keyed_by_person() {
    let mut config = common::distributed_config();
    config.ingest.forms = vec![leadstream_platform::config::FormConfig {
        id: "contact".into(),
        workspace: "acme".into(),
        thank_you_url: None,
        honeypot_field: "website_url".into(),
    }];
    config.ingest.email.signing_keys = vec![leadstream_platform::config::SigningKey {
        id: "k1".into(),
        secret: "e2e-link-signing-secret-0123456789abcdef".into(),
    }];
    config.ingest.email.min_click_delay_secs = 0;
    config.ingest.email.webhook_secret = Some("e2e-email-webhook-secret".into());
    config.ingest.sms.generic_secret = Some("e2e-sms-webhook-secret".into());
    let running = common::start(config.clone()).await;
    let base = format!("http://{}", running.collector);
    let http = &running.http;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";

    // Email: mint a message's links, then open and click them.
    let minted: serde_json::Value = http
        .post(format!("{base}/v1/email/links"))
        .bearer_auth(common::TOKEN)
        .json(&leadstream_ingest::routes::email::mint_body(
            "msg-1",
            "u-email",
            Some("spring"),
            &["https://acme.io/offer"],
        ))
        .send()
        .await
        .expect("mint")
        .json()
        .await
        .expect("json");
    let r = no_redirects
        .get(minted["open_pixel"].as_str().expect("pixel url"))
        .header("user-agent", BROWSER)
        .send()
        .await
        .expect("open");
    assert_eq!(r.headers()["x-leadstream-outcome"], "accepted", "{minted}");
    let r = no_redirects
        .get(minted["links"][0]["tracked_url"].as_str().expect("link"))
        .header("user-agent", BROWSER)
        .send()
        .await
        .expect("click");
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "https://acme.io/offer");

    // Provider webhooks, signed.
    let email_hook = serde_json::json!({"events": [
        {"type": "delivered", "message_id": "msg-2", "recipient": "Hook@Acme.io", "campaign_id": "c1"}
    ]})
    .to_string();
    let r = http
        .post(format!(
            "{base}/v1/webhooks/email/generic?wk={}",
            common::WRITE_KEY
        ))
        .header(
            "x-leadstream-signature",
            leadstream_ingest::signatures::generic_signature(
                "e2e-email-webhook-secret",
                chrono::Utc::now().timestamp(),
                common::WRITE_KEY,
                email_hook.as_bytes(),
            ),
        )
        .body(email_hook)
        .send()
        .await
        .expect("email webhook");
    assert_eq!(r.status(), 200);
    let sms_hook = serde_json::json!({"events": [
        {"type": "received", "message_id": "s1", "to": "ACME", "from": "+15550001111", "body": "STOP"}
    ]})
    .to_string();
    let r = http
        .post(format!(
            "{base}/v1/webhooks/sms/generic?wk={}",
            common::WRITE_KEY
        ))
        .header("content-type", "application/json")
        .header(
            "x-leadstream-signature",
            leadstream_ingest::signatures::generic_signature(
                "e2e-sms-webhook-secret",
                chrono::Utc::now().timestamp(),
                common::WRITE_KEY,
                sms_hook.as_bytes(),
            ),
        )
        .body(sms_hook)
        .send()
        .await
        .expect("sms webhook");
    assert_eq!(r.status(), 200);

    // What the JavaScript tracker sends: a text/plain beacon with the write key in the body.
    let beacon = serde_json::json!({"writeKey": common::WRITE_KEY, "batch": [
        {"type": "page", "anonymousId": "a-js", "properties": {"url": "https://acme.io/"}},
        {"type": "track", "anonymousId": "a-js", "event": "File Downloaded", "properties": {"file_name": "b.pdf"}}
    ]})
    .to_string();
    let r = http
        .post(format!("{base}/v1/batch"))
        .header("content-type", "text/plain")
        .body(beacon)
        .send()
        .await
        .expect("beacon");
    assert_eq!(r.status(), 200);

    let r = http
        .post(format!("{base}/v1/track"))
        .basic_auth(common::WRITE_KEY, Some(""))
        .json(&serde_json::json!({"userId": "u-track", "event": "File Downloaded", "properties": {"file_name": "a.pdf"}}))
        .send()
        .await
        .expect("track");
    assert_eq!(r.status(), 200);
    // analytics.js 2.0's own path: one letter, text/plain, the write key in the body.
    let r = http
        .post(format!("{base}/v1/t"))
        .header("content-type", "text/plain")
        .body(
            serde_json::json!({"writeKey": common::WRITE_KEY, "type": "track", "anonymousId": "a-ajs",
                "event": "File Downloaded", "properties": {"file_name": "c.pdf"}})
            .to_string(),
        )
        .send()
        .await
        .expect("analytics.js track");
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
        // The visitor is the first-party cookie's; an `anonymous_id` field is not believed.
        .header("cookie", "ls_aid=a-form")
        .body("email=Lead%40Acme.io&anonymous_id=someone-else&company=Acme")
        .send()
        .await
        .expect("form");
    assert_eq!(r.status(), 200);

    let mut reader_config = config.kafka.clone();
    reader_config.consumer_group = common::unique("leadstream_e2e_reader");
    let mut reader = KafkaConsumer::new(&reader_config).expect("reader");
    // The topic also carries the scorer's control records (the form's anonymous id a-form merged
    // into the person it identified), interleaved with the events in whatever order the
    // partitions are read: read until every event is in, and check each control record seen.
    let mut got: Vec<(String, String)> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.len() < 11 && tokio::time::Instant::now() < deadline {
        for d in reader
            .poll(100, Duration::from_millis(500))
            .await
            .expect("poll")
        {
            let key = String::from_utf8(d.key.clone().expect("key")).expect("utf8");
            match Decoded::decode(&d.payload).expect("decodes") {
                Decoded::Event(record) => {
                    let name = record
                        .event
                        .event
                        .clone()
                        .unwrap_or_else(|| record.event.event_type.as_str().to_string());
                    got.push((key, name));
                }
                Decoded::Control(control) => {
                    let (from, into) = match &control.control {
                        Control::MergeRequest { from, into, .. }
                        | Control::MergeState { from, into, .. } => (from, into),
                    };
                    assert_eq!(
                        (control.workspace.as_str(), from.as_str(), into.as_str()),
                        ("acme", "a-form", "lead@acme.io"),
                        "{key}"
                    );
                }
            }
        }
    }
    got.sort();
    assert_eq!(
        got,
        [
            ("acme/a-ajs", "File Downloaded"),
            ("acme/a-js", "File Downloaded"),
            ("acme/a-js", "page"),
            ("acme/a-pixel", "page"),
            ("acme/hook@acme.io", "Email Delivered"),
            // The form gave an email: the person is known, keyed by it (the anonymous id a-form
            // is merged into it by the scorer).
            ("acme/lead@acme.io", "Form Submitted"),
            ("acme/lead@acme.io", "identify"),
            ("acme/sms:+15550001111", "SMS Opted Out"),
            ("acme/u-email", "Email Clicked"),
            ("acme/u-email", "Email Opened"),
            ("acme/u-track", "File Downloaded"),
        ]
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .to_vec()
    );

    running.stop().await;
    drop(reader);
    cleanup(&config).await;
}

/// A client's retry (the same `messageId`) counts once, whichever collector instance took each
/// copy and across restarts of collectors and scorers: the collectors' own windows are per
/// process, so the scorer's (per person, stored with the profile) is what holds fleet-wide.
#[tokio::test]
async fn a_retry_through_another_collector_or_after_restarts_counts_once() {
    let config = common::distributed_config();
    let mut other = config.clone();
    other.data_dir = std::env::temp_dir().join(common::unique("leadstream_e2e_data"));
    let (first, second) = (
        common::start(config.clone()).await,
        common::start(other.clone()).await,
    );
    let download = serde_json::json!({"batch": [{"type": "track", "userId": "rita", "messageId": "retry-1", "event": "File Downloaded", "properties": {"file_name": "guide.pdf"}, "timestamp": "2026-11-30T10:00:00Z"}]});
    let page = |id: &str| serde_json::json!({"batch": [{"type": "page", "userId": "rita", "messageId": id, "context": {"page": {"url": "https://acme.io/pricing"}}, "timestamp": "2026-11-30T10:05:00Z"}]});
    // The first try reaches one collector, the retry another.
    for run in [&first, &second] {
        let (status, body) = run.post_batch(&download).await;
        assert_eq!(status, 200, "{body}");
    }
    first
        .wait_for_profile("rita", |p| p["event_count"] == 1)
        .await;
    first.stop().await;
    second.stop().await;
    // Both restarted (the collectors forget what they saw; the scorers reload), and the client
    // retries once more, then sends something new.
    let (first, second) = (
        common::start(config.clone()).await,
        common::start(other).await,
    );
    let (status, body) = second.post_batch(&download).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = first.post_batch(&page("page-1")).await;
    assert_eq!(status, 200, "{body}");
    let p = first
        .wait_for_profile("rita", |p| p["event_count"] == 2)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, p2) = second.get_profile("rita", common::TOKEN).await;
    assert_eq!(p2["event_count"], 2, "{p2}");
    assert_eq!(p["counts"]["file_downloaded"], 1, "{p}");
    // Stored once: the events table and the explained changes.
    let client = clickhouse::Client::default()
        .with_url(&config.clickhouse.url)
        .with_database(&config.clickhouse.database)
        .with_validation(false);
    let stored: u64 = client
        .query("SELECT count() FROM events WHERE workspace = 'acme' AND message_id = 'retry-1'")
        .fetch_one()
        .await
        .expect("count");
    assert_eq!(stored, 1, "the retried event is stored once");
    let (status, history) = first
        .get("/v1/profiles/rita/scores/history?limit=100&score=engagement")
        .await;
    assert_eq!(status, 200, "{history}");
    let sum = common::points_sum(&history);
    assert!(
        (sum - p["scores"]["engagement"].as_f64().expect("score")).abs() < 0.01,
        "the changes add up to the score: {history} {p}"
    );
    // The scorers counted what they dropped.
    let metrics = first.metrics().await;
    let duplicates: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("leadstream_scorer_duplicates_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(duplicates >= 1.0, "duplicates counted:\n{metrics}");
    first.stop().await;
    second.stop().await;
    cleanup(&config).await;
}
