//! The CRM hands leads back to marketing and reports won deals, through the query API, end to end
//! in embedded mode: qualify → hand-off → recycle (reason, idempotent, explained score cut) →
//! nurtured into a second hand-off → won deal → customer. Bad calls get field-named errors.

mod common;

use serde_json::{Value, json};

async fn call(
    running: &common::Running,
    path: &str,
    body: &str,
    key: Option<&str>,
) -> (u16, Value) {
    let mut req = running
        .http
        .post(format!("http://{}{path}", running.query))
        .bearer_auth(common::TOKEN)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let r = req.send().await.expect("post");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn qualifying(person: &str, round: u32) -> Value {
    let mut batch = vec![
        json!({"type": "identify", "userId": person, "traits": {"title": "VP Sales", "company_size": 200}}),
        json!({"type": "track", "userId": person, "event": "Webinar Registered", "properties": {"webinar_id": format!("w{round}")}}),
        json!({"type": "track", "userId": person, "event": "Webinar Attended", "properties": {"webinar_id": format!("w{round}")}}),
        json!({"type": "track", "userId": person, "event": "Form Submitted", "properties": {"form_id": "contact"}}),
    ];
    if round == 1 {
        for f in ["a.pdf", "b.pdf", "c.pdf"] {
            batch.push(json!({"type": "track", "userId": person, "event": "File Downloaded", "properties": {"file_name": f}}));
        }
    }
    json!({ "batch": batch })
}

#[tokio::test]
async fn sales_recycles_a_lead_and_reports_the_won_deal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = common::start(common::embedded_config(dir.path())).await;

    let (status, body) = call(
        &running,
        "/v1/profiles/nobody/recycle",
        r#"{"reason": "x"}"#,
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");

    let (status, body) = running.post_batch(&qualifying("lead-1", 1)).await;
    assert_eq!(status, 200, "{body}");
    // 10 + 15 + 10 + 3 × 8 = 59 ≥ 50, grade C ≥ D: handed to sales.
    let p = running
        .wait_for_profile("lead-1", |p| p["handoffs"] == 1)
        .await;
    assert_eq!(p["lifecycle_stage"], "sales_accepted", "{p}");
    assert_eq!(p["score"], 59.0, "{p}");

    // Bad calls: each names the field.
    for (body, field, code) in [
        ("{}", "reason", 400),
        (r#"{"reason": "  "}"#, "reason", 400),
        (r#"{"reason": 5}"#, "reason", 400),
        (r#"{"reason": "x", "colour": "red"}"#, "colour", 400),
        ("not json", "body", 400),
    ] {
        let (status, resp) = call(&running, "/v1/profiles/lead-1/recycle", body, None).await;
        assert_eq!(status, code, "{body}: {resp}");
        assert_eq!(resp["error"]["field"], field, "{body}: {resp}");
    }
    let (status, resp) = call(
        &running,
        "/v1/profiles/lead-1/won",
        r#"{"amount": -3}"#,
        None,
    )
    .await;
    assert_eq!(
        (status, resp["error"]["field"].clone()),
        (400, json!("amount")),
        "{resp}"
    );

    // Recycled, twice with one key: one event.
    let body = r#"{"reason": "no_response", "note": "three calls, no answer", "crm_id": "00Q1"}"#;
    let (status, first) = call(&running, "/v1/profiles/lead-1/recycle", body, Some("r-1")).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["event"], "Lead Recycled");
    let (status, again) = call(&running, "/v1/profiles/lead-1/recycle", body, Some("r-1")).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["message_id"], first["message_id"]);
    let p = running
        .wait_for_profile("lead-1", |p| p["lifecycle_stage"] == "recycled")
        .await;
    // The default model halves the scores on recycling, once.
    assert_eq!(p["score"], 29.5, "{p}");
    assert_eq!(p["counts"]["lead_recycled"], 1, "{p}");
    let history: Value = running
        .http
        .get(format!(
            "http://{}/v1/profiles/lead-1/scores/history?score=engagement",
            running.query
        ))
        .bearer_auth(common::TOKEN)
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    let recycling: Vec<&Value> = history["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["rule"] == "recycling")
        .collect();
    assert_eq!(recycling.len(), 1, "{history}");
    assert_eq!(recycling[0]["points"], -29.5, "{history}");

    // Not with sales any more: recycling again is a conflict.
    let (status, resp) = call(
        &running,
        "/v1/profiles/lead-1/recycle",
        r#"{"reason": "again"}"#,
        None,
    )
    .await;
    assert_eq!(status, 409, "{resp}");

    // Nurturing goes on: new activity qualifies the lead again, a second hand-off.
    running.post_batch(&qualifying("lead-1", 2)).await;
    let p = running
        .wait_for_profile("lead-1", |p| p["handoffs"] == 2)
        .await;
    assert_eq!(p["lifecycle_stage"], "sales_accepted", "{p}");
    // Both hand-offs are kept in the store, each with the record that went out.
    let (status, h) = running.get("/v1/profiles/lead-1/handoffs").await;
    assert_eq!(status, 200, "{h}");
    let crossings: Vec<u64> = h["handoffs"]
        .as_array()
        .expect("handoffs")
        .iter()
        .map(|x| x["crossing"].as_u64().expect("crossing"))
        .collect();
    assert_eq!(crossings, [1, 2], "{h}");
    for x in h["handoffs"].as_array().expect("handoffs") {
        assert!(
            x["score"].as_f64().expect("score") >= x["threshold"].as_f64().expect("t"),
            "{h}"
        );
        assert_eq!(x["record"]["type"], "lead.qualified", "{h}");
        assert_eq!(x["record"]["crossing"], x["crossing"], "{h}");
        assert!(
            !x["record"]["top_contributions"]
                .as_array()
                .expect("top")
                .is_empty(),
            "{h}"
        );
    }
    let (status, body) = running.get("/v1/profiles/nobody/handoffs").await;
    assert_eq!(status, 404, "{body}");

    // Sales wins the deal: a customer.
    let (status, resp) = call(
        &running,
        "/v1/profiles/lead-1/won",
        r#"{"amount": 12000, "currency": "eur", "crm_id": "006A"}"#,
        None,
    )
    .await;
    assert_eq!(status, 202, "{resp}");
    let p = running
        .wait_for_profile("lead-1", |p| p["lifecycle_stage"] == "customer")
        .await;
    assert_eq!(p["counts"]["deal_won"], 1, "{p}");
    let stages: Vec<&str> = p["stage_history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|s| s["stage"].as_str().expect("stage"))
        .collect();
    assert_eq!(
        stages,
        [
            "mql",
            "sales_accepted",
            "recycled",
            "mql",
            "sales_accepted",
            "customer"
        ],
        "{p}"
    );
    running.stop().await;
}
