//! Campaigns end to end, in both modes: records with codes, dates, costs and target lists;
//! responses attributed by UTM campaign and promo code as they come through the collector; the
//! report with its A/B arms; a response turned into a lead in one call (the scorer hands the
//! person to sales); a won deal; comparisons; bad records refused by field.

mod common;

use reqwest::Method;
use serde_json::{Value, json};

async fn post(run: &common::Running, path: &str, body: &Value) -> (u16, Value) {
    run.json(Method::POST, path, Some(body)).await
}

async fn report(run: &common::Running, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, r) = run.get(&format!("/v1/campaigns/{id}/report")).await;
        assert_eq!(status, 200, "{r}");
        if done(&r) {
            return r;
        }
        assert!(tokio::time::Instant::now() < deadline, "{r}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn check(run: &common::Running) {
    let campaign = |name: &str| json!({"name": name});
    let (status, body) = run
        .post_batch(&json!({"batch": [
            {"type": "identify", "userId": "ann", "traits": {"email": "ann@acme.io"}, "messageId": "i1"},
            {"type": "identify", "userId": "bob", "messageId": "i2"},
            {"type": "identify", "userId": "cy", "messageId": "i3"},
            {"type": "identify", "userId": "dee", "messageId": "i4"},
            {"type": "track", "userId": "ann", "event": "Email Clicked", "properties": {"email_id": "e1", "link_url": "https://acme.io/spring"}, "context": {"campaign": campaign("spring")}, "messageId": "r1"},
            {"type": "page", "userId": "dee", "context": {"page": {"url": "https://acme.io/offer?utm_campaign=spring&utm_source=newsletter"}}, "messageId": "r2"},
            {"type": "track", "userId": "bob", "event": "Order Completed", "properties": {"order_id": "o1", "revenue": 80, "currency": "EUR", "promo_code": "SPRING10"}, "messageId": "r3"},
            {"type": "page", "userId": "cy", "context": {"campaign": campaign("summer")}, "messageId": "r4"},
        ]}))
        .await;
    assert_eq!(status, 200, "{body}");
    for who in ["ann", "bob", "cy", "dee"] {
        run.wait_for_profile(who, |p| p["event_count"] == 2).await;
    }
    let mut lists = Vec::new();
    for (name, members) in [("Arm A", ["ann", "cy"]), ("Arm B", ["bob", "dee"])] {
        let (_, l) = post(run, "/v1/lists", &json!({"name": name, "entity": "people"})).await;
        let id = l["id"].as_str().expect("id").to_string();
        let (_, changed) = post(
            run,
            &format!("/v1/lists/{id}/members"),
            &json!({"add": members}),
        )
        .await;
        assert_eq!(changed["added"], 2, "{changed}");
        lists.push(id);
    }
    let (_, accounts) = post(
        run,
        "/v1/lists",
        &json!({"name": "Accounts", "entity": "accounts"}),
    )
    .await;
    let start = (chrono::Utc::now() - chrono::Duration::days(10))
        .format("%Y-%m-%d")
        .to_string();
    let record = json!({
        "name": "Spring", "channel": "email", "utm_campaigns": ["spring"], "promo_codes": ["SPRING10"],
        "start": start, "budget": 500, "actual_cost": 200, "expected_revenue": 1000, "target_lists": lists,
    });
    let (status, spring) = post(run, "/v1/campaigns", &record).await;
    assert_eq!(status, 201, "{spring}");
    let spring_id = spring["id"].as_str().expect("id").to_string();
    let (status, summer) = post(
        run,
        "/v1/campaigns",
        &json!({"name": "Summer", "channel": "web", "utm_campaigns": ["summer"], "start": start, "actual_cost": 50}),
    )
    .await;
    assert_eq!(status, 201, "{summer}");
    let summer_id = summer["id"].as_str().expect("id").to_string();

    // Bad records name the field.
    let with = |k: &str, v: Value| {
        let mut r = record.clone();
        r[k] = v;
        r["name"] = json!("Other");
        r
    };
    for (body, code, field) in [
        (with("channel", json!("pigeon")), 400, "channel"),
        (
            with("target_lists", json!(["lst_nope"])),
            400,
            "target_lists[0]",
        ),
        (
            with("target_lists", json!([accounts["id"]])),
            400,
            "target_lists[0]",
        ),
        (with("end", json!("2000-01-01")), 400, "end"),
        (with("start", json!("someday")), 400, "start"),
        (with("actual_cost", json!(-5)), 400, "actual_cost"),
        (record.clone(), 409, "name"),
    ] {
        let (status, e) = post(run, "/v1/campaigns", &body).await;
        assert_eq!(
            (status, &e["error"]["field"]),
            (code, &json!(field)),
            "{body}: {e}"
        );
    }

    // Responses by UTM (in the context or the page URL) and by promo code.
    let r = report(run, &spring_id, |r| r["figures"]["people_reached"] == 3).await;
    assert_eq!(r["figures"]["responses"], 3, "{r}");
    assert_eq!(r["figures"]["revenue"], 80.0, "{r}");
    assert_eq!(r["figures"]["leads"], 0, "{r}");
    assert_eq!(r["figures"]["roi"], -0.6, "{r}");
    assert!(r["figures"].get("cost_per_lead").is_none(), "{r}");
    let arms = r["arms"].as_array().expect("arms");
    assert_eq!(
        (&arms[0]["targeted"], &arms[0]["figures"]["people_reached"]),
        (&json!(2), &json!(1)),
        "{r}"
    );
    assert_eq!(arms[0]["response_rate"], 0.5);
    assert_eq!(
        (
            &arms[1]["figures"]["people_reached"],
            &arms[1]["figures"]["revenue"]
        ),
        (&json!(2), &json!(80.0)),
        "{r}"
    );
    let (_, page) = run
        .get(&format!("/v1/campaigns/{spring_id}/responses?limit=2"))
        .await;
    let ids: Vec<&str> = page["responders"]
        .as_array()
        .expect("responders")
        .iter()
        .map(|x| x["profile_id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        (ids, &page["count"]),
        (vec!["ann", "bob"], &json!(3)),
        "{page}"
    );

    let (status, e) = run
        .get(&format!("/v1/campaigns/{spring_id}/responses?limit=0"))
        .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (400, &json!("limit")),
        "{e}"
    );
    let (status, e) = run
        .json(
            Method::PUT,
            &format!("/v1/campaigns/{spring_id}"),
            Some(&with("currency", json!("euro"))),
        )
        .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (400, &json!("currency")),
        "{e}"
    );
    let (status, _) = run.get("/v1/campaigns/cmp_nope/report").await;
    assert_eq!(status, 404);
    // A response becomes a lead in one call; sales has ann now.
    let (status, accepted) = post(
        run,
        &format!("/v1/campaigns/{spring_id}/responses/ann/lead"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    run.wait_for_profile("ann", |p| p["lifecycle_stage"] == "sales_accepted")
        .await;
    let (status, e) = post(
        run,
        &format!("/v1/campaigns/{spring_id}/responses/ann/lead"),
        &json!({}),
    )
    .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (409, &json!("profile_id")),
        "{e}"
    );
    let (status, _) = post(
        run,
        &format!("/v1/campaigns/{spring_id}/responses/cy/lead"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 404);
    let (_, handoffs) = run.get("/v1/profiles/ann/handoffs").await;
    assert_eq!(
        handoffs["handoffs"].as_array().map(Vec::len),
        Some(1),
        "{handoffs}"
    );
    // Bob's deal is won.
    let (status, _) = post(run, "/v1/profiles/bob/won", &json!({"amount": 1000})).await;
    assert_eq!(status, 202);
    let r = report(run, &spring_id, |r| {
        r["figures"]["leads"] == 1 && r["figures"]["customers_won"] == 1
    })
    .await;
    assert_eq!(r["figures"]["cost_per_lead"], 200.0, "{r}");
    assert_eq!(r["arms"][0]["figures"]["leads"], 1, "{r}");

    let (status, cmp) = run
        .get(&format!(
            "/v1/campaigns/compare?ids={spring_id},{summer_id}"
        ))
        .await;
    assert_eq!(status, 200, "{cmp}");
    let reached: Vec<&Value> = cmp["campaigns"]
        .as_array()
        .expect("campaigns")
        .iter()
        .map(|c| &c["figures"]["people_reached"])
        .collect();
    assert_eq!(reached, [&json!(3), &json!(1)], "{cmp}");
    let (status, e) = run
        .get(&format!("/v1/campaigns/compare?ids={spring_id}"))
        .await;
    assert_eq!((status, &e["error"]["field"]), (400, &json!("ids")), "{e}");

    let (_, all) = run.get("/v1/campaigns").await;
    assert_eq!(all["campaigns"].as_array().map(Vec::len), Some(2));
    let (status, _, _) = run
        .call(
            Method::GET,
            &format!("/v1/campaigns/{spring_id}"),
            common::OTHER_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = run
        .json(Method::DELETE, &format!("/v1/campaigns/{summer_id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = run.get(&format!("/v1/campaigns/{summer_id}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn campaigns_in_embedded_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = common::start(common::embedded_config(dir.path())).await;
    check(&running).await;
    running.stop().await;
}

#[tokio::test]
async fn campaigns_on_kafka_and_clickhouse() {
    let config = common::distributed_config();
    let running = common::start(config.clone()).await;
    check(&running).await;
    running.stop().await;
    common::drop_database(&config.clickhouse).await;
}
