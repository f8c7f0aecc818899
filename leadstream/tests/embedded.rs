//! The slice in embedded mode: a Segment batch in → the embedded log → a scored profile in the
//! local Parquet store → `GET /v1/profiles/{id}`; and the durability of the embedded log against
//! `kill -9` of the real binary.

mod common;

use std::process::Stdio;
use std::time::Duration;

use leadstream_platform::testing::policy_and_nice;
use serde_json::json;

#[tokio::test]
async fn batch_to_profile_in_embedded_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = common::start(common::embedded_config(dir.path())).await;

    let (status, resp) = running.post_batch(&common::slice_batch()).await;
    assert_eq!(status, 200, "one bad event, the rest accepted: {resp}");
    assert_eq!(resp["accepted"], 5);
    assert_eq!(resp["rejected"][0]["index"], 4);
    assert_eq!(resp["rejected"][0]["field"], "batch[4].userId");

    let profile = running
        .wait_for_profile("ada", |p| p["event_count"] == 4)
        .await;
    common::assert_slice_profile(&profile);
    running
        .wait_for_profile("visitor-7", |p| p["event_count"] == 1)
        .await;

    // Tokens are scoped: another workspace's token does not see acme's people; no token is 401.
    let (status, body) = running.get_profile("ada", common::OTHER_TOKEN).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = running.get_profile("ada", "tok_not_a_real_token_000").await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = running.get_profile("nobody", common::TOKEN).await;
    assert_eq!(status, 404);
    running.stop().await;

    // After a restart the profile is still there and nothing is counted twice.
    let running = common::start(common::embedded_config(dir.path())).await;
    let (status, body) = running.get_profile("ada", common::TOKEN).await;
    assert_eq!(status, 200);
    common::assert_slice_profile(&body);
    running
        .post_batch(&json!({"batch": [{"type": "track", "userId": "ada", "event": "Form Submitted", "properties": {"form_id": "demo"}}]}))
        .await;
    let p = running
        .wait_for_profile("ada", |p| p["event_count"] == 5)
        .await;
    assert_eq!(
        p["score"], 29.0,
        "form fill 10 on top of the slice's 19: {p}"
    );
    assert_eq!(p["scores"]["buying_intent"], 35.0, "the demo request: {p}");
    running.stop().await;
}

struct Child {
    child: tokio::process::Child,
    collector: String,
    query: String,
}

/// `cpu`: the scorer's CPU share (`scorer.cpu`), the default without one.
async fn spawn_leadstream(
    data_dir: &std::path::Path,
    flush_interval_ms: u64,
    cpu: Option<&str>,
) -> (Child, Option<(String, String)>) {
    let (cp, qp) = (
        leadstream_platform::testing::free_port(),
        leadstream_platform::testing::free_port(),
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadstream"))
        .args(["serve", "--data-dir"])
        .arg(data_dir)
        .args([
            "--collector-listen",
            &format!("127.0.0.1:{cp}"),
            "--query-listen",
            &format!("127.0.0.1:{qp}"),
        ])
        .env(
            "LEADSTREAM__SCORER__FLUSH_INTERVAL_MS",
            flush_interval_ms.to_string(),
        )
        .envs(cpu.map(|cpu| ("LEADSTREAM__SCORER__CPU", cpu)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn leadstream");
    // Read stdout until "is up", collecting the credentials printed on first start.
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut key, mut token) = (None, None);
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if line.contains("write key") {
                key = line.split_whitespace().last().map(str::to_string);
            }
            if line.contains("API token") {
                token = line.split_whitespace().last().map(str::to_string);
            }
            if line.contains("leadstream is up") {
                return;
            }
        }
        panic!("leadstream exited before it was up");
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("leadstream starts");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let creds = key.zip(token);
    (
        Child {
            child,
            collector: format!("127.0.0.1:{cp}"),
            query: format!("127.0.0.1:{qp}"),
        },
        creds,
    )
}

#[tokio::test]
async fn acknowledged_events_survive_kill_dash_nine() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The scorer does not flush in this first life: everything acknowledged lives only in the log.
    let (mut first, creds) = spawn_leadstream(dir.path(), 3_600_000, None).await;
    let (key, token) = creds.expect("first start prints the default workspace's credentials");
    let http = reqwest::Client::new();
    let mut acked = 0;
    for i in 0..20 {
        let body = json!({"batch": [
            {"type": "track", "userId": "grace", "event": "Page Viewed", "messageId": format!("m-{i}-a")},
            {"type": "track", "userId": "grace", "event": "Email Opened", "properties": {"email_id": "e1"}, "messageId": format!("m-{i}-b")}
        ]});
        let r = http
            .post(format!("http://{}/v1/batch", first.collector))
            .basic_auth(&key, Some(""))
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
        acked += 2;
    }
    // By default the scorer's thread runs at SCHED_IDLE (policy 5) …
    let pid = first.child.id().expect("pid");
    assert_eq!(scorer_thread(pid).await.0, "5");
    // … and its request workers keep the priority the process was started with (this test's).
    let started_with = policy_and_nice(std::path::Path::new("/proc/thread-self/stat"));
    let workers = threads(pid, "tokio-rt-worker");
    assert!(
        !workers.is_empty() && workers.iter().all(|w| *w == started_with),
        "{workers:?} against {started_with:?}"
    );
    first.child.start_kill().expect("kill -9");
    first.child.wait().await.expect("reaped");

    // Second life: the persisted cursor replays the log; every acknowledged event is scored once.
    let (second, creds) = spawn_leadstream(dir.path(), 100, Some("lower")).await;
    assert!(
        creds.is_none(),
        "the default workspace is created only once"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let profile = loop {
        let r = http
            .get(format!("http://{}/v1/profiles/grace", second.query))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        if r.status() == 200 {
            let p: serde_json::Value = r.json().await.expect("json");
            if p["event_count"] == acked {
                break p;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "acknowledged events were lost"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(profile["counts"]["page_viewed"], 20);
    assert_eq!(profile["counts"]["email_opened"], 20);
    // `scorer.cpu = "lower"`: the normal policy at nice 10.
    let pid = second.child.id().expect("pid");
    assert_eq!(
        scorer_thread(pid).await,
        ("0".to_string(), "10".to_string())
    );

    // A graceful stop commits the cursor: a third life does not score anything twice.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let mut second = second;
    let status = tokio::time::timeout(Duration::from_secs(30), second.child.wait())
        .await
        .expect("stops")
        .expect("wait");
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    let (third, _) = spawn_leadstream(dir.path(), 100, None).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let r = http
        .get(format!("http://{}/v1/profiles/grace", third.query))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    let p: serde_json::Value = r.json().await.expect("json");
    assert_eq!(p["event_count"], acked);
    drop(third);
    // Whatever the umask this test runs under, the data directory and everything in it (log,
    // store, registry, signing key, failed events) are the owner's only.
    assert_owner_only(dir.path());
}

/// The policy and nice value of `pid`'s scorer thread, once it has started (the process says it
/// is up before the scorer's thread exists).
async fn scorer_thread(pid: u32) -> (String, String) {
    for _ in 0..100 {
        if let [one] = threads(pid, "scorer").as_slice() {
            return one.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no single scorer thread in process {pid}");
}

/// The scheduling policy and nice value of each of `pid`'s threads named `name`.
fn threads(pid: u32, name: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let task = task.expect("task").path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        out.push(policy_and_nice(&task.join("stat")));
    }
    out
}

fn assert_owner_only(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut seen = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        seen += 1;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                stack.push(entry.expect("entry").path());
            }
        }
    }
    assert!(
        seen > 5,
        "the data directory holds the log, the store and the registry"
    );
}
