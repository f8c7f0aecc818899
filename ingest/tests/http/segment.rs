//! Segment's and RudderStack's HTTP API (and analytics.js's paths and settings): batches, ids,
//! bodies, limits, gzip, rate limits, client addresses, dedup.

use super::*;

#[tokio::test]
async fn ids_that_cannot_identify_a_person_are_dropped_or_refused() {
    let h = harness();
    let body = json!({"batch": [
        // userId "undefined" is dropped; the event counts for the device.
        {"type": "identify", "userId": "undefined", "anonymousId": "dev-1", "traits": {"a": 1}},
        // No usable id left: refused, naming the field.
        {"type": "track", "userId": "null", "event": "X"},
        {"type": "track", "anonymousId": " Anonymous ", "event": "X"},
        // An alias from an unusable id: refused.
        {"type": "alias", "userId": "u-1", "previousId": "0"},
        {"type": "track", "userId": "u-1", "event": "Fine"}
    ]});
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.to_string()).await;
    // Some accepted: 200, the others listed (SDKs would report a 4xx as the whole batch lost).
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 2, "{resp}");
    let rejected: Vec<(u64, String)> = resp["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            assert!(
                r["message"].as_str().expect("message").contains("identif"),
                "{r}"
            );
            (
                r["index"].as_u64().expect("index"),
                r["field"].as_str().expect("field").to_string(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "batch[1].userId".to_string()),
            (2, "batch[2].anonymousId".to_string()),
            (3, "batch[3].previousId".to_string())
        ]
    );
    let written = h.written().await;
    assert_eq!(written.len(), 2);
    assert_eq!(written[0].0, "acme/dev-1");
    assert_eq!(written[0].1.event.user_id, None);
    assert_eq!(written[1].0, "acme/u-1");
}

#[tokio::test]
async fn a_valid_batch_is_written_enriched_and_keyed_by_person() {
    let h = harness();
    let body = json!({
        "context": {"channel": "web", "locale": "en-US"},
        "batch": [
            {"type": "page", "anonymousId": "anon-1", "name": "Pricing", "context": {"page": {"url": "https://acme.io/pricing"}}},
            {"type": "identify", "anonymousId": "anon-1", "userId": "user-1", "traits": {"email": "a@acme.io"}, "messageId": "m-identify"},
            {"type": "track", "userId": "user-2", "event": "Order Completed", "properties": {"order_id": "o1", "revenue": 99.5, "currency": "EUR"}}
        ]
    });
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(
        resp,
        json!({"success": true, "accepted": 3, "rejected": []})
    );

    let written = h.written().await;
    assert_eq!(written.len(), 3);
    let keys: Vec<&str> = written.iter().map(|(k, _)| k.as_str()).collect();
    // Keyed by the profile the event counts toward: the userId when there is one.
    assert_eq!(keys, vec!["acme/anon-1", "acme/user-1", "acme/user-2"]);
    for (_, record) in &written {
        assert_eq!(record.v, leadstream_schemas::SCHEMA_VERSION);
        assert_eq!(record.workspace, "acme");
        assert_eq!(record.event.workspace.as_deref(), Some("acme"));
        assert!(record.event.received_at.is_some() && record.event.timestamp.is_some());
        assert!(record.event.message_id.is_some());
        assert_eq!(
            record.event.context.channel.as_deref(),
            Some("web"),
            "batch context merged"
        );
    }
    assert_eq!(written[1].1.event.message_id.as_deref(), Some("m-identify"));
    assert_eq!(written[1].1.event.traits["email"], "a@acme.io");
}

#[tokio::test]
async fn a_bad_event_is_rejected_by_index_and_the_good_ones_are_still_written() {
    let h = harness();
    let body = json!({"writeKey": KEY, "batch": [
        {"type": "track", "userId": "u1", "event": "File Downloaded", "properties": {"file_name": "guide.pdf"}},
        {"type": "track", "event": "No Person"},
        {"type": "launch", "userId": "u1"},
        {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"order_id": "o1", "currency": "EUR"}},
        "not an object",
        {"type": "track", "userId": "u3", "event": "Form Submitted", "properties": {"form_id": "f1"}},
        {"type": "track", "userId": "u4", "event": "Lead Converted"}
    ]});
    let (status, resp) = h.post("/v1/batch", None, body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["success"], true);
    assert_eq!(resp["accepted"], 3);
    let rejected: Vec<(u64, &str)> = resp["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().expect("index"),
                r["field"].as_str().expect("field"),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "batch[1].userId"),
            (2, "batch[2].type"),
            (4, "batch[4]"),
            (6, "batch[6].event")
        ]
    );
    assert!(
        resp["rejected"][1]["message"]
            .as_str()
            .expect("message")
            .contains("unknown variant `launch`")
    );
    assert_error(&resp, "invalid_events", "batch[1].userId");

    let written = h.written().await;
    let users: Vec<&str> = written
        .iter()
        .map(|(_, r)| r.event.user_id.as_deref().expect("user"))
        .collect();
    assert_eq!(users, vec!["u1", "u1", "u3"]);
    // The purchase without a value is kept, with what it missed.
    let misses = &written[1]
        .1
        .event
        .enrichment
        .as_ref()
        .expect("enriched")
        .expectation_misses;
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert_eq!(misses[0].field, "properties.revenue");

    // Every refused event is kept, with the reason, the endpoint and the payload.
    let failed = h.failed_events().await;
    assert_eq!(failed.len(), 4, "{failed:?}");
    let oldest = failed.last().expect("one");
    assert_eq!(oldest.endpoint, "/v1/batch");
    assert_eq!(oldest.code, "invalid_field");
    assert_eq!(oldest.field.as_deref(), Some("userId"));
    assert_eq!(oldest.event_name.as_deref(), Some("No Person"));
    let payload: Value = serde_json::from_str(&oldest.payload).expect("payload");
    assert_eq!(payload, json!({"type": "track", "event": "No Person"}));
    assert!(!oldest.message_id.is_empty());
}

#[tokio::test]
async fn a_batch_with_nothing_accepted_answers_400_and_keeps_each_refusal() {
    let h = harness();
    let body = json!({"batch": [
        {"type": "track", "event": "No Person"},
        {"type": "track", "userId": "u", "messageId": "m-9"}
    ]});
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_eq!(resp["success"], false);
    assert_eq!(resp["accepted"], 0);
    assert_error(&resp, "invalid_events", "batch[0].userId");
    let failed = h.failed_events().await;
    assert_eq!(failed.len(), 2);
    // The client's messageId is kept for a replay.
    assert_eq!(failed[0].message_id, "m-9");
    assert_eq!(failed[0].field.as_deref(), Some("event"));
    // A body that is not JSON, with the key in the header: kept whole.
    let (status, resp) = h.post("/v1/track", Some(KEY), "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "malformed_json", "body");
    let failed = h.failed_events().await;
    assert_eq!(failed[0].code, "malformed_json");
    assert_eq!(failed[0].endpoint, "/v1/track");
    assert_eq!(failed[0].payload, "{not json");
    // Refusals of the write key are only counted: nothing to attribute them to.
    let (status, _) = h.post("/v1/track", Some("wk_nobody"), "{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        h.failed
            .list("globex", &Default::default(), 10)
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn public_write_keys_cannot_send_crm_events() {
    let h = harness();
    let batch = |key: &str| {
        json!({"writeKey": key, "batch": [
            {"type": "page", "userId": "u1"},
            {"type": "track", "userId": "u1", "event": "Deal Won"},
            {"type": "track", "userId": "u1", "event": "Lead Recycled", "properties": {"reason": "x"}}
        ]})
        .to_string()
    };
    let (status, resp) = h
        .post("/v1/batch", None, batch(&format!("{KEY}_public")))
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 1, "{resp}");
    let fields: Vec<&str> = resp["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| r["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["batch[1].event", "batch[2].event"]);
    // A server-side key may.
    let (status, resp) = h.post("/v1/batch", None, batch(KEY)).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(h.written().await.len(), 4);
}

#[tokio::test]
async fn malformed_bodies_answer_400_naming_the_body() {
    let h = harness();
    let (status, resp) = h
        .post("/v1/batch", Some(KEY), r#"{"batch": [{"type": "track""#)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "malformed_json", "body");

    let (status, resp) = h
        .post("/v1/batch", Some(KEY), vec![b'{', 0xff, 0xfe, b'}'])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_utf8", "body");

    let (status, resp) = h
        .post("/v1/batch", Some(KEY), r#"{"batch": {"type": "track"}}"#)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "batch");

    let (status, resp) = h.post("/v1/batch", Some(KEY), r#"{"events": []}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "batch");

    let (status, resp) = h.post("/v1/batch", Some(KEY), r#"[1, 2]"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "body");

    let (status, resp) = h
        .post(
            "/v1/batch",
            Some(KEY),
            r#"{"batch": [], "sentAt": "last tuesday"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "sentAt");

    assert!(h.written().await.is_empty());
}

#[tokio::test]
async fn write_keys_are_required_and_must_be_known() {
    let h = harness();
    let batch = json!({"batch": [{"type": "track", "userId": "u", "event": "x"}]}).to_string();
    let (status, resp) = h.post("/v1/batch", None, batch.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&resp, "unauthorized", "writeKey");
    let (status, resp) = h
        .post("/v1/batch", Some("wk_nobody_knows"), batch.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&resp, "unauthorized", "writeKey");
    // A key routes to its own workspace.
    let (status, _) = h.post("/v1/batch", Some(OTHER_KEY), batch).await;
    assert_eq!(status, StatusCode::OK);
    let written = h.written().await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].1.workspace, "globex");
    assert_eq!(written[0].0, "globex/u");
}

#[tokio::test]
async fn size_limits_answer_413_for_bodies_and_reject_oversize_events() {
    let h = harness_with(IngestConfig {
        max_event_bytes: 200,
        max_batch_bytes: 1000,
        ..IngestConfig::default()
    });
    let big = "x".repeat(2000);
    let (status, resp) = h
        .post(
            "/v1/batch",
            Some(KEY),
            json!({"batch": [], "pad": big}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&resp, "body_too_large", "body");

    let body = json!({"batch": [
        {"type": "track", "userId": "u", "event": "x", "properties": {"pad": "y".repeat(300)}},
        {"type": "track", "userId": "u", "event": "small"}
    ]});
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 1);
    assert_eq!(resp["rejected"][0]["field"], "batch[0]");
    assert!(
        resp["rejected"][0]["message"]
            .as_str()
            .expect("message")
            .contains("over the limit of 200")
    );

    let (status, resp) = h
        .post(
            "/v1/track",
            Some(KEY),
            json!({"userId": "u", "event": "x", "properties": {"pad": "y".repeat(300)}})
                .to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&resp, "body_too_large", "body");
}

#[tokio::test]
async fn deeply_nested_properties_are_refused_naming_the_field() {
    let h = harness_with(IngestConfig {
        max_nesting_depth: 4,
        ..IngestConfig::default()
    });
    // The event is level 1, properties 2, `a` 3, `b` 4: allowed; a container inside `b` is not.
    let body = json!({"batch": [
        {"type": "track", "userId": "u", "event": "ok", "properties": {"a": {"b": {}}}},
        {"type": "track", "userId": "u", "event": "deep", "properties": {"a": {"b": {"c": {}}}}},
        {"type": "track", "userId": "u", "event": "deep list", "properties": {"l": [[[1]]]}}
    ]});
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 1, "{resp}");
    assert_eq!(
        resp["rejected"][0]["field"], "batch[1].properties.a.b.c",
        "{resp}"
    );
    assert_eq!(
        resp["rejected"][1]["field"], "batch[2].properties.l[0][0]",
        "{resp}"
    );
    assert!(
        resp["rejected"][0]["message"]
            .as_str()
            .expect("message")
            .contains("limit of 4"),
        "{resp}"
    );
    let written = h.written().await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].1.event.event.as_deref(), Some("ok"));

    let (status, resp) = h
        .post(
            "/v1/track",
            Some(KEY),
            json!({"userId": "u", "event": "x", "context": {"a": {"b": {"c": {}}}}}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_error(&resp, "invalid_field", "context.a.b.c");
    assert_eq!(h.written().await.len(), 1);
}

#[tokio::test]
async fn single_event_endpoints_take_their_type_from_the_path() {
    let h = harness();
    let (status, resp) = h
        .post(
            "/v1/identify",
            Some(KEY),
            json!({"userId": "u9", "traits": {"name": "Ada"}}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (status, resp) =
        h.post("/v1/track", None, json!({"writeKey": KEY, "anonymousId": "a9", "event": "Webinar Registered", "properties": {"webinar_id": "w1"}}).to_string()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (status, resp) = h
        .post(
            "/v1/page",
            Some(KEY),
            json!({"anonymousId": "a9", "name": "Home"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    // A `type` in the body loses to the path's.
    let (status, resp) = h
        .post(
            "/v1/screen",
            Some(KEY),
            json!({"type": "track", "userId": "u9", "name": "Settings"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");

    let (status, resp) = h
        .post(
            "/v1/track",
            Some(KEY),
            json!({"userId": 5, "event": "x"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "userId");
    let (status, resp) = h
        .post("/v1/track", Some(KEY), json!({"event": "x"}).to_string())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "userId");
    let (status, resp) = h
        .post("/v1/track", Some(KEY), json!({"userId": "u"}).to_string())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "event");
    let (status, resp) = h.post("/v1/track", Some(KEY), "[]").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "body");
    let (status, resp) = h.post("/v1/track", Some(KEY), "{nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "malformed_json", "body");
    let (status, resp) = h.post("/v1/launch", Some(KEY), "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(resp["error"]["code"], "not_found");
    let (status, _) = h
        .post(
            "/v1/track",
            None,
            json!({"userId": "u", "event": "x"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_eq!(
        h.written_types().await,
        vec!["identify", "track", "page", "screen"]
    );
}

/// What Segment's browser SDK (analytics.js 2.0) sends: one letter per call under its API host,
/// `text/plain` (no CORS preflight), the write key in the body; batches to `/b`.
#[tokio::test]
async fn analytics_js_short_paths_and_batch_path_are_accepted() {
    let h = harness();
    let public = format!("{KEY}_public");
    let text_plain = |path: &str, body: Value| {
        Request::post(path)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let calls = [
        (
            "/v1/p",
            json!({"anonymousId": "a1", "name": "Pricing", "properties": {"url": "https://shop.example/pricing"}}),
        ),
        (
            "/v1/i",
            json!({"anonymousId": "a1", "userId": "u1", "traits": {"email": "u1@example.com"}}),
        ),
        (
            "/v1/t",
            json!({"anonymousId": "a1", "userId": "u1", "event": "Pricing Viewed"}),
        ),
        (
            "/v1/g",
            json!({"anonymousId": "a1", "userId": "u1", "groupId": "acct-1"}),
        ),
        ("/v1/a", json!({"userId": "u1b", "previousId": "u1"})),
        ("/v1/s", json!({"userId": "u1", "name": "Home"})),
    ];
    for (path, mut body) in calls {
        body["writeKey"] = json!(public);
        body["_metadata"] = json!({"bundled": ["Segment.io"], "unbundled": []});
        let (status, _, resp) = h.send(text_plain(path, body)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {resp}");
    }
    let batch = json!({"writeKey": public, "sentAt": "2026-01-01T00:00:01Z", "batch": [
        {"type": "track", "anonymousId": "a2", "event": "Signed Up", "timestamp": "2026-01-01T00:00:00Z"},
        {"type": "page", "anonymousId": "a2", "name": "Docs"},
    ]});
    let (status, _, resp) = h.send(text_plain("/v1/b", batch)).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 2);
    // A letter that names no call is still a 404, and the key is still required.
    let (status, _, resp) = h
        .send(text_plain(
            "/v1/x",
            json!({"writeKey": public, "userId": "u"}),
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(resp["error"]["code"], "not_found");
    let (status, _, _) = h
        .send(text_plain("/v1/t", json!({"userId": "u", "event": "x"})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_eq!(
        h.written_types().await,
        vec![
            "page", "identify", "track", "group", "alias", "screen", "track", "page"
        ]
    );
}

/// What Segment's CDN serves the browser SDK: here, settings that point it back at the collector.
#[tokio::test]
async fn analytics_js_settings_point_the_sdk_at_the_collector() {
    let h = harness();
    let get = |path: String, host: &'static str| {
        Request::get(path)
            .header(header::HOST, host)
            .body(Body::empty())
            .expect("request")
    };
    let (status, headers, settings) = h
        .send(get(
            format!("/v1/projects/{KEY}_public/settings"),
            "t.shop.example:8080",
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .contains("max-age")
    );
    let segmentio = &settings["integrations"]["Segment.io"];
    assert_eq!(segmentio["apiKey"], format!("{KEY}_public"));
    assert_eq!(segmentio["apiHost"], "t.shop.example:8080/v1");
    assert_eq!(segmentio["protocol"], "http");
    // No other destination, no remote plugin, no usage metrics sent to Segment.
    assert_eq!(settings["integrations"].as_object().expect("map").len(), 1);
    assert_eq!(settings["remotePlugins"], json!([]));
    assert_eq!(settings["metrics"]["sampleRate"], 0);

    let (status, _, resp) = h
        .send(get(
            "/v1/projects/wk_nobody/settings".into(),
            "t.shop.example",
        ))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(resp["error"]["code"], "unauthorized");

    // Behind TLS, the configured public URL is what the SDK is told.
    let mut config = email_config(5);
    config.public_url = Some("https://t.shop.example/collect/".into());
    let h = harness_with(config);
    let (status, _, settings) = h
        .send(get(format!("/v1/projects/{KEY}/settings"), "10.0.0.5:8080"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        settings["integrations"]["Segment.io"]["apiHost"],
        "t.shop.example/collect/v1"
    );
    assert_eq!(settings["integrations"]["Segment.io"]["protocol"], "https");
}

/// What RudderStack's control plane serves its browser SDK: a source with no destinations.
#[tokio::test]
async fn rudderstack_source_config_names_the_workspace_and_no_destinations() {
    let h = harness();
    let get = |uri: String| Request::get(uri).body(Body::empty()).expect("request");
    let (status, headers, config) = h
        .send(get(format!(
            "/sourceConfig/?p=npm&v=3.34.1&build=modern&writeKey={KEY}_public&lockIntegrationsVersion=true"
        )))
        .await;
    assert_eq!(status, StatusCode::OK, "{config}");
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .expect("ascii")
            .contains("max-age")
    );
    assert_eq!(config["source"]["workspaceId"], "acme");
    assert_eq!(config["source"]["writeKey"], format!("{KEY}_public"));
    assert_eq!(config["source"]["enabled"], true);
    assert_eq!(config["source"]["destinations"], json!([]));
    assert_eq!(
        config["source"]["config"]["statsCollection"]["metrics"]["enabled"],
        false
    );
    // The key may come as Basic auth instead (the SDK sends both).
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{OTHER_KEY}:"));
    let (status, _, config) = h
        .send(
            Request::get("/sourceConfig")
                .header(header::AUTHORIZATION, format!("Basic {basic}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["source"]["workspaceId"], "globex");
    for uri in ["/sourceConfig/?writeKey=wk_nobody", "/sourceConfig/"] {
        let (status, _, resp) = h.send(get(uri.into())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_error(&resp, "unauthorized", "writeKey");
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let h = harness();
    assert_eq!(h.get("/health").await.0, StatusCode::OK);
    assert_eq!(h.get("/ready").await.0, StatusCode::OK);
    let _ = h
        .post(
            "/v1/batch",
            Some(KEY),
            json!({"batch": [{"type": "track", "event": "x"}]}).to_string(),
        )
        .await;
    let (status, text) = h.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("leadstream_ingest_events_total{outcome=\"rejected\"}"),
        "{text}"
    );
    assert!(
        text.contains("leadstream_ingest_requests_total{route=\"/v1/batch\",status=\"400\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn gzip_bodies_are_accepted_and_bounded_after_decompression() {
    let h = harness_with(IngestConfig {
        max_event_bytes: 1000,
        max_batch_bytes: 4000,
        ..IngestConfig::default()
    });
    let body =
        json!({"writeKey": KEY, "batch": [{"type": "track", "userId": "u", "event": "Zipped"}]})
            .to_string();
    let req = batch_request(())
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(gzip(body.as_bytes())))
        .expect("req");
    let (status, _, resp) = h.send(req).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(
        h.written().await[0].1.event.event.as_deref(),
        Some("Zipped")
    );

    // 100 KB of JSON compresses to a few hundred bytes: refused by its decompressed size.
    let bomb = json!({"writeKey": KEY, "batch": [], "pad": " ".repeat(100_000)}).to_string();
    let compressed = gzip(bomb.as_bytes());
    assert!(compressed.len() < 4000);
    let req = batch_request(())
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from(compressed))
        .expect("req");
    let (status, _, resp) = h.send(req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&resp, "body_too_large", "body");

    let req = batch_request(())
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Body::from("not gzip at all"))
        .expect("req");
    let (status, _, resp) = h.send(req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "malformed_json", "body");

    let req = batch_request(())
        .header(header::CONTENT_ENCODING, "br")
        .body(Body::from(body))
        .expect("req");
    let (status, _, resp) = h.send(req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error(&resp, "unsupported_encoding", "Content-Encoding");
}

/// Two collector instances configured as a fleet of two share the key's limit: between them
/// they admit the configured burst, not twice it.
#[tokio::test]
async fn a_fleet_of_collectors_enforces_the_limit_together() {
    let fleet = |instances| IngestConfig {
        rate_limit_per_second: 1,
        rate_limit_burst: 10,
        instances,
        ..IngestConfig::default()
    };
    let body = json!({"batch": [{"type": "track", "userId": "u", "event": "x"}]}).to_string();
    let admitted = |instances| {
        let body = body.clone();
        async move {
            let (a, b) = (
                harness_with(fleet(instances)),
                harness_with(fleet(instances)),
            );
            let mut ok = 0;
            // A load balancer's round robin: each request to the next instance.
            for i in 0..30 {
                let h = if i % 2 == 0 { &a } else { &b };
                let status = h.post("/v1/batch", Some(KEY), body.clone()).await.0;
                match status {
                    StatusCode::OK => ok += 1,
                    StatusCode::TOO_MANY_REQUESTS => {}
                    other => panic!("unexpected {other}"),
                }
            }
            ok
        }
    };
    // (At most one more per instance if the loop outlasts a second on a slow machine.)
    let two = admitted(2).await;
    assert!(
        (10..=12).contains(&two),
        "the fleet admits the configured burst: {two}"
    );
    let one = admitted(1).await;
    assert!(
        (20..=22).contains(&one),
        "without `instances`, each instance admits all of it: {one}"
    );
}

#[tokio::test]
async fn a_write_key_over_its_rate_limit_gets_429_with_retry_after() {
    let h = harness_with(IngestConfig {
        rate_limit_per_second: 1,
        rate_limit_burst: 2,
        ..IngestConfig::default()
    });
    let body = json!({"batch": [{"type": "track", "userId": "u", "event": "x"}]}).to_string();
    for _ in 0..2 {
        assert_eq!(
            h.post("/v1/batch", Some(KEY), body.clone()).await.0,
            StatusCode::OK
        );
    }
    let req = batch_request(())
        .header(
            header::AUTHORIZATION,
            format!("Basic {}", {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"))
            }),
        )
        .body(Body::from(body.clone()))
        .expect("req");
    let (status, headers, resp) = h.send(req).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp["error"]["code"], "rate_limited");
    assert_eq!(
        headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    // Another workspace's key is not held back; the refused batch was not written.
    assert_eq!(
        h.post("/v1/batch", Some(OTHER_KEY), body).await.0,
        StatusCode::OK
    );
    assert_eq!(h.written().await.len(), 3);
}

#[tokio::test]
async fn client_ip_comes_from_trusted_proxies_only_and_can_be_anonymised() {
    let h = harness_with(IngestConfig {
        trusted_proxies: vec!["127.0.0.0/8".parse().expect("net")],
        anonymize_ip: true,
        ..IngestConfig::default()
    });
    let body = json!({"writeKey": KEY, "batch": [{"type": "page", "userId": "u",
        "context": {"page": {"url": "https://acme.io/?utm_source=ads&utm_campaign=spring"}}}]})
    .to_string();
    let mut req = batch_request(())
        .header("x-forwarded-for", "198.51.100.23, 127.0.0.5")
        .header(header::USER_AGENT, "Mozilla/5.0 (compatible; bingbot/2.0)")
        .body(Body::from(body.clone()))
        .expect("req");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            5555,
        ))));
    assert_eq!(h.send(req).await.0, StatusCode::OK);
    // From an untrusted peer the header is ignored.
    let mut req = batch_request(())
        .header("x-forwarded-for", "198.51.100.23")
        .body(Body::from(body))
        .expect("req");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [192, 0, 2, 44],
            5555,
        ))));
    assert_eq!(h.send(req).await.0, StatusCode::OK);

    let written = h.written().await;
    assert_eq!(
        written[0].1.event.context.ip.as_deref(),
        Some("198.51.100.0")
    );
    assert_eq!(written[1].1.event.context.ip.as_deref(), Some("192.0.2.0"));
    let first = &written[0].1.event;
    assert_eq!(
        first
            .context
            .campaign
            .as_ref()
            .and_then(|c| c.name.as_deref()),
        Some("spring")
    );
    assert!(
        first.enrichment.as_ref().expect("enrichment").bot,
        "bingbot is a bot"
    );
}

#[tokio::test]
async fn a_repeated_message_id_is_acknowledged_but_written_once() {
    let h = harness();
    let body = json!({"batch": [
        {"type": "track", "userId": "u", "event": "x", "messageId": "dup-1"},
        {"type": "track", "userId": "u", "event": "x", "messageId": "dup-1"},
        {"type": "track", "userId": "u", "event": "y", "messageId": "other"}
    ]})
    .to_string();
    let (status, resp) = h.post("/v1/batch", Some(KEY), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    // The SDK retries the same batch (say, it timed out waiting): acknowledged again, not rewritten.
    let (status, _) = h.post("/v1/batch", Some(KEY), body).await;
    assert_eq!(status, StatusCode::OK);
    // The same id in another workspace is another event.
    let (status, _) = h.post("/v1/batch", Some(OTHER_KEY), json!({"batch": [{"type": "track", "userId": "u", "event": "x", "messageId": "dup-1"}]}).to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let written = h.written().await;
    let ids: Vec<(&str, &str)> = written
        .iter()
        .map(|(_, r)| {
            (
                r.workspace.as_str(),
                r.event.message_id.as_deref().expect("id"),
            )
        })
        .collect();
    assert_eq!(
        ids,
        vec![("acme", "dup-1"), ("acme", "other"), ("globex", "dup-1")]
    );
}
