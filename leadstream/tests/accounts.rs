//! Accounts end to end, in both modes: `group` calls tie people to companies, and the query API
//! serves each company's roll-up and the ranking of companies by account score. An anonymous
//! visitor's `group` call follows them into the person they identify as; a person who moves to
//! another company leaves the first.

mod common;

use serde_json::{Value, json};

fn batches() -> Vec<Value> {
    let page = |who: &str, key: &str, url: &str, id: &str| json!({"type": "page", key: who, "context": {"page": {"url": url}}, "messageId": id});
    vec![
        json!({"batch": [
            {"type": "group", "userId": "ann", "groupId": "acme", "traits": {"name": "Acme", "industry": "Retail"}, "messageId": "g1"},
            {"type": "group", "userId": "bob", "groupId": "acme", "traits": {"employees": 250}, "messageId": "g2"},
            {"type": "group", "userId": "cy", "groupId": "acme", "messageId": "g3"},
            {"type": "group", "anonymousId": "dev-1", "groupId": "acme", "messageId": "g4"},
            page("ann", "userId", "https://acme.io/pricing", "p1"),
            page("ann", "userId", "https://acme.io/demo", "p2"),
            page("bob", "userId", "https://acme.io/blog", "p3"),
            page("dev-1", "anonymousId", "https://acme.io/pricing", "p4"),
            {"type": "track", "userId": "bob", "event": "Order Completed", "properties": {"order_id": "o1", "revenue": 99.5, "currency": "EUR"}, "messageId": "o1"},
        ]}),
        json!({"batch": [
            {"type": "identify", "userId": "dee", "anonymousId": "dev-1", "traits": {"email": "dee@acme.io"}, "messageId": "i1"},
            // Cy changes jobs.
            {"type": "group", "userId": "cy", "groupId": "globex", "traits": {"name": "Globex"}, "messageId": "g5"},
        ]}),
    ]
}

async fn check(run: &common::Running) {
    for batch in batches() {
        let (status, body) = run.post_batch(&batch).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // Wait until the last events are scored: dee has the anonymous history, cy is at globex.
    run.wait_for_profile("dee", |p| p["event_count"] == 3 && p["account"] == "acme")
        .await;
    run.wait_for_profile("cy", |p| p["account"] == "globex")
        .await;

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let acme = loop {
        let (status, acme) = run.get("/v1/accounts/acme").await;
        assert_eq!(status, 200, "{acme}");
        if acme["people"] == 3 {
            break acme;
        }
        assert!(tokio::time::Instant::now() < deadline, "{acme}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(acme["account_id"], "acme");
    let mut members: Vec<&str> = acme["top_people"]
        .as_array()
        .expect("top people")
        .iter()
        .map(|m| m["profile_id"].as_str().expect("id"))
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["ann", "bob", "dee"], "{acme}");
    assert_eq!(acme["known_people"], 3, "{acme}");
    assert_eq!(acme["counts"]["page_viewed"], 4, "{acme}");
    assert_eq!(acme["purchases"]["revenue"], 99.5, "{acme}");
    assert_eq!(acme["traits"]["name"], "Acme", "{acme}");
    let score = acme["score"].as_f64().expect("score");
    let people_scores: f64 = acme["top_people"]
        .as_array()
        .expect("top")
        .iter()
        .map(|m| m["score"].as_f64().expect("score"))
        .sum();
    assert!(
        score > 0.0 && (score - people_scores).abs() < 1e-6,
        "{acme}"
    );

    let (status, ranking) = run.get("/v1/accounts?limit=10").await;
    assert_eq!(status, 200, "{ranking}");
    let accounts = ranking["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 2, "{ranking}");
    assert_eq!(accounts[0]["account_id"], "acme", "{ranking}");
    assert_eq!(accounts[0]["people"], 3, "{ranking}");
    assert!((accounts[0]["score"].as_f64().expect("score") - score).abs() < 0.01);
    assert_eq!(accounts[1]["account_id"], "globex", "{ranking}");
    assert_eq!(accounts[1]["name"], "Globex", "{ranking}");
    assert_eq!(accounts[1]["people"], 1, "{ranking}");

    // Segments over the same people: a preview counts them from the store.
    let (status, preview) = run
        .post_query(
            "/v1/segments/preview",
            &json!({"segment": {"and": [{"account": ["acme"]}, {"did": "page_viewed", "within_days": 7}]}, "sample": 2}),
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["count"], 3, "{preview}");
    assert_eq!(preview["sample"], json!(["ann", "bob"]), "{preview}");
    let (status, preview) = run
        .post_query(
            "/v1/segments/preview",
            &json!({"segment": {"account_trait": "name", "eq": "Globex"}}),
        )
        .await;
    assert_eq!(
        (status, &preview["sample"]),
        (200, &json!(["cy"])),
        "{preview}"
    );
    let (status, bad) = run
        .post_query(
            "/v1/segments/preview",
            &json!({"segment": {"or": [{"stage": ["mql"]}, {"score": {"gte": "high"}}]}}),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["field"], "segment.or[1].score.gte", "{bad}");

    let (status, body) = run.get("/v1/accounts/initech").await;
    assert_eq!(status, 404, "{body}");
    // Bad query strings answer in the API's JSON error shape, naming the parameter.
    for (query, field) in [
        ("/v1/accounts?limit=0", "limit"),
        ("/v1/accounts?limit=ten", "limit"),
        ("/v1/accounts?limt=5", "limt"),
        ("/v1/profiles/ann/scores/history?limit=-1", "limit"),
        (
            "/v1/profiles/ann/scores/why?score=nope&score=twice",
            "score",
        ),
        ("/v1/webhooks/deliveries?limit=x", "limit"),
    ] {
        let (status, body) = run.get(query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
}

#[tokio::test]
async fn accounts_roll_up_their_people_in_embedded_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = common::start(common::embedded_config(dir.path())).await;
    check(&running).await;
    running.stop().await;
}

#[tokio::test]
async fn accounts_roll_up_their_people_on_kafka_and_clickhouse() {
    let config = common::distributed_config();
    let running = common::start(config.clone()).await;
    check(&running).await;
    running.stop().await;
    common::drop_database(&config.clickhouse).await;
}
