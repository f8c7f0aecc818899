//! `leadstream replay`: the store loses everything (the embedded store's folder removed; the
//! ClickHouse database dropped) after the scorer applied a stream of two workspaces' events
//! (anonymous visits identified, qualifications handed to sales). The `leadstream` binary replays
//! one workspace from the log: that workspace's profiles, events, score changes, hand-offs and
//! identities come back exactly as they were, the other workspace stays lost until it is replayed
//! too, a second replay writes nothing twice, the scorer started afterwards goes on from where it
//! was, and a replay beside a running scorer is refused. On the embedded default and on Kafka
//! (tansu) with ClickHouse.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use leadstream_platform::config::Config;
use leadstream_platform::store::Store;
use leadstream_platform::{Backends, Mode};
use serde_json::{Value, json};

const PEOPLE: usize = 24;
const GLOBEX_KEY: &str = "wk_e2e_globex_0001";

/// Each person's anonymous visits, then the identify that ties them to the person, then their
/// activity: every other person does enough to be handed to sales.
fn batches() -> Vec<Value> {
    let (mut visits, mut identifies, mut activity) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..PEOPLE {
        let (dev, user) = (format!("dev-{i}"), format!("user-{i}"));
        visits.push(json!({"type": "page", "anonymousId": dev, "messageId": format!("v1-{i}"), "context": {"page": {"url": "https://acme.io/pricing"}}}));
        visits.push(json!({"type": "page", "anonymousId": dev, "messageId": format!("v2-{i}"), "context": {"page": {"url": "https://acme.io/docs"}}}));
        identifies.push(json!({"type": "identify", "userId": user, "anonymousId": dev, "messageId": format!("id-{i}"), "traits": {"email": format!("{user}@corp.io"), "title": "VP Marketing", "company_size": 500}}));
        activity.push(json!({"type": "track", "userId": user, "event": "Form Submitted", "messageId": format!("f-{i}"), "properties": {"form_id": "contact"}}));
        if i % 2 == 0 {
            for (n, event) in ["Webinar Registered", "Webinar Attended", "Webinar Attended"]
                .iter()
                .enumerate()
            {
                activity.push(json!({"type": "track", "userId": user, "event": event, "messageId": format!("w{n}-{i}"), "properties": {"webinar_id": format!("w{n}")}}));
            }
            activity.push(json!({"type": "track", "userId": user, "event": "Form Submitted", "messageId": format!("g-{i}"), "properties": {"form_id": "demo-request"}}));
        }
    }
    vec![
        json!({"batch": visits}),
        json!({"batch": identifies}),
        json!({"batch": activity}),
    ]
}

/// Events each person ends with: two visits, the identify, the activity.
fn events_of(i: usize) -> u64 {
    if i.is_multiple_of(2) { 8 } else { 4 }
}

/// Globex's few people, to tell a workspace's replay from the other's.
fn globex_batch() -> Value {
    let batch: Vec<Value> = (0..4)
        .map(|i| json!({"type": "track", "userId": format!("g-{i}"), "event": "File Downloaded", "messageId": format!("gx-{i}"), "properties": {"file_name": "guide.pdf"}}))
        .collect();
    json!({ "batch": batch })
}

async fn post(running: &common::Running, key: &str, body: &Value) {
    let r = running
        .http
        .post(format!("http://{}/v1/batch", running.collector))
        .basic_auth(key, Some(""))
        .json(body)
        .send()
        .await
        .expect("post");
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

/// Sends the stream in order, as a site would, and waits until the scorer applied all of it.
async fn stream(running: &common::Running) {
    for batch in batches() {
        post(running, common::WRITE_KEY, &batch).await;
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    post(running, GLOBEX_KEY, &globex_batch()).await;
    for i in 0..PEOPLE {
        let want = events_of(i);
        running
            .wait_for_profile(&format!("user-{i}"), |p| p["event_count"] == want)
            .await;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, _) = running.get_profile("g-3", common::OTHER_TOKEN).await;
        if status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "globex never applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Everything the store holds of `workspace` that comes from the log, without what depends on
/// when it was written.
async fn stored(store: &dyn Store, workspace: &str) -> Value {
    let mut profiles = BTreeMap::new();
    let mut changes = BTreeMap::new();
    let mut handoffs = BTreeMap::new();
    for p in store.workspace_profiles(workspace).await.expect("profiles") {
        let id = p.profile_id.clone();
        profiles.insert(
            id.clone(),
            leadstream_platform::testing::profile_essence(&p),
        );
        let mut rows: Vec<Value> = store
            .score_changes(workspace, &id, 1000)
            .await
            .expect("score changes")
            .into_iter()
            .map(|c| json!([c.at_ms, c.message_id, c.seq, c.rule, c.points, c.after]))
            .collect();
        rows.sort_by_key(|v| v.to_string());
        changes.insert(id.clone(), rows);
        let h: Vec<Value> = store
            .handoffs(workspace, &id)
            .await
            .expect("handoffs")
            .into_iter()
            .map(|h| json!([h.crossing, h.qualified_at_ms, h.score, h.grade]))
            .collect();
        if !h.is_empty() {
            handoffs.insert(id, h);
        }
    }
    let mut events: Vec<String> = store
        .events(workspace, 0, i64::MAX, 100_000)
        .await
        .expect("events")
        .into_iter()
        .map(|e| format!("{}/{}", e.profile_id, e.message_id))
        .collect();
    events.sort();
    let mut identities: Vec<String> = store
        .identities(workspace)
        .await
        .expect("identities")
        .into_iter()
        .map(|i| format!("{}->{}", i.id, i.profile_id))
        .collect();
    identities.sort();
    json!({
        "profiles": profiles,
        "score_changes": changes,
        "handoffs": handoffs,
        "events": events,
        "identities": identities,
    })
}

async fn store_of(config: &Config) -> Arc<dyn Store> {
    Backends::new(config.clone()).store().await.expect("store")
}

/// `leadstream replay --config FILE ARGS… --json`: (exit code, the report or stderr).
async fn replay(file: &Path, args: &[&str], stopped: bool) -> (i32, Value, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadstream"))
        .arg("replay")
        .arg("--config")
        .arg(file)
        .args(args)
        .arg("--json")
        // tansu cannot describe consumer groups: the operator's word that the scorers are
        // stopped (Apache Kafka answers, and the replay checks the members itself).
        .args(if stopped {
            &["--scorers-stopped"][..]
        } else {
            &[][..]
        })
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run leadstream replay");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// The config as the file an operator would point the CLI at.
fn write_config(dir: &Path, config: &Config) -> std::path::PathBuf {
    let file = dir.join("leadstream.toml");
    std::fs::write(&file, toml::to_string(config).expect("config toml")).expect("write config");
    let back = Config::load(&file, true).expect("the written config loads");
    assert_eq!(back.data_dir, config.data_dir);
    file
}

async fn lose_everything(config: &Config) {
    match config.mode {
        Mode::Embedded => {
            std::fs::remove_dir_all(config.data_dir.join("store")).expect("remove the store")
        }
        Mode::Distributed => common::drop_database(&config.clickhouse).await,
    }
}

async fn check(config: Config, dir: &Path) {
    let file = write_config(dir, &config);
    let running = common::start(config.clone()).await;
    stream(&running).await;

    // Beside a running scorer, a replay is refused and reads nothing.
    let (code, _, stderr) = replay(&file, &["--workspace", "acme"], false).await;
    assert_ne!(code, 0, "a replay beside a running scorer must be refused");
    let why = match config.mode {
        Mode::Embedded => "stop it before replaying",
        Mode::Distributed => "stop every scorer before replaying",
    };
    assert!(stderr.contains(why), "{stderr}");
    running.stop().await;

    let before_acme = stored(store_of(&config).await.as_ref(), "acme").await;
    let before_globex = stored(store_of(&config).await.as_ref(), "globex").await;
    assert_eq!(
        before_acme["profiles"].as_object().expect("map").len(),
        PEOPLE * 2,
        "{before_acme}"
    );
    assert!(
        before_acme["handoffs"].as_object().expect("map").len() >= PEOPLE / 2,
        "the stream hands leads to sales: {}",
        before_acme["handoffs"]
    );
    assert_eq!(
        before_acme["identities"].as_array().expect("ids").len(),
        PEOPLE
    );
    assert_eq!(
        before_acme["events"].as_array().expect("events").len(),
        (0..PEOPLE).map(|i| events_of(i) as usize).sum::<usize>()
    );

    lose_everything(&config).await;
    let empty = stored(store_of(&config).await.as_ref(), "acme").await;
    assert_eq!(empty["events"], json!([]), "the loss took the rows");

    // A dry run says what it would read and writes nothing.
    let (code, plan, stderr) = replay(&file, &["--workspace", "acme", "--dry-run"], true).await;
    assert_eq!(code, 0, "{stderr}");
    let total: i64 = plan["plan"]["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| s["end"].as_i64().unwrap_or(0) - s["start"].as_i64().unwrap_or(0))
        .sum();
    assert!(total > 0, "{plan}");
    assert_eq!(plan["read"], 0, "{plan}");
    assert_eq!(
        stored(store_of(&config).await.as_ref(), "acme").await,
        empty
    );

    // The replay of acme brings acme back, exactly, and only acme.
    let (code, report, stderr) = replay(&file, &["--workspace", "acme"], true).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["read"].as_i64(), Some(total), "{report}");
    assert!(report["applied"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(
        stored(store_of(&config).await.as_ref(), "acme").await,
        before_acme
    );
    assert_eq!(
        stored(store_of(&config).await.as_ref(), "globex").await["profiles"],
        json!({}),
        "another workspace's replay leaves globex alone"
    );

    // Again: everything is in the store already, nothing is written twice.
    let (code, report, stderr) = replay(&file, &["--workspace", "acme"], true).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["applied"], 0, "{report}");
    assert!(report["skipped"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(
        stored(store_of(&config).await.as_ref(), "acme").await,
        before_acme
    );

    let (code, _, stderr) = replay(&file, &["--workspace", "globex"], true).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stored(store_of(&config).await.as_ref(), "globex").await,
        before_globex
    );

    let (code, _, stderr) = replay(&file, &["--workspace", "initech"], true).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("no workspace `initech`"), "{stderr}");

    // The scorer goes on from where it was: what it had is not applied again, the next event
    // lands on the restored profile.
    let running = common::start(config.clone()).await;
    post(
        &running,
        common::WRITE_KEY,
        &json!({"batch": [{"type": "track", "userId": "user-1", "event": "Webinar Registered", "messageId": "after-1", "properties": {"webinar_id": "w9"}}]}),
    )
    .await;
    let p = running
        .wait_for_profile("user-1", |p| p["event_count"] == events_of(1) + 1)
        .await;
    assert_eq!(p["merged_ids"], json!(["dev-1"]), "{p}");
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    running.stop().await;
    let after = stored(store_of(&config).await.as_ref(), "acme").await;
    assert_eq!(
        after["events"].as_array().expect("events").len(),
        before_acme["events"].as_array().expect("events").len() + 1,
        "nothing applied twice after the replay"
    );
    assert_eq!(
        after["profiles"]["user-0"],
        before_acme["profiles"]["user-0"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_embedded_store_comes_back_from_the_log() {
    let dir = tempfile::tempdir().expect("dir");
    let config = common::embedded_config(&dir.path().join("data"));
    check(config, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_clickhouse_database_comes_back_from_the_log() {
    let dir = tempfile::tempdir().expect("dir");
    let config = common::distributed_config();
    check(config.clone(), dir.path()).await;
    common::drop_database(&config.clickhouse).await;
}

/// Ctrl-C during a long replay writes what was read and exits 130 saying so; running the same
/// command again finishes it, and the store ends exactly as before the loss.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_replay_goes_on_when_run_again() {
    const MANY: usize = 400;
    const EACH: usize = 40;
    let dir = tempfile::tempdir().expect("dir");
    let mut config = common::embedded_config(&dir.path().join("data"));
    // Flushes of 2,000 events: the replay writes in several steps, so it can be interrupted
    // between them (the default, 50,000, would write these 16,000 events at once).
    config.scorer.flush_max_events = 2_000;
    let file = write_config(dir.path(), &config);
    let running = common::start(config.clone()).await;
    for chunk in 0..MANY / 50 {
        let batch: Vec<Value> = (chunk * 50..(chunk + 1) * 50)
            .flat_map(|i| {
                (0..EACH).map(move |n| json!({"type": "track", "userId": format!("p-{i}"), "event": "Webinar Registered", "messageId": format!("m-{i}-{n}"), "properties": {"webinar_id": format!("w{n}")}}))
            })
            .collect();
        post(&running, common::WRITE_KEY, &json!({ "batch": batch })).await;
    }
    for i in (0..MANY).step_by(37).chain([MANY - 1]) {
        running
            .wait_for_profile(&format!("p-{i}"), |p| p["event_count"] == EACH as u64)
            .await;
    }
    running.stop().await;
    let before = stored(store_of(&config).await.as_ref(), "acme").await;
    lose_everything(&config).await;

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadstream"))
        .args(["replay", "--workspace", "acme", "--json", "--config"])
        .arg(&file)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn replay");
    // Once it has written some of it (seen in the folder: opening the store from a second
    // process would clear the writer's files in progress).
    let events_dir = config.data_dir.join("store").join("events");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let written = std::fs::read_dir(&events_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
                    .count()
            })
            .unwrap_or(0);
        if written > 0 {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().await.expect("output");
            panic!(
                "the replay ended before it was interrupted ({status}): {} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replay wrote nothing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let pid = child.id().expect("pid");
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill -INT");
    let out = child.wait_with_output().await.expect("replay output");
    let report: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{report} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["interrupted"], true, "{report}");
    let total = (MANY * EACH) as u64;
    assert!(report["read"].as_u64().unwrap_or(0) < total, "{report}");

    let (code, report, stderr) = replay(&file, &["--workspace", "acme"], true).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["interrupted"], false, "{report}");
    assert!(
        report["skipped"].as_u64().unwrap_or(0) > 0,
        "the first run's part is skipped: {report}"
    );
    assert_eq!(
        stored(store_of(&config).await.as_ref(), "acme").await,
        before
    );
}
