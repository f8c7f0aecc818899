//! PostHog's capture API (`/e`, `/i/v0/e`, `/batch`, `/capture`): encodings and shapes.

use super::*;
use base64::Engine;
use std::io::Write;

async fn capture(
    h: &Harness,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let (status, _, body) = h
        .send(
            Request::post(path)
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .expect("request"),
        )
        .await;
    (status, body)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

#[tokio::test]
async fn posthog_js_encodings_and_event_shapes_become_segment_calls() {
    let h = harness();
    // posthog-js: an array of events, gzip without a Content-Encoding (`compression=gzip-js`).
    let events = json!([
        {"event": "$pageview", "uuid": "0190a000-0000-7000-8000-000000000001", "properties": {
            "token": KEY, "distinct_id": "dev-1", "$device_id": "dev-1",
            "$current_url": "https://acme.io/pricing?utm_source=ph&utm_campaign=q4",
            "$pathname": "/pricing", "$referrer": "$direct", "$lib": "web", "$lib_version": "1.200.0"},
         "offset": 1500},
        {"event": "$identify", "uuid": "0190a000-0000-7000-8000-000000000002", "properties": {
            "token": KEY, "distinct_id": "user-7", "$anon_distinct_id": "dev-1",
            "$set": {"email": "u7@acme.io"}}, "$set_once": {"first_seen": "2026-12-01"}},
        {"event": "Demo Requested", "uuid": "0190a000-0000-7000-8000-000000000003",
         "properties": {"token": KEY, "distinct_id": "user-7", "plan": "pro"}}
    ]);
    let (status, resp) = capture(
        &h,
        "/e/?compression=gzip-js&ver=1.200.0",
        "text/plain",
        gzip(events.to_string().as_bytes()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp, json!({"status": 1}));
    // The old form: `data=<base64>` in a form body.
    let single = json!({"event": "$groupidentify", "api_key": KEY, "distinct_id": "user-7",
        "properties": {"$group_type": "company", "$group_key": "acme", "$group_set": {"name": "Acme"}}});
    let form = format!(
        "data={}",
        base64::engine::general_purpose::STANDARD.encode(single.to_string())
    );
    let (status, resp) = capture(
        &h,
        "/i/v0/e/",
        "application/x-www-form-urlencoded",
        form.into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");

    let written = h.written().await;
    assert_eq!(written.len(), 4, "{written:#?}");
    let page = &written[0].1.event;
    assert_eq!(page.event_type, leadstream_schemas::EventType::Page);
    // `$device_id` equal to the distinct id: an anonymous visitor.
    assert_eq!(page.anonymous_id.as_deref(), Some("dev-1"));
    assert_eq!(page.user_id, None);
    assert_eq!(
        page.message_id.as_deref(),
        Some("0190a000-0000-7000-8000-000000000001")
    );
    let p = page.context.page.as_ref().expect("page");
    assert_eq!(p.path.as_deref(), Some("/pricing"));
    assert_eq!(p.referrer, None, "`$direct` is no referrer");
    assert_eq!(
        page.context
            .campaign
            .as_ref()
            .and_then(|c| c.name.as_deref()),
        Some("q4")
    );
    assert_eq!(page.context.extra["library"]["name"], "web");
    // `offset`: the event happened 1.5 s before it was sent.
    let lag = page.received_at.expect("received") - page.timestamp.expect("timestamp");
    assert!((1400..=1600).contains(&lag.num_milliseconds()), "{lag}");
    let identify = &written[1].1.event;
    assert_eq!(identify.event_type, leadstream_schemas::EventType::Identify);
    assert_eq!(identify.user_id.as_deref(), Some("user-7"));
    assert_eq!(identify.anonymous_id.as_deref(), Some("dev-1"));
    assert_eq!(identify.traits["email"], "u7@acme.io");
    assert_eq!(identify.traits["first_seen"], "2026-12-01");
    assert!(identify.properties.get("token").is_none());
    let demo = &written[2].1.event;
    assert_eq!(
        leadstream_schemas::EventKind::classify(demo),
        leadstream_schemas::EventKind::DemoRequested
    );
    assert_eq!(demo.properties["plan"], "pro");
    let group = &written[3].1.event;
    assert_eq!(group.group_id.as_deref(), Some("acme"));
    assert_eq!(group.traits["name"], "Acme");
    assert_eq!(group.traits["group_type"], "company");
}

#[tokio::test]
async fn posthog_refusals_carry_detail_and_are_kept() {
    let h = harness();
    // Nothing accepted: 400 with PostHog's `detail` and our shape.
    let body = json!({"api_key": KEY, "batch": [{"event": "x", "properties": {}}]});
    let (status, resp) = capture(
        &h,
        "/batch/",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_eq!(resp["code"], "invalid_events");
    assert_eq!(
        resp["detail"], "batch[0].distinct_id: is required",
        "{resp}"
    );
    assert_eq!(resp["rejected"][0]["field"], "batch[0].distinct_id");
    let failed = h.failed_events().await;
    assert_eq!(failed[0].endpoint, "/batch/");
    // Some accepted: 200 and the rejected listed.
    let body = json!({"api_key": KEY, "batch": [
        {"event": "ok", "distinct_id": "u"},
        {"event": "$groupidentify", "distinct_id": "u", "properties": {}}
    ]});
    let (status, resp) = capture(
        &h,
        "/batch",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 1);
    assert_eq!(
        resp["rejected"][0]["field"],
        "batch[1].properties.$group_key"
    );
    // A bad key is a 401 in our shape, with `detail`; a missing one too.
    let body = json!({"api_key": "phc_unknown", "event": "x", "distinct_id": "u"});
    let (status, resp) = capture(
        &h,
        "/capture/",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp["detail"], "unknown write key");
    // Not JSON; lz64 is named as unsupported.
    let (status, resp) = capture(&h, "/e/", "application/json", b"{oops".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(resp["code"], "malformed_json");
    let (status, resp) = capture(&h, "/e/?compression=lz64", "text/plain", b"N4Ig".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(resp["error"]["field"], "compression");
    // Feature flags: none, in the shape posthog-js reads.
    let (status, text) = h.get("/decide/?v=3").await;
    assert_eq!(status, StatusCode::OK);
    let decide: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(decide["featureFlags"], json!({}));
}
