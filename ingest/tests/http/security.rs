//! CORS on browser routes only, security headers, the framework's refusals in the JSON shape,
//! failed-authentication limits, duplicate keys, who may read metrics.

use super::*;

#[tokio::test]
async fn cors_only_on_browser_routes_and_security_headers_everywhere() {
    let h = harness();
    let preflight = |path: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri(path)
            .header(header::ORIGIN, "https://evil.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .expect("request")
    };
    for path in ["/v1/batch", "/v1/t", "/e/", "/v1/forms/contact"] {
        let (_, headers, _) = h.send(preflight(path)).await;
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*", "{path}");
    }
    // Bearer-authenticated and operator routes answer no other origin.
    for path in ["/v1/email/links", "/metrics", "/v1/webhooks/sms/twilio"] {
        let (_, headers, _) = h.send(preflight(path)).await;
        assert!(
            headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
            "{path}: {headers:?}"
        );
    }
    let get = |path: &str| {
        Request::get(path)
            .header(header::ORIGIN, "https://evil.example")
            .body(Body::empty())
            .expect("request")
    };
    let (_, headers, _) = h.send(get("/metrics")).await;
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    // Settings derived from the request's Host are kept out of shared caches.
    let (status, headers, _) = h
        .send(
            Request::get(format!("/v1/projects/{KEY}/settings"))
                .header(header::HOST, "poisoned.example")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "private, max-age=300");
    assert_eq!(headers[header::VARY], "Host");
    let h = harness_with(IngestConfig {
        public_url: Some("https://t.acme.io".into()),
        ..email_config(5)
    });
    let (_, headers, body) = h
        .send(
            Request::get(format!("/v1/projects/{KEY}/settings"))
                .header(header::HOST, "poisoned.example")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=300");
    assert!(!body.to_string().contains("poisoned"), "{body}");
}

#[tokio::test]
async fn the_frameworks_own_refusals_answer_in_the_json_shape() {
    let h = harness();
    let (status, _, body) = h
        .send(Request::get("/nope").body(Body::empty()).expect("request"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found", "");
    let (status, _, body) = h
        .send(
            Request::get("/v1/batch")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "method_not_allowed", "{body}");
    assert_eq!(body["detail"], body["message"], "{body}");
    // A rewritten refusal still carries the request's id (header and body), the framework's
    // own headers and the security headers.
    let (status, headers, body) = h
        .send(
            Request::get("/v1/batch")
                .header("x-request-id", "lb-405")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["x-request-id"], "lb-405");
    assert_eq!(body["request_id"], "lb-405", "{body}");
    assert!(
        headers[header::ALLOW]
            .to_str()
            .expect("ok")
            .contains("POST")
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    // Without an id of its own, a request gets a new one (a UUID, 32 hex digits).
    let (_, headers, body) = h
        .send(Request::get("/nope").body(Body::empty()).expect("request"))
        .await;
    let id = headers["x-request-id"].to_str().expect("ok");
    assert_eq!(id.len(), 32, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(body["request_id"], id, "{body}");
    // Time-ordered (UUIDv7): version 7 in the 13th digit.
    assert_eq!(&id[12..13], "7", "{id}");
}

#[tokio::test]
async fn an_address_past_its_failed_authentications_gets_429_until_its_minute_is_over() {
    let h = harness_custom(email_config(0), |s| {
        s.failed_auth = Arc::new(leadstream_platform::auth::FailedAuth::new(5));
    });
    let at = |ip: [u8; 4], request: axum::http::request::Builder| {
        request.extension(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            ip, 5000,
        ))))
    };
    let mint = |ip: [u8; 4], token: &str| {
        let body = leadstream_ingest::routes::email::mint_body(
            "m-1",
            "user-1",
            None,
            &["https://acme.io/offer"],
        );
        at(ip, Request::post("/v1/email/links"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .expect("req")
    };
    let track = |ip: [u8; 4], key: &str| {
        at(ip, Request::post("/v1/track"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"anonymousId": "a", "event": "x", "writeKey": key}).to_string(),
            ))
            .expect("req")
    };
    let guess = "lsk_acme.0123456789abcdef0123456789abcdef01234567";
    for _ in 0..5 {
        assert_eq!(
            h.send(mint([203, 0, 113, 5], guess)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    // Blocked now, even with the right token; another address is not.
    let (status, headers, resp) = h.send(mint([203, 0, 113, 5], API_TOKEN)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{resp}");
    assert_eq!(resp["error"]["code"], "too_many_failed_authentications");
    let retry: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    assert!((1..=60).contains(&retry));
    assert_eq!(
        h.send(mint([203, 0, 113, 6], API_TOKEN)).await.0,
        StatusCode::OK
    );
    // Intake is never turned away for it: write keys are public, and the blocked address may be
    // an office's or a proxy's. Wrong write keys there are refused and not counted.
    assert_eq!(h.send(track([203, 0, 113, 5], KEY)).await.0, StatusCode::OK);
    for _ in 0..10 {
        assert_eq!(
            h.send(track([203, 0, 113, 7], "wk_guess")).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        h.send(mint([203, 0, 113, 7], API_TOKEN)).await.0,
        StatusCode::OK
    );
    // Health and readiness always answer.
    let health = at([203, 0, 113, 5], Request::get("/health"))
        .body(Body::empty())
        .expect("req");
    assert_eq!(h.send(health).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_key_given_twice_is_refused_naming_it() {
    let h = harness();
    let one = r#"{"anonymousId":"a","event":"Plan Chosen","properties":{"plan":"free","plan":"enterprise"}}"#;
    let (status, resp) = h.post("/v1/track", Some(KEY), one).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_error(&resp, "invalid_field", "properties.plan");
    // In a batch: that event is listed, the others are written.
    let batch = r#"{"batch":[{"type":"track","anonymousId":"a","event":"ok"},{"type":"track","anonymousId":"a","anonymousId":"b","event":"x"}]}"#;
    let (status, resp) = h.post("/v1/batch", Some(KEY), batch).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["rejected"][0]["index"], 1, "{resp}");
    assert!(
        resp["rejected"][0]["field"]
            .as_str()
            .unwrap_or("")
            .ends_with("anonymousId"),
        "{resp}"
    );
    assert_eq!(h.written().await.len(), 1);
}

#[tokio::test]
async fn metrics_want_the_metrics_token_or_a_loopback_client() {
    let at = |ip: [u8; 4], token: Option<&str>| {
        let mut r = Request::get("/metrics").extension(axum::extract::ConnectInfo(
            std::net::SocketAddr::from((ip, 9100)),
        ));
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        r.body(Body::empty()).expect("req")
    };
    let open = harness();
    assert_eq!(open.send(at([127, 0, 0, 1], None)).await.0, StatusCode::OK);
    let (status, _, resp) = open.send(at([10, 1, 2, 3], None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{resp}");
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("security.metrics_token")
    );
    let guarded = harness_custom(IngestConfig::default(), |s| {
        s.metrics = leadstream_platform::telemetry::MetricsAccess::new(
            &leadstream_platform::config::SecurityConfig {
                metrics_token: Some("scrape-secret-0123".into()),
                ..Default::default()
            },
        );
    });
    assert_eq!(
        guarded.send(at([127, 0, 0, 1], None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        guarded.send(at([10, 1, 2, 3], Some("wrong"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _, _) = guarded
        .send(at([10, 1, 2, 3], Some("scrape-secret-0123")))
        .await;
    assert_eq!(status, StatusCode::OK);
}
