//! RFM and segment migration through the query API, in both modes: purchases go in through the
//! collector with their own dates; the RFM report, its CSV, the per-customer export, the RFM
//! migration matrix, RFM segments as a segment condition, and migration over a family of saved
//! segments from their snapshots. (The figures themselves are checked against an independent
//! computation on the CDNOW dataset in `platform/tests/rfm.rs`.)

mod common;

use reqwest::Method;
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Customer `c{i}` (i = 0..9) bought i + 1 times for 10·(i + 1) each, the last 20·i days before
/// `as_of`, one day apart.
fn purchases(as_of: i64) -> Value {
    let mut batch = Vec::new();
    for i in 0..10i64 {
        for j in 0..=i {
            batch.push(json!({
                "type": "track", "userId": format!("c{i}"), "event": "Order Completed",
                "properties": {"order_id": format!("o{i}-{j}"), "revenue": 10 * (i + 1), "currency": "EUR"},
                "timestamp": iso(as_of - (20 * i + j) * DAY_MS),
                "messageId": format!("buy-{i}-{j}"),
            }));
        }
    }
    batch.push(json!({"type": "page", "userId": "c0", "messageId": "page-1"}));
    json!({ "batch": batch })
}

async fn post(run: &common::Running, path: &str, body: &Value) -> (u16, Value) {
    run.json(Method::POST, path, Some(body)).await
}

async fn check(run: &common::Running) {
    // A day ago at midnight: the segment condition (counted from now) sees the same order.
    let now = chrono::Utc::now().timestamp_millis();
    let as_of = now - now % DAY_MS - DAY_MS;
    let (status, body) = run.post_batch(&purchases(as_of)).await;
    assert_eq!(status, 200, "{body}");
    for i in 0..10 {
        run.wait_for_profile(&format!("c{i}"), |p| p["purchases"]["count"] == i + 1)
            .await;
    }
    run.wait_for_profile("c0", |p| p["event_count"] == 2).await;

    let (status, report) = post(run, "/v1/rfm", &json!({"as_of": as_of})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (&report["customers"], &report["revenue"]),
        (&json!(10), &json!(3850.0)),
        "{report}"
    );
    assert_eq!(
        report["cuts"]["recency_days"],
        json!([20.0, 60.0, 100.0, 140.0])
    );
    assert_eq!(
        report["cuts"]["monetary"],
        json!([40.0, 160.0, 360.0, 640.0])
    );
    let segments = report["segments"].as_array().expect("segments");
    assert_eq!(segments.len(), 11);
    let people: u64 = segments
        .iter()
        .map(|s| s["people"].as_u64().expect("n"))
        .sum();
    assert_eq!(people, 10);

    // Every customer, as CSV: the most recent two are new, the richest lapsed one can't be lost.
    let (status, _, csv) = run
        .call(
            Method::POST,
            "/v1/rfm/customers?format=csv",
            common::TOKEN,
            Some((
                "application/json",
                json!({"as_of": iso(as_of)}).to_string().into_bytes(),
            )),
        )
        .await;
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let by_id: std::collections::HashMap<String, (String, String)> = reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (
                r[0].to_string(),
                (format!("{}{}{}", &r[4], &r[5], &r[6]), r[7].to_string()),
            )
        })
        .collect();
    assert_eq!(by_id.len(), 10);
    assert_eq!(
        by_id["c0"],
        ("511".to_string(), "New Customers".to_string())
    );
    assert_eq!(by_id["c1"].1, "New Customers");
    assert_eq!(
        by_id["c4"],
        ("333".to_string(), "Need Attention".to_string())
    );
    assert_eq!(
        by_id["c9"],
        ("155".to_string(), "Can't Lose Them".to_string())
    );
    // The grid: 25 cells, each the customers scored (R, FM); one cell's or one segment's
    // customers alone.
    let grid = report["grid"].as_array().expect("grid");
    assert_eq!(grid.len(), 25);
    assert_eq!((&grid[0]["r"], &grid[0]["fm"]), (&json!(5), &json!(1)));
    let cell = |r: u64, fm: u64| {
        grid.iter()
            .find(|c| c["r"] == r && c["fm"] == fm)
            .expect("cell")
            .clone()
    };
    assert_eq!(cell(5, 1)["people"], 2, "c0 and c1: {report}");
    assert_eq!(cell(5, 1)["segment"], "New Customers");
    assert_eq!(cell(5, 1)["revenue"], 50.0);
    assert_eq!(cell(3, 3)["people"], 2, "c4 and c5: {report}");
    let only = |query: &str| {
        let query = query.to_string();
        async move {
            let (status, _, body) = run
                .call(
                    Method::POST,
                    &format!("/v1/rfm/customers?format=jsonl&{query}"),
                    common::TOKEN,
                    Some((
                        "application/json",
                        json!({"as_of": as_of}).to_string().into_bytes(),
                    )),
                )
                .await;
            let text = String::from_utf8(body).expect("utf-8");
            let ids: Vec<String> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter_map(|v| v["profile_id"].as_str().map(str::to_string))
                .collect();
            (status, ids, text)
        }
    };
    assert_eq!(only("r=5&fm=1").await.1, ["c0", "c1"]);
    assert_eq!(only("r=3&fm=3").await.1, ["c4", "c5"]);
    assert_eq!(only("segment=Can't%20Lose%20Them").await.1, ["c8", "c9"]);
    for (bad, field) in [("r=6", "r"), ("fm=0", "fm"), ("segment=Nobody", "segment")] {
        let (status, _, text) = only(bad).await;
        assert_eq!(status, 400, "{bad}: {text}");
        let err: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(err["error"]["field"], field, "{text}");
    }
    let (status, ct, body) = run
        .call(
            Method::POST,
            "/v1/rfm?format=csv",
            common::TOKEN,
            Some((
                "application/json",
                json!({"as_of": as_of}).to_string().into_bytes(),
            )),
        )
        .await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let text = String::from_utf8(body).expect("utf-8");
    assert!(text.starts_with("segment,people,share,revenue,"), "{text}");
    assert!(text.contains("New Customers,2,0.2,"), "{text}");

    // RFM segments in a segment condition, counted from now.
    let (status, preview) = post(
        run,
        "/v1/segments/preview",
        &json!({"segment": {"rfm": ["New Customers"]}}),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["sample"], json!(["c0", "c1"]), "{preview}");

    // Migration between two dates: what arrived where adds up to the report's people.
    let (status, m) = post(
        run,
        "/v1/rfm/migration",
        &json!({"from": as_of - 100 * DAY_MS, "to": as_of}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["segments"].as_array().map(Vec::len), Some(12), "{m}");
    for (flow, seg) in m["flows"].as_array().expect("flows").iter().zip(segments) {
        assert_eq!(
            (&flow["segment"], &flow["at_to"]),
            (&seg["segment"], &seg["people"]),
            "{m}"
        );
    }
    let none = &m["flows"][11];
    assert_eq!(none["segment"], "none");
    // c0..c4 bought only within the last 100 days: they were nobody's customers then.
    assert_eq!(none["departures"], 5, "{m}");

    // Bad input names the field.
    for (path, body, field) in [
        (
            "/v1/rfm",
            json!({"spec": {"window_days": 0}}),
            "spec.window_days",
        ),
        ("/v1/rfm", json!({"as_of": "yesterday"}), "as_of"),
        (
            "/v1/rfm",
            json!({"spec": {"bins": {"recency_days": [3, 2, 1, 0], "frequency": [1, 2, 3, 4], "monetary": [1, 2, 3, 4]}}}),
            "spec.bins.recency_days",
        ),
        (
            "/v1/rfm/migration",
            json!({"from": as_of, "to": as_of - DAY_MS}),
            "from",
        ),
        (
            "/v1/segments/preview",
            json!({"segment": {"rfm": ["Heroes"]}}),
            "segment.rfm[0]",
        ),
        (
            "/v1/segments/migration",
            json!({"segments": ["seg_nope"], "from": as_of}),
            "segments[0]",
        ),
    ] {
        let (status, e) = post(run, path, &body).await;
        assert_eq!(
            (status, &e["error"]["field"]),
            (400, &json!(field)),
            "{path} {body}: {e}"
        );
    }

    let (status, _, body) = run
        .call(
            Method::POST,
            "/v1/rfm/customers?format=xlsx",
            common::TOKEN,
            None,
        )
        .await;
    let e: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(
        (status, &e["error"]["field"]),
        (400, &json!("format")),
        "{e}"
    );

    // Migration over a family of saved segments, from their snapshots.
    let mut ids = Vec::new();
    for (name, at_least) in [("Big buyers", 5), ("Buyers", 1)] {
        let (status, s) = post(
            run,
            "/v1/segments",
            &json!({"name": name, "definition": {"did": "purchase_completed", "at_least": at_least, "within_days": 365}}),
        )
        .await;
        assert_eq!(status, 201, "{s}");
        ids.push(s["id"].as_str().expect("id").to_string());
    }
    let (status, e) = post(
        run,
        "/v1/segments/migration",
        &json!({"segments": ids, "from": as_of}),
    )
    .await;
    assert_eq!(
        (status, &e["error"]["field"]),
        (422, &json!("segments[0]")),
        "{e}"
    );
    let mut first = 0;
    for id in &ids {
        let (_, snap) = post(run, &format!("/v1/segments/{id}/snapshots"), &json!({})).await;
        first = snap["taken_ms"].as_i64().expect("taken");
    }
    let more: Vec<Value> = (0..4)
        .map(|j| json!({"type": "track", "userId": "c0", "event": "Order Completed", "properties": {"order_id": format!("x{j}"), "revenue": 5, "currency": "EUR"}, "messageId": format!("more-{j}")}))
        .collect();
    let (status, body) = run.post_batch(&json!({ "batch": more })).await;
    assert_eq!(status, 200, "{body}");
    run.wait_for_profile("c0", |p| p["purchases"]["count"] == 5)
        .await;
    for id in &ids {
        post(run, &format!("/v1/segments/{id}/snapshots"), &json!({})).await;
    }
    let (status, m) = post(
        run,
        "/v1/segments/migration",
        &json!({"segments": ids, "from": first}),
    )
    .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["segments"], json!(["Big buyers", "Buyers", "none"]));
    assert_eq!(m["matrix"], json!([[6, 0, 0], [1, 3, 0], [0, 0, 0]]), "{m}");
    assert_eq!(
        (&m["flows"][0]["arrivals"], &m["flows"][1]["departures"]),
        (&json!(1), &json!(1)),
        "{m}"
    );
}

#[tokio::test]
async fn rfm_and_migration_in_embedded_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let running = common::start(common::embedded_config(dir.path())).await;
    check(&running).await;
    running.stop().await;
}

#[tokio::test]
async fn rfm_and_migration_on_kafka_and_clickhouse() {
    let config = common::distributed_config();
    let running = common::start(config.clone()).await;
    check(&running).await;
    running.stop().await;
    common::drop_database(&config.clickhouse).await;
}
