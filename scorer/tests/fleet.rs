//! Scale-out that loses nothing, against the real broker (tansu) and ClickHouse: three
//! `leadstream-scorer` processes share a 12-partition topic as one consumer group while a stream
//! of events for 200 people flows (anonymous visits identified across partitions, qualifications,
//! a recycle and re-qualifications). One scorer is killed with SIGKILL mid-stream, a new one
//! joins, another is stopped with SIGTERM. The fleet must end with exactly the profiles, scores,
//! stored score changes and hand-offs that one uninterrupted scorer computes for the same events
//! (a fourth process, on a copy of the topic and its own database).
//!
//! `LEADSTREAM_TEST_SCORER_BIN` runs another build of the scorer (an older one, to see this test
//! fail where the fix is missing).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use leadstream_platform::config::{ClickhouseConfig, KafkaConfig};
use leadstream_platform::log::kafka::{KafkaConsumer, KafkaLog, ensure_topic};
use leadstream_platform::log::{EventLog, LogConsumer, LogMessage};
use leadstream_platform::store::ProfileReads;
use leadstream_platform::store::clickhouse::ClickhouseStore;
use leadstream_platform::testing::{clickhouse_url, drop_database, kafka_brokers, unique};
use leadstream_schemas::{LeadQualified, LogRecord};
use serde_json::{Value, json};

const PEOPLE: usize = 200;
/// Waves of the known people's activity, and the one in which sales recycles a third of them.
const WAVES: usize = 16;
const RECYCLE_WAVE: usize = 8;
const PARTITIONS: i32 = 12;
const DAY: i64 = 86_400_000;
const T0: i64 = 1_767_225_600_000;

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time")
        .to_rfc3339()
}

/// Each person's anonymous visits: two pages on a device.
fn visits() -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..PEOPLE {
        let anon = format!("anon-{i}");
        let t = T0 + i as i64;
        out.push(json!({"type": "page", "anonymousId": anon, "messageId": format!("a1-{i}"), "timestamp": at(t), "context": {"page": {"url": "https://acme.io/pricing"}}}));
        out.push(json!({"type": "page", "anonymousId": anon, "messageId": format!("a2-{i}"), "timestamp": at(t + 1000), "context": {"page": {"url": "https://acme.io/docs"}}}));
    }
    out
}

/// The `identify` that ties each device to its person: the merges, which cross partitions for
/// most people. (Sent once the visits are applied, so that every merge hands over the visits'
/// state: an identify that overtakes its visits has them forwarded one by one instead, which
/// counts the same but is another history.)
fn identifies() -> Vec<Value> {
    (0..PEOPLE)
        .map(|i| {
            let (anon, user) = (format!("anon-{i}"), format!("user-{i}"));
            json!({"type": "identify", "userId": user, "anonymousId": anon, "messageId": format!("id-{i}"), "timestamp": at(T0 + i as i64 + 2000), "traits": {"email": format!("{user}@corp.io"), "title": "VP Sales", "company_size": 200 + i}})
        })
        .collect()
}

/// Wave `w` of the known people's activity: one event each, enough over the waves to qualify
/// many of them; a third of them are recycled by sales half-way, and some qualify again.
fn wave(w: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..PEOPLE {
        let user = format!("user-{i}");
        let t = T0 + DAY + (w as i64) * DAY / 4 + i as i64;
        let e = if w == RECYCLE_WAVE && i % 3 == 0 {
            json!({"type": "track", "event": "Lead Recycled", "properties": {"reason": "no_response"}})
        } else {
            match (i + w) % 7 {
                0 => {
                    json!({"type": "track", "event": "File Downloaded", "properties": {"file_name": "guide.pdf"}})
                }
                1 => {
                    json!({"type": "track", "event": "Webinar Registered", "properties": {"webinar_id": "w1"}})
                }
                2 => {
                    json!({"type": "track", "event": "Webinar Attended", "properties": {"webinar_id": "w1"}})
                }
                3 => {
                    json!({"type": "track", "event": "Form Submitted", "properties": {"form_id": "demo-request"}})
                }
                4 => {
                    json!({"type": "track", "event": "Email Clicked", "properties": {"email_id": "e", "link_url": "https://acme.io"}})
                }
                5 => {
                    json!({"type": "page", "context": {"page": {"url": "https://acme.io/pricing"}}})
                }
                _ => {
                    json!({"type": "page", "context": {"page": {"url": format!("https://acme.io/blog/{w}")}}})
                }
            }
        };
        let mut e = e;
        let o = e.as_object_mut().expect("object");
        o.insert("userId".into(), json!(user));
        o.insert("messageId".into(), json!(format!("w{w}-{i}")));
        o.insert("timestamp".into(), json!(at(t)));
        out.push(e);
    }
    out
}

/// One run's topic and database.
struct Site {
    kafka: KafkaConfig,
    clickhouse: ClickhouseConfig,
    log: KafkaLog,
}

impl Site {
    async fn new(name: &str) -> Site {
        Site::with_partitions(name, PARTITIONS).await
    }

    async fn with_partitions(name: &str, partitions: i32) -> Site {
        let mut kafka = KafkaConfig {
            brokers: kafka_brokers(),
            events_topic: unique(&format!("leadstream_fleet_{name}")),
            partitions,
            session_timeout_ms: 6000,
            ..KafkaConfig::default()
        };
        kafka.consumer_group = format!("{}_scorer", kafka.events_topic);
        ensure_topic(&kafka, &kafka.events_topic)
            .await
            .expect("topic");
        let clickhouse = ClickhouseConfig {
            url: clickhouse_url(),
            database: unique(&format!("leadstream_fleet_{name}")),
            ..ClickhouseConfig::default()
        };
        let log = KafkaLog::new(&kafka).expect("producer");
        Site {
            kafka,
            clickhouse,
            log,
        }
    }

    fn config(&self, dir: &Path) -> PathBuf {
        self.config_via(dir, &self.clickhouse.url, "")
    }

    /// A config file reaching ClickHouse at `clickhouse` (`tag` names the file).
    fn config_via(&self, dir: &Path, clickhouse: &str, tag: &str) -> PathBuf {
        let topic = &self.kafka.events_topic;
        let file = dir.join(format!("{topic}{tag}.toml"));
        std::fs::write(
            &file,
            format!(
                r#"mode = "distributed"
data_dir = "{data}"
[scorer]
flush_interval_ms = 100
flush_max_events = 50
handoff_topic = "{topic}_handoffs"
dead_letter_topic = "{topic}_dead"
[ingest]
failed_events_topic = "{topic}_failed"
[kafka]
brokers = "{brokers}"
events_topic = "{topic}"
consumer_group = "{group}"
partitions = {partitions}
session_timeout_ms = 6000
[clickhouse]
url = "{ch}"
database = "{db}"
[[workspaces]]
name = "acme"
write_keys = ["wk_fleet_acme_0001"]
"#,
                data = dir.join(topic).display(),
                brokers = self.kafka.brokers,
                group = self.kafka.consumer_group,
                partitions = self.kafka.partitions,
                ch = clickhouse,
                db = self.clickhouse.database,
            ),
        )
        .expect("config");
        file
    }

    async fn send(&self, events: &[Value]) {
        let messages: Vec<LogMessage> = events
            .iter()
            .map(|e| {
                let record =
                    LogRecord::new("acme", serde_json::from_value(e.clone()).expect("event"));
                LogMessage {
                    key: record.key(),
                    payload: record.encode(),
                }
            })
            .collect();
        self.log.append(messages).await.expect("append");
    }

    async fn store(&self) -> ClickhouseStore {
        ClickhouseStore::connect(&self.clickhouse)
            .await
            .expect("clickhouse")
    }
}

struct Scorer {
    child: tokio::process::Child,
    addr: String,
    /// The events topic it consumes.
    topic: String,
}

fn scorer_bin() -> PathBuf {
    std::env::var_os("LEADSTREAM_TEST_SCORER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_leadstream-scorer")))
}

async fn start(config: &Path) -> Scorer {
    let addr = format!("127.0.0.1:{}", leadstream_platform::testing::free_port());
    let topic = std::fs::read_to_string(config)
        .expect("config")
        .lines()
        .find_map(|l| l.strip_prefix("events_topic = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("events_topic")
        .to_string();
    let child = tokio::process::Command::new(scorer_bin())
        .arg("--config")
        .arg(config)
        .env("LEADSTREAM__SCORER__LISTEN", &addr)
        .stdout(Stdio::null())
        .stderr(
            if std::env::var_os("LEADSTREAM_TEST_CHILD_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            },
        )
        .kill_on_drop(true)
        .spawn()
        .expect("spawn leadstream-scorer");
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scorer never came up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Scorer { child, addr, topic }
}

/// The partitions of the events topic each scorer is assigned
/// (`leadstream_consumer_assigned_partitions`, which older builds have too).
async fn owned(scorers: &[&Scorer]) -> Vec<i64> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for s in scorers {
        let text = match http.get(format!("http://{}/metrics", s.addr)).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let topic = format!("topic=\"{}\"", s.topic);
        out.push(
            text.lines()
                .filter(|l| l.starts_with("leadstream_consumer_assigned_partitions{"))
                .filter(|l| l.contains(&topic))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
                .sum(),
        );
    }
    out
}

/// Waits until these scorers own every one of `PARTITIONS` partitions between them, each some.
async fn wait_shared(scorers: &[&Scorer]) {
    wait_owned(scorers, PARTITIONS).await;
}

/// Waits until these scorers own all `partitions` between them, each some.
async fn wait_owned(scorers: &[&Scorer], partitions: i32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let got = owned(scorers).await;
        if got.iter().sum::<i64>() == i64::from(partitions) && got.iter().all(|&n| n > 0) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the scorers never shared the partitions: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn profiles(store: &ClickhouseStore) -> BTreeMap<String, Value> {
    store
        .workspace_profiles("acme")
        .await
        .unwrap_or_default()
        .iter()
        .map(|p| {
            (
                p.profile_id.clone(),
                leadstream_platform::testing::profile_essence(p),
            )
        })
        .collect()
}

/// Waits until `PEOPLE` profiles in `store` are `what` (`which` tells).
async fn wait_for(store: &ClickhouseStore, whose: &str, what: &str, which: fn(&Value) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let seen = profiles(store).await.values().filter(|p| which(p)).count();
        if seen == PEOPLE {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{whose}: only {seen} of {PEOPLE} {what}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until `store` has every device's two visits.
async fn wait_visits(store: &ClickhouseStore, whose: &str) {
    wait_for(store, whose, "devices' visits applied", |p| {
        p["event_count"] == 2
    })
    .await;
}

/// Waits until every person's merge is absorbed in `store`.
async fn wait_merged(store: &ClickhouseStore, whose: &str) {
    wait_for(store, whose, "merges absorbed", |p| {
        p["merged_ids"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
}

/// Each profile's stored score changes (distinct), as comparable text.
async fn changes(store: &ClickhouseStore, ids: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for id in ids {
        let rows = store
            .score_changes("acme", id, 100_000)
            .await
            .expect("score changes");
        out.insert(
            id.clone(),
            rows.iter()
                .map(|c| {
                    format!(
                        "{} {} {} {} {} {:.2} {:.2} {:.2}",
                        c.at_ms, c.message_id, c.seq, c.score, c.rule, c.points, c.before, c.after
                    )
                })
                .collect(),
        );
    }
    out
}

/// The hand-off keys on a site's hand-off topic, with how often each was sent.
async fn handoff_keys(site: &Site) -> BTreeMap<String, usize> {
    let mut reader = site.kafka.clone();
    reader.consumer_group = unique("fleet_handoff_reader");
    let topic = format!("{}_handoffs", site.kafka.events_topic);
    let mut consumer = KafkaConsumer::for_topic(&reader, &topic).expect("reader");
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    let mut quiet = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while quiet < 6 && tokio::time::Instant::now() < deadline {
        let batch = consumer
            .poll(500, Duration::from_millis(500))
            .await
            .expect("poll");
        if batch.is_empty() && !keys.is_empty() {
            quiet += 1;
        }
        for d in batch {
            quiet = 0;
            let v: Value = serde_json::from_slice(&d.payload).expect("json");
            if v["type"] == "lead.activity" {
                continue;
            }
            let h: LeadQualified = serde_json::from_value(v).expect("lead.qualified");
            *keys.entry(h.idempotency_key).or_default() += 1;
        }
    }
    keys
}

fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test]
async fn three_scorers_crashing_joining_and_leaving_end_where_one_would() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fleet, reference) = (Site::new("fleet").await, Site::new("one").await);
    let (fleet_file, reference_file) = (fleet.config(dir.path()), reference.config(dir.path()));
    let (fleet_store, reference_store) = (fleet.store().await, reference.store().await);

    let one = start(&reference_file).await;
    let a = start(&fleet_file).await;
    let mut b = start(&fleet_file).await;
    let c = start(&fleet_file).await;
    wait_shared(&[&one]).await;
    wait_shared(&[&a, &b, &c]).await;

    // The anonymous visits, then the identifies; SIGKILL one scorer half-way through those, a
    // new one joins.
    for site in [&fleet, &reference] {
        site.send(&visits()).await;
    }
    wait_visits(&reference_store, "the uninterrupted scorer").await;
    wait_visits(&fleet_store, "the fleet").await;
    let ids = identifies();
    let (first, second) = ids.split_at(ids.len() / 2);
    for site in [&fleet, &reference] {
        site.send(first).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut a = a;
    a.child.start_kill().expect("kill -9");
    a.child.wait().await.expect("reaped");
    for site in [&fleet, &reference] {
        site.send(second).await;
    }
    let d = start(&fleet_file).await;
    wait_merged(&reference_store, "the uninterrupted scorer").await;
    wait_merged(&fleet_store, "the fleet").await;

    // The known people's activity; one scorer stops gracefully in the middle of it.
    for w in 0..WAVES {
        let events = wave(w);
        for site in [&fleet, &reference] {
            site.send(&events).await;
        }
        if w == WAVES / 2 {
            sigterm(&b.child);
            let status = tokio::time::timeout(Duration::from_secs(60), b.child.wait())
                .await
                .expect("stops within a minute")
                .expect("reaped");
            assert!(status.success(), "a graceful stop exits 0: {status}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_shared(&[&c, &d]).await;

    // Settle: the fleet catches up with the uninterrupted scorer.
    // Two visits and an identify, then one event a wave.
    let total = PEOPLE as u64 * (3 + WAVES as u64);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let (want, got) = loop {
        let (want, got) = (
            profiles(&reference_store).await,
            profiles(&fleet_store).await,
        );
        let events = |m: &BTreeMap<String, Value>| {
            m.values()
                .filter(|p| p["merged_into"].is_null())
                .map(|p| p["event_count"].as_u64().unwrap_or(0))
                .sum::<u64>()
        };
        if events(&want) == total && want == got {
            break (want, got);
        }
        if tokio::time::Instant::now() >= deadline {
            break (want, got);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(want.len(), 2 * PEOPLE, "every person and every device");
    let differ: Vec<_> = want
        .iter()
        .filter(|(id, p)| got.get(*id) != Some(p))
        .map(|(id, p)| {
            format!(
                "{id}: want {p}\n  got {}",
                got.get(id).cloned().unwrap_or(Value::Null)
            )
        })
        .take(5)
        .collect();
    assert!(
        differ.is_empty() && want.len() == got.len(),
        "the fleet's profiles differ from the uninterrupted scorer's ({} of {}):\n{}",
        want.iter()
            .filter(|(id, p)| got.get(*id) != Some(p))
            .count(),
        want.len(),
        differ.join("\n")
    );
    let qualified = want
        .values()
        .filter(|p| p["handoffs"].as_u64().unwrap_or(0) > 0)
        .count();
    let requalified = want
        .values()
        .filter(|p| p["handoffs"].as_u64().unwrap_or(0) > 1)
        .count();
    assert!(
        qualified > PEOPLE / 4 && requalified > 0,
        "the stream qualifies people ({qualified}) and re-qualifies recycled ones ({requalified})"
    );

    // Every explained change is stored once, the same ones.
    let people: Vec<String> = want.keys().cloned().collect();
    assert_eq!(
        changes(&fleet_store, &people).await,
        changes(&reference_store, &people).await,
        "stored score changes"
    );
    // One hand-off per crossing: the same crossings stored, the same keys on the topic.
    for id in &people {
        let crossings = |rows: Vec<leadstream_platform::store::HandoffRow>| {
            rows.iter().map(|h| h.crossing).collect::<Vec<_>>()
        };
        assert_eq!(
            crossings(fleet_store.handoffs("acme", id).await.expect("handoffs")),
            crossings(
                reference_store
                    .handoffs("acme", id)
                    .await
                    .expect("handoffs")
            ),
            "{id}: stored hand-offs"
        );
    }
    let (got_keys, want_keys) = (handoff_keys(&fleet).await, handoff_keys(&reference).await);
    assert_eq!(
        got_keys.keys().collect::<Vec<_>>(),
        want_keys.keys().collect::<Vec<_>>(),
        "hand-off keys on the topic"
    );

    for mut s in [one, c, d] {
        sigterm(&s.child);
        let _ = tokio::time::timeout(Duration::from_secs(30), s.child.wait()).await;
    }
    drop_database(&fleet.clickhouse).await;
    drop_database(&reference.clickhouse).await;
}

/// A loopback TCP link to `target` that the test cuts and restores (a store outage).
struct Link {
    addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Link {
    async fn start(target: std::net::SocketAddr) -> Link {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let link = Link {
            addr: listener.local_addr().expect("addr"),
            up: Default::default(),
            connections: Default::default(),
        };
        link.up.store(true, std::sync::atomic::Ordering::Release);
        let (up, connections) = (link.up.clone(), link.connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up.load(std::sync::atomic::Ordering::Acquire) {
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().expect("lock").push(task.abort_handle());
            }
        });
        link
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::Release);
        for c in self.connections.lock().expect("lock").drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::Release);
    }
}

async fn ready(scorer: &Scorer) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("http://{}/ready", scorer.addr))
        .send()
        .await
        .expect("ready");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Event counts of the people `user-0..n`.
async fn counts(store: &ClickhouseStore, n: usize) -> Vec<u64> {
    let got = profiles(store).await;
    (0..n)
        .map(|i| {
            got.get(&format!("user-{i}"))
                .and_then(|p| p["event_count"].as_u64())
                .unwrap_or(0)
        })
        .collect()
}

/// A scorer that cannot load the partitions it was assigned (its store is down) applies none of
/// their events and is not ready until it can; then it catches up, and nothing is lost.
#[tokio::test]
async fn a_scorer_that_cannot_load_its_partitions_applies_nothing_and_is_not_ready() {
    const N: usize = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let site = Site::with_partitions("outage", 4).await;
    let target: std::net::SocketAddr = site
        .clickhouse
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("host:port");
    let link = Link::start(target).await;
    let store = site.store().await;
    let event = |i: usize, n: usize| json!({"type": "track", "userId": format!("user-{i}"), "messageId": format!("o{n}-{i}"), "event": "File Downloaded", "properties": {"file_name": "a.pdf"}, "timestamp": at(T0 + (n * 1000 + i) as i64)});
    let x = start(&site.config_via(dir.path(), &format!("http://{}", link.addr), "_x")).await;
    wait_owned(&[&x], 4).await;
    site.send(&(0..N).map(|i| event(i, 0)).collect::<Vec<_>>())
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while counts(&store, N).await.iter().any(|&c| c != 1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "first events stored"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The store goes away for x; a second scorer joins, and x is assigned a share it cannot load.
    link.cut();
    let y = start(&site.config(dir.path())).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let got = owned(&[&x, &y]).await;
        if got[1] > 0 && got[1] < 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "y never got a share: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    site.send(&(0..N).map(|i| event(i, 1)).collect::<Vec<_>>())
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let stuck = loop {
        let got = counts(&store, N).await;
        if got.iter().filter(|&&c| c == 2).count() > 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            break counts(&store, N).await;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "y applies its share: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let behind = stuck.iter().filter(|&&c| c == 1).count();
    assert!(
        behind > 0 && behind < N,
        "y's share applied, x's held back while it cannot load: {stuck:?}"
    );
    assert!(stuck.iter().all(|&c| c == 1 || c == 2), "{stuck:?}");
    let (status, body) = ready(&x).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not loaded")),
        "{body}"
    );
    assert_eq!(ready(&y).await.0, 200);

    // The store is back: x loads its share and catches up; every event counted once.
    link.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = counts(&store, N).await;
        if got.iter().all(|&c| c == 2) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "x catches up: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(ready(&x).await.0, 200);
    for mut s in [x, y] {
        sigterm(&s.child);
        let _ = tokio::time::timeout(Duration::from_secs(30), s.child.wait()).await;
    }
    drop_database(&site.clickhouse).await;
}
