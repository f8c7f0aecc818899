//! Exactly once across `kill -9`, against the real broker and ClickHouse: the real binary is
//! killed while the scorer is applying and flushing a stream of events, restarted, and must end
//! with exactly the profiles and scores an uninterrupted run computes (here: the same events
//! applied in this test to a fresh in-memory book with the same model), with every score change
//! stored once and every hand-off keyed by its crossing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use leadstream_platform::backends::SideLog;
use leadstream_platform::log::LogConsumer;
use leadstream_platform::{Backends, Config};
use leadstream_schemas::{LeadQualified, LogRecord};
use leadstream_scoring::Model;
use leadstream_scoring::profile::{ProfileBook, Settings};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;
const T0: i64 = 1_767_225_600_000;

/// 300 events for five people over two months: reading, downloads, webinars, demo requests,
/// email clicks, an unsubscribe, a recycling; enough to qualify some of them.
fn stream() -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..300i64 {
        let person = format!("p{}", i % 5);
        let at = T0 + (i / 5) * DAY / 2 + i;
        let ts = chrono::DateTime::from_timestamp_millis(at)
            .expect("time")
            .to_rfc3339();
        let id = format!("m-{i}");
        let e = match i % 13 {
            0 | 5 | 9 => {
                json!({"type": "page", "context": {"page": {"url": "https://acme.io/pricing"}}})
            }
            1 | 6 => {
                json!({"type": "track", "event": "File Downloaded", "properties": {"file_name": "guide.pdf"}})
            }
            2 => {
                json!({"type": "track", "event": "Webinar Registered", "properties": {"webinar_id": "w1"}})
            }
            3 => {
                json!({"type": "track", "event": "Email Clicked", "properties": {"email_id": "e", "link_url": "https://acme.io"}})
            }
            4 => {
                json!({"type": "identify", "traits": {"title": "VP Sales", "company_size": 200, "email": format!("{person}@corp.io")}})
            }
            7 => {
                json!({"type": "track", "event": "Form Submitted", "properties": {"form_id": "demo-request"}})
            }
            8 => {
                json!({"type": "track", "event": "Webinar Attended", "properties": {"webinar_id": "w1"}})
            }
            10 => {
                json!({"type": "track", "event": "Lead Recycled", "properties": {"reason": "no_response"}})
            }
            11 => {
                json!({"type": "track", "event": "Email Unsubscribed", "properties": {"email_id": "e"}})
            }
            _ => {
                json!({"type": "page", "context": {"page": {"url": format!("https://acme.io/blog/{i}")}}})
            }
        };
        let mut e = e;
        let o = e.as_object_mut().expect("object");
        o.insert("userId".into(), json!(person));
        o.insert("messageId".into(), json!(id));
        o.insert("timestamp".into(), json!(ts));
        out.push(e);
    }
    out
}

struct Child {
    child: tokio::process::Child,
    collector: String,
    query: String,
}

async fn spawn(config_file: &std::path::Path) -> Child {
    let (cp, qp) = (
        leadstream_platform::testing::free_port(),
        leadstream_platform::testing::free_port(),
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadstream"))
        .args(["serve", "--config"])
        .arg(config_file)
        .args([
            "--collector-listen",
            &format!("127.0.0.1:{cp}"),
            "--query-listen",
            &format!("127.0.0.1:{qp}"),
        ])
        .stdout(Stdio::piped())
        .stderr(
            if std::env::var_os("LEADSTREAM_TEST_CHILD_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            },
        )
        .kill_on_drop(true)
        .spawn()
        .expect("spawn leadstream");
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if line.contains("leadstream is up") {
                return;
            }
        }
        panic!("leadstream exited before it was up");
    })
    .await
    .expect("starts");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Child {
        child,
        collector: format!("127.0.0.1:{cp}"),
        query: format!("127.0.0.1:{qp}"),
    }
}

fn config_toml(config: &Config) -> String {
    format!(
        r#"mode = "distributed"
data_dir = "{data}"
[scorer]
flush_interval_ms = 30
flush_max_events = 7
handoff_topic = "{topic}_handoffs"
dead_letter_topic = "{topic}_dead"
[kafka]
brokers = "{brokers}"
events_topic = "{topic}"
consumer_group = "{topic}_scorer"
group_instance_id = "scorer-1"
partitions = 3
[clickhouse]
url = "{ch}"
database = "{db}"
[[workspaces]]
name = "acme"
write_keys = ["{key}"]
api_tokens = ["{token}"]
"#,
        data = config.data_dir.display(),
        topic = config.kafka.events_topic,
        brokers = config.kafka.brokers,
        ch = config.clickhouse.url,
        db = config.clickhouse.database,
        key = common::WRITE_KEY,
        token = common::TOKEN,
    )
}

/// Waits until the stored p0 has a number of events that `at` accepts, then kills the process
/// with SIGKILL and reaps it.
async fn kill_when(http: &reqwest::Client, mut child: Child, at: impl Fn(u64) -> bool) -> Child {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = http
            .get(format!("http://{}/v1/profiles/p0", child.query))
            .bearer_auth(common::TOKEN)
            .send()
            .await
            .expect("get");
        if r.status() == 200 {
            let body: Value = r.json().await.expect("json");
            if at(body["event_count"].as_u64().unwrap_or(0)) {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scorer never got there"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.child.start_kill().expect("kill -9");
    child.child.wait().await.expect("reaped");
    child
}

#[tokio::test]
async fn a_killed_scorer_ends_exactly_where_an_uninterrupted_one_would() {
    let mut config = common::distributed_config();
    config.scorer.handoff_topic = format!("{}_handoffs", config.kafka.events_topic);
    config.scorer.dead_letter_topic = format!("{}_dead", config.kafka.events_topic);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("leadstream.toml");
    std::fs::write(&file, config_toml(&config)).expect("config");

    // The reference: the same events, applied without interruption.
    let model = Model::default_model();
    let book = ProfileBook::new();
    let events = stream();
    for (i, e) in events.iter().enumerate() {
        let record = LogRecord::new("acme", serde_json::from_value(e.clone()).expect("event"));
        book.apply(
            &record,
            Some((0, i as i64)),
            &model,
            &Settings::default(),
            T0,
        );
    }

    let http = reqwest::Client::new();
    let first = spawn(&file).await;
    for chunk in events.chunks(10) {
        let r = http
            .post(format!("http://{}/v1/batch", first.collector))
            .basic_auth(common::WRITE_KEY, Some(""))
            .json(&json!({ "batch": chunk }))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }
    // The broker has every acknowledged event (read back by a separate consumer group).
    {
        let mut reader_config = config.kafka.clone();
        reader_config.consumer_group = common::unique("topic_reader");
        let mut reader =
            leadstream_platform::log::kafka::KafkaConsumer::new(&reader_config).expect("reader");
        let mut ids = BTreeSet::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while ids.len() < events.len() && tokio::time::Instant::now() < deadline {
            for d in reader
                .poll(500, Duration::from_millis(500))
                .await
                .expect("poll")
            {
                let r = LogRecord::decode(&d.payload).expect("decodes");
                ids.insert(r.event.message_id.expect("id"));
            }
        }
        assert_eq!(
            ids.len(),
            events.len(),
            "the topic holds every acknowledged event"
        );
    }
    // Kill -9 twice at different points (right after the first write; then half-way through
    // p0's events), each time restarting on the same data, broker and database.
    let first = kill_when(&http, first, |count| count > 0).await;
    drop(first);
    let second = spawn(&file).await;
    let second = kill_when(&http, second, |count| count >= 30).await;
    drop(second);

    let second = spawn(&file).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    for p in 0..5 {
        let id = format!("p{p}");
        let want = book.get("acme", &id, &model).expect("reference");
        let mut last = Value::Null;
        let got: Value = loop {
            let r = http
                .get(format!("http://{}/v1/profiles/{id}", second.query))
                .bearer_auth(common::TOKEN)
                .send()
                .await
                .expect("get");
            if r.status() == 200 {
                let body: Value = r.json().await.expect("json");
                if body["event_count"] == want.event_count {
                    break body;
                }
                last = body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} never caught up: want {} events, last {last}",
                want.event_count
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(got["counts"], json!(want.counts), "{id}");
        assert_eq!(got["scores"], json!(want.scores), "{id}");
        assert_eq!(got["lifecycle_stage"], json!(want.lifecycle_stage), "{id}");
        assert_eq!(got["handoffs"], json!(want.handoffs), "{id}");
        assert_eq!(got["grade"], json!(want.grade), "{id}");
        // Every explained change is stored once: they add up to the score.
        let history: Value = http
            .get(format!(
                "http://{}/v1/profiles/{id}/scores/history?limit=10000&score=engagement",
                second.query
            ))
            .bearer_auth(common::TOKEN)
            .send()
            .await
            .expect("history")
            .json()
            .await
            .expect("json");
        let sum = common::points_sum(&history);
        assert!(
            (sum - want.scores["engagement"]).abs() < 0.02,
            "{id}: changes add up to {sum}, the score is {}",
            want.scores["engagement"]
        );
    }

    // Hand-offs: every crossing of the reference is on the hand-off topic, under its key.
    let want_keys: BTreeSet<String> = (0..5)
        .flat_map(|p| {
            let id = format!("p{p}");
            let n = book.get("acme", &id, &model).expect("reference").handoffs;
            (1..=n).map(move |c| LeadQualified::idempotency_key("acme", &id, c))
        })
        .collect();
    assert!(!want_keys.is_empty(), "the stream qualifies somebody");
    let backends = Backends::new(config.clone());
    let mut reader = backends
        .side_consumer(SideLog::Handoffs, &common::unique("handoff_reader"))
        .await
        .expect("reader");
    let mut got_keys: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got_keys.len() < want_keys.len() && tokio::time::Instant::now() < deadline {
        for d in reader
            .poll(100, Duration::from_millis(500))
            .await
            .expect("poll")
        {
            let v: Value = serde_json::from_slice(&d.payload).expect("json");
            if v["type"] == "lead.activity" {
                // What handed-over leads did next, for the CRM.
                continue;
            }
            let h: LeadQualified = serde_json::from_value(v).expect("lead.qualified");
            assert_eq!(h.record_type, "lead.qualified");
            assert!(h.score >= h.threshold, "{h:?}");
            assert!(!h.top_contributions.is_empty(), "{h:?}");
            *got_keys.entry(h.idempotency_key).or_default() += 1;
        }
    }
    assert_eq!(
        got_keys.keys().cloned().collect::<BTreeSet<_>>(),
        want_keys,
        "one hand-off per crossing (a repeat after the kill carries the same key)"
    );

    let mut second = second;
    second.child.start_kill().expect("kill");
    let _ = second.child.wait().await;
    drop(reader);
    // Topics stay (scripts/services.sh explains why); the database goes.
    common::drop_database(&config.clickhouse).await;
}
