//! Defects found by probing the running process from outside, each with the test that would have
//! caught it, in both modes: one absurd number cannot poison a workspace; exports cannot carry
//! spreadsheet formulas; the query API's answers are neither cached nor sniffed.

mod common;

use reqwest::Method;
use serde_json::{Value, json};

async fn check(run: &common::Running) {
    let (status, body) = run
        .post_batch(&json!({"batch": [
            {"type": "identify", "userId": "mallory", "messageId": "s-1",
             "traits": {"email": "m@evil.example", "company": "=HYPERLINK(\"http://evil.example\",\"x\")", "title": "@SUM(A1)"}},
            // A revenue no order has: kept as a miss, counted as a purchase without value.
            {"type": "track", "userId": "mallory", "event": "Order Completed", "messageId": "s-2",
             "properties": {"order_id": "o", "revenue": 1e307, "currency": "EUR"}},
            {"type": "track", "userId": "mallory", "event": "Order Completed", "messageId": "s-3",
             "properties": {"order_id": "o2", "revenue": 10, "currency": "EUR"}}
        ]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let profile = run
        .wait_for_profile("mallory", |p| p["event_count"] == 3)
        .await;
    assert_eq!(profile["purchases"]["count"], 2, "{profile}");
    assert_eq!(profile["purchases"]["revenue"], 10.0, "{profile}");
    // The workspace keeps answering: the profile's pages, RFM, what-if.
    for path in [
        "/v1/profiles/mallory/timeline",
        "/v1/profiles/mallory/scores/why",
    ] {
        let (status, body) = run.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let as_of = chrono::Utc::now().timestamp_millis() + 60_000;
    let (status, report) = run
        .json(Method::POST, "/v1/rfm", Some(&json!({"as_of": as_of})))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["revenue"], 10.0, "{report}");

    // A segment of everyone with an email, exported as CSV: formulas escaped, JSON lines as is.
    let (status, seg) = run
        .json(
            Method::POST,
            "/v1/segments",
            Some(&json!({"name": "all", "definition": {"score": {"gte": 0}}})),
        )
        .await;
    assert_eq!(status, 201, "{seg}");
    let id = seg["id"].as_str().expect("id");
    let (status, content_type, body) = run
        .call(
            Method::GET,
            &format!("/v1/segments/{id}/export?format=csv"),
            common::TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/csv"));
    let text = String::from_utf8(body).expect("utf-8");
    assert!(
        text.contains("'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")"),
        "{text}"
    );
    assert!(!text.contains(",=HYPERLINK"), "{text}");
    let (_, _, body) = run
        .call(
            Method::GET,
            &format!("/v1/segments/{id}/export?format=jsonl"),
            common::TOKEN,
            None,
        )
        .await;
    let line: Value =
        serde_json::from_slice(body.split(|b| *b == b'\n').next().expect("line")).expect("json");
    assert_eq!(
        line["traits"]["company"], "=HYPERLINK(\"http://evil.example\",\"x\")",
        "{line}"
    );

    // Answers with personal data are not kept by caches, nor sniffed.
    let r = run
        .http
        .get(format!("http://{}/v1/profiles/mallory", run.query))
        .bearer_auth(common::TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = run
        .http
        .get(format!("http://{}/v1/nothing-here", run.query))
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_resists_poison_and_formula_injection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = common::start(common::embedded_config(dir.path())).await;
    check(&run).await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_resists_poison_and_formula_injection() {
    let config = common::distributed_config();
    let clickhouse = config.clickhouse.clone();
    let run = common::start(config).await;
    check(&run).await;
    run.stop().await;
    common::drop_database(&clickhouse).await;
}

/// A stored profile whose state cannot be read is never replaced by an empty one: it stays as
/// stored, and its events are parked in the dead-letter log (nothing lost) until it is repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_stored_state_is_kept_and_its_events_parked() {
    use leadstream_platform::log::LogConsumer;
    use leadstream_platform::store::{ProfileRow, ScorerWrites, WriteBatch};
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store =
            leadstream_platform::store::embedded::EmbeddedStore::open(&dir.path().join("store"))
                .expect("store");
        let mut profile = leadstream_schemas::Profile::new("acme", "zed");
        profile.version = 7;
        profile.event_count = 41;
        let mut row = ProfileRow::from(&profile);
        row.state = "{\"this is not\": a state".into();
        store
            .write(&WriteBatch {
                profiles: vec![row],
                ..WriteBatch::default()
            })
            .await
            .expect("write");
    }
    let run = common::start(common::embedded_config(dir.path())).await;
    let (status, body) = run
        .post_batch(&json!({"batch": [
            {"type": "track", "userId": "zed", "event": "Signed Up", "messageId": "z-1"},
            {"type": "track", "userId": "amy", "event": "Signed Up", "messageId": "a-1"}
        ]}))
        .await;
    assert_eq!(status, 200, "{body}");
    // Others go on; zed's stored profile is what it was.
    run.wait_for_profile("amy", |p| p["event_count"] == 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (status, zed) = run.get_profile("zed", common::TOKEN).await;
    assert_eq!(status, 200, "{zed}");
    assert_eq!(
        (&zed["version"], &zed["event_count"]),
        (&json!(7), &json!(41)),
        "{zed}"
    );
    let metrics = run.metrics().await;
    assert!(
        metrics.contains("leadstream_scorer_profiles_unreadable 1"),
        "{metrics}"
    );
    run.stop().await;
    // The event is in the dead-letter log, keyed by its person, as it was.
    let dead =
        leadstream_platform::log::embedded::EmbeddedLog::open(&dir.path().join("dead-letters"))
            .expect("dead letters");
    let mut consumer = dead.consumer("check").expect("consumer");
    let parked = consumer
        .poll(10, std::time::Duration::from_millis(200))
        .await
        .expect("poll");
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].key.as_deref(), Some(&b"acme/zed"[..]));
    let record = leadstream_schemas::LogRecord::decode(&parked[0].payload).expect("record");
    assert_eq!(record.event.message_id.as_deref(), Some("z-1"));
}

/// The query API's own refusals (an unknown route, a wrong method, a body over the limit) answer
/// in the JSON error shape the README promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_apis_framework_refusals_are_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = common::start(common::embedded_config(dir.path())).await;
    let (status, body) = run.get("/v1/nothing-here").await;
    assert_eq!(
        (status, &body["code"]),
        (404, &json!("not_found")),
        "{body}"
    );
    let (status, body) = run.json(Method::DELETE, "/v1/profiles/ada", None).await;
    assert_eq!(
        (status, &body["code"]),
        (405, &json!("method_not_allowed")),
        "{body}"
    );
    let big = vec![b' '; 3 << 20];
    let (status, content_type, body) = run
        .call(
            Method::POST,
            "/v1/segments/preview",
            common::TOKEN,
            Some(("application/json", big)),
        )
        .await;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(status, 413, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(body["error"]["code"], "body_too_large", "{body}");
    run.stop().await;
}

/// Tiny requests cannot ask for unbounded work: a chain of `in_segment` references is refused
/// once it would inline more than the limit, when saved and when previewed, naming the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_that_expand_past_the_limit_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = common::start(common::embedded_config(dir.path())).await;
    let (status, body) = run
        .json(
            Method::POST,
            "/v1/segments",
            Some(&json!({"name": "l0", "definition": {"trait": "title", "contains": "VP"}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let mut previous = body["id"].as_str().expect("id").to_string();
    // 9, 73 and 585 conditions once inlined: saved.
    for level in 1..=3 {
        let refs: Vec<Value> = (0..8).map(|_| json!({"in_segment": previous})).collect();
        let (status, body) = run
            .json(
                Method::POST,
                "/v1/segments",
                Some(&json!({"name": format!("l{level}"), "definition": {"or": refs}})),
            )
            .await;
        assert_eq!(status, 201, "level {level}: {body}");
        previous = body["id"].as_str().expect("id").to_string();
    }
    // 4,681: refused, when saved and when previewed.
    let refs: Vec<Value> = (0..8).map(|_| json!({"in_segment": previous})).collect();
    let (status, body) = run
        .json(
            Method::POST,
            "/v1/segments",
            Some(&json!({"name": "l4", "definition": {"or": refs.clone()}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("query.segment_max_nodes"),
        "{body}"
    );
    let started = std::time::Instant::now();
    let (status, body) = run
        .json(
            Method::POST,
            "/v1/segments/preview",
            Some(&json!({"segment": {"or": refs}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    // Memberships of a person still answer (every saved segment is within the limit).
    let (status, _) = run.get("/v1/profiles/nobody/memberships").await;
    assert!(status == 200 || status == 404, "{status}");
    run.stop().await;
}

/// Tokens issued through the API expire when asked to, mint email links on the collector, stop at
/// once when revoked, and an address that keeps presenting bad ones gets 429 on both ports (but
/// its events are still taken).
async fn tokens(run: &common::Running) {
    let (status, body) = run
        .json(
            Method::POST,
            "/v1/tokens",
            Some(&json!({"name": "mailer", "scope": "read_write", "expires_in_days": 0})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "expires_in_days", "{body}");
    let (status, issued) = run
        .json(
            Method::POST,
            "/v1/tokens",
            Some(&json!({"name": "mailer", "scope": "read_write", "expires_in_days": 30})),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().expect("token").to_string();
    let in_30_days = chrono::Utc::now().timestamp_millis() + 30 * 86_400_000;
    let expires = issued["expires_ms"].as_i64().expect("expires_ms");
    assert!((in_30_days - expires).abs() < 60_000, "{issued}");

    let mint = |token: String, link: &'static str| {
        let http = run.http.clone();
        let url = format!("http://{}/v1/email/links", run.collector);
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&leadstream_ingest::routes::email::mint_body(
                    "m-1",
                    "u-1",
                    None,
                    &[link],
                ))
                .send()
                .await
                .expect("mint");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, minted) = mint(token.clone(), "https://acme.io/offer").await;
    assert_eq!(status, 200, "{minted}");
    // The link is opaque: neither the recipient nor the target shows in it.
    let tracked = minted["links"][0]["tracked_url"].as_str().expect("link");
    assert!(
        !tracked.contains("u-1") && !tracked.contains("offer"),
        "{tracked}"
    );
    // Not a workspace site: refused, so the collector is no open redirect.
    let (status, body) = mint(token.clone(), "https://evil.example/").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "links[0]", "{body}");

    // Revoked: refused at once on both ports.
    let id = issued["id"].as_str().expect("id");
    let (status, _, _) = run
        .call(
            Method::DELETE,
            &format!("/v1/tokens/{id}"),
            common::TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(mint(token.clone(), "https://acme.io/").await.0, 401);
    let (status, _, _) = run.call(Method::GET, "/v1/segments", &token, None).await;
    assert_eq!(status, 401);

    // Bad tokens from one address: past security.failed_auth_per_minute (30) every bearer
    // request from it answers 429 for the rest of its minute, on both ports, the right token's
    // too. Intake from the same address is not turned away (write keys are public; the address
    // may be an office's).
    let guess = format!("lsk_acme.{}", "0".repeat(48));
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(run.call(Method::GET, "/v1/segments", &guess, None).await.0);
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let (status, _, body) = run
        .call(Method::GET, "/v1/segments", common::TOKEN, None)
        .await;
    assert_eq!(status, 429, "{}", String::from_utf8_lossy(&body));
    assert_eq!(mint(common::TOKEN.into(), "https://acme.io/").await.0, 429);
    let (status, body) = run
        .post_batch(&json!({"batch": [{"type": "track", "userId": "u-429", "event": "x"}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let r = run
        .http
        .get(format!("http://{}/health", run.query))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), 200, "health always answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_issued_tokens_expire_mint_and_failures_are_limited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = common::start(common::embedded_config(dir.path())).await;
    tokens(&run).await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_issued_tokens_expire_mint_and_failures_are_limited() {
    let mut config = common::distributed_config();
    config.ingest.email.signing_keys = vec![leadstream_platform::config::SigningKey {
        id: "k1".into(),
        secret: "security-test-signing-secret-0123456789".into(),
    }];
    let clickhouse = config.clickhouse.clone();
    let run = common::start(config).await;
    tokens(&run).await;
    run.stop().await;
    common::drop_database(&clickhouse).await;
}
