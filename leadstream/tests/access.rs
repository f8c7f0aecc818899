//! Access to the query API, in both modes: read-only tokens query but change nothing (403 with
//! the JSON error naming `Authorization`); read-write tokens issue and revoke tokens through the
//! API; issued tokens are kept hashed, work at once, stop at once when revoked, and never reach
//! another workspace.

mod common;

use reqwest::Method;
use serde_json::{Value, json};

async fn call(
    run: &common::Running,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
    let (status, _, bytes) = run.call(method, path, token, body).await;
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn check(run: &common::Running, data_dir: Option<&std::path::Path>) {
    // The slice batch holds one event without ids: the rest is accepted.
    let (status, body) = run.post_batch(&common::slice_batch()).await;
    assert_eq!((status, &body["accepted"]), (200, &json!(5)), "{body}");
    run.wait_for_profile("ada", |p| p["event_count"].as_u64() >= Some(4))
        .await;
    let segment = json!({"name": "Hot", "definition": {"score": {"gte": 1}}});

    // A read-only token from the config: queries yes, changes no.
    let read = common::READ_TOKEN;
    for (method, path, body) in [
        (Method::GET, "/v1/profiles/ada", None),
        (Method::GET, "/v1/segments", None),
        (
            Method::POST,
            "/v1/segments/preview",
            Some(json!({"segment": {"score": {"gte": 1}}})),
        ),
        (Method::POST, "/v1/rfm", Some(json!({}))),
    ] {
        let (status, b) = call(run, method, path, read, body).await;
        assert_eq!(status, 200, "{path}: {b}");
    }
    for (method, path, body) in [
        (Method::POST, "/v1/segments", Some(segment.clone())),
        (
            Method::POST,
            "/v1/lists",
            Some(json!({"name": "L", "entity": "people"})),
        ),
        (Method::POST, "/v1/profiles/ada/won", Some(json!({}))),
        (
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "t", "scope": "read"})),
        ),
        (Method::GET, "/v1/tokens", None),
    ] {
        let (status, e) = call(run, method, path, read, body).await;
        assert_eq!(
            (status, &e["error"]["code"], &e["error"]["field"]),
            (403, &json!("forbidden"), &json!("Authorization")),
            "{path}: {e}"
        );
    }

    // Tokens issued through the API.
    let (status, issued) = call(
        run,
        Method::POST,
        "/v1/tokens",
        common::TOKEN,
        Some(json!({"name": "dashboard", "scope": "read"})),
    )
    .await;
    assert_eq!(status, 201, "{issued}");
    let reader = issued["token"].as_str().expect("token").to_string();
    assert!(reader.starts_with("lsk_acme."), "{reader}");
    let (status, writer) = call(
        run,
        Method::POST,
        "/v1/tokens",
        common::TOKEN,
        Some(json!({"name": "sync job", "scope": "read_write"})),
    )
    .await;
    assert_eq!(status, 201, "{writer}");
    let writer_token = writer["token"].as_str().expect("token").to_string();
    let (status, e) = call(
        run,
        Method::POST,
        "/v1/tokens",
        common::TOKEN,
        Some(json!({"name": "x", "scope": "admin"})),
    )
    .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (400, &json!("scope")),
        "{e}"
    );
    let (status, _) = call(run, Method::GET, "/v1/profiles/ada", &reader, None).await;
    assert_eq!(status, 200);
    let (status, _) = call(
        run,
        Method::POST,
        "/v1/segments",
        &reader,
        Some(segment.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let (status, made) = call(
        run,
        Method::POST,
        "/v1/segments",
        &writer_token,
        Some(segment.clone()),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let (_, listed) = call(run, Method::GET, "/v1/tokens", &writer_token, None).await;
    let tokens = listed["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 2, "{listed}");
    assert!(tokens.iter().all(|t| t.get("token").is_none()), "{listed}");
    assert_eq!(
        tokens
            .iter()
            .find(|t| t["name"] == "dashboard")
            .expect("dashboard")["hint"],
        json!(&reader[reader.len() - 4..])
    );
    // The same secret under another workspace's name is nobody.
    let forged = reader.replacen("lsk_acme.", "lsk_globex.", 1);
    let (status, _) = call(run, Method::GET, "/v1/segments", &forged, None).await;
    assert_eq!(status, 401);
    // The other workspace sees nothing of acme's, and its token is not acme's.
    let (_, theirs) = call(run, Method::GET, "/v1/segments", common::OTHER_TOKEN, None).await;
    assert_eq!(theirs, json!({"segments": []}));
    let (status, _) = call(
        run,
        Method::GET,
        "/v1/profiles/ada",
        common::OTHER_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Revoked: gone at once.
    let (status, _) = call(
        run,
        Method::DELETE,
        &format!("/v1/tokens/{}", issued["id"].as_str().expect("id")),
        &writer_token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, e) = call(run, Method::GET, "/v1/profiles/ada", &reader, None).await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (401, &json!("Authorization")),
        "{e}"
    );
    for bad in ["", "lsk_", "lsk_acme.short", "Bearer-less"] {
        let (status, _) = call(run, Method::GET, "/v1/segments", bad, None).await;
        assert_eq!(status, 401, "{bad}");
    }
    // The OpenAPI document needs no token.
    let r = reqwest::get(format!("http://{}/openapi.json", run.query))
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    let doc: Value = r.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["paths"]["/v1/tokens"]["post"]["x-scope"], "read_write");
    // Kept hashed: no file of the embedded store holds a token in the clear.
    if let Some(dir) = data_dir {
        for entry in walk(dir) {
            let bytes = std::fs::read(&entry).expect("read");
            for t in [&reader, &writer_token] {
                assert!(
                    !bytes.windows(t.len()).any(|w| w == t.as_bytes()),
                    "{} holds a token",
                    entry.display()
                );
            }
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn scopes_and_issued_tokens_in_embedded_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = common::start(common::embedded_config(dir.path())).await;
    check(&running, Some(dir.path())).await;
    running.stop().await;
}

#[tokio::test]
async fn scopes_and_issued_tokens_on_kafka_and_clickhouse() {
    let config = common::distributed_config();
    let running = common::start(config.clone()).await;
    check(&running, None).await;
    running.stop().await;
    common::drop_database(&config.clickhouse).await;
}
