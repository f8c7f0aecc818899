//! SMS: Twilio's receipts and inbound messages, the generic signed format.

use super::*;

const TWILIO_TOKEN: &str = "twilio-auth-token-for-tests";
const SMS_SECRET: &str = "generic-sms-secret-for-tests";

fn sms_harness() -> Harness {
    let mut c = IngestConfig::default();
    c.sms.twilio_auth_token = Some(TWILIO_TOKEN.into());
    c.sms.generic_secret = Some(SMS_SECRET.into());
    c.sms.public_url = Some("https://t.acme.io".into());
    harness_with(c)
}

async fn twilio(
    h: &Harness,
    query: &str,
    params: &[(&str, &str)],
    signature: Option<String>,
) -> (StatusCode, String) {
    use leadstream_ingest::signatures::twilio_signature;
    let path = format!("/v1/webhooks/sms/twilio{query}");
    let map: std::collections::BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let signature = signature.unwrap_or_else(|| {
        twilio_signature(TWILIO_TOKEN, &format!("https://t.acme.io{path}"), &map)
    });
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(Body::from(body))
        .expect("req");
    let response = h.app.clone().oneshot(req).await.expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).to_string())
}

#[tokio::test]
async fn twilio_receipts_and_inbound_messages_become_sms_events() {
    let h = sms_harness();
    let wk = format!("?wk={KEY}");
    let (status, body) = twilio(
        &h,
        &wk,
        &[
            ("MessageSid", "SM1"),
            ("MessageStatus", "delivered"),
            ("To", "+15550001111"),
            ("From", "+15559990000"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "<Response/>");
    let (status, _) = twilio(
        &h,
        &wk,
        &[
            ("MessageSid", "SM2"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
            ("To", "+15550001111"),
            ("From", "+15559990000"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = twilio(
        &h,
        &wk,
        &[
            ("MessageSid", "SM3"),
            ("SmsStatus", "received"),
            ("Body", "Yes, call me"),
            ("From", "+15550001111"),
            ("To", "+15559990000"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = twilio(
        &h,
        &wk,
        &[
            ("MessageSid", "SM4"),
            ("Body", " стоп "),
            ("From", "+15550002222"),
            ("To", "+15559990000"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let written = h.written().await;
    let got: Vec<(&str, &str, &str)> = written
        .iter()
        .map(|(k, r)| {
            (
                k.as_str(),
                r.event.event.as_deref().expect("name"),
                r.event.properties["sms_id"].as_str().expect("id"),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("acme/sms:+15550001111", "SMS Delivered", "SM1"),
            ("acme/sms:+15550001111", "SMS Failed", "SM2"),
            ("acme/sms:+15550001111", "SMS Received", "SM3"),
            ("acme/sms:+15550002222", "SMS Opted Out", "SM4"),
        ]
    );
    assert_eq!(written[1].1.event.properties["error_code"], "30003");
    assert_eq!(written[2].1.event.properties["body"], "Yes, call me");
    assert_eq!(written[2].1.event.context.channel.as_deref(), Some("sms"));
}

#[tokio::test]
async fn a_replayed_twilio_callback_or_message_changes_nothing() {
    let h = sms_harness();
    let wk = format!("?wk={KEY}");
    let stop = [
        ("MessageSid", "SM-stop-1"),
        ("From", "+15550002222"),
        ("To", "+15559990000"),
        ("Body", "STOP"),
    ];
    for _ in 0..3 {
        assert_eq!(twilio(&h, &wk, &stop, None).await.0, StatusCode::OK);
    }
    let written = h.written().await;
    assert_eq!(written.len(), 1, "one STOP, however often it is posted");
    assert_eq!(
        written[0].1.event.message_id.as_deref(),
        Some("sms:twilio:SM-stop-1:sms_opted_out")
    );
    // The same message's later status is another event.
    let delivered = [
        ("MessageSid", "SM-stop-1"),
        ("MessageStatus", "delivered"),
        ("To", "+15550002222"),
    ];
    assert_eq!(twilio(&h, &wk, &delivered, None).await.0, StatusCode::OK);
    assert_eq!(h.written().await.len(), 2);
}

#[tokio::test]
async fn twilio_webhooks_must_be_signed_and_well_formed() {
    let h = sms_harness();
    let wk = format!("?wk={KEY}");
    let receipt = [
        ("MessageSid", "SM1"),
        ("MessageStatus", "delivered"),
        ("To", "+15550001111"),
    ];
    let (status, body) = twilio(
        &h,
        &wk,
        &receipt,
        Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("bad_signature"), "{body}");
    // Signed for another URL (the write key changed on the way).
    let map: std::collections::BTreeMap<String, String> = receipt
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let other = leadstream_ingest::signatures::twilio_signature(
        TWILIO_TOKEN,
        &format!("https://t.acme.io/v1/webhooks/sms/twilio?wk={OTHER_KEY}"),
        &map,
    );
    assert_eq!(
        twilio(&h, &wk, &receipt, Some(other)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Signed, but no write key / unknown write key.
    assert_eq!(
        twilio(&h, "", &receipt, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        twilio(&h, "?wk=wk_nobody_123", &receipt, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Signed, but missing or unknown fields.
    let (status, body) = twilio(
        &h,
        &wk,
        &[("MessageStatus", "delivered"), ("To", "+1555")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("MessageSid"), "{body}");
    let (status, body) = twilio(
        &h,
        &wk,
        &[
            ("MessageSid", "SM9"),
            ("MessageStatus", "teleported"),
            ("To", "+1555"),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("MessageStatus"), "{body}");
    assert!(h.written().await.is_empty());

    // Not configured: refused, never accepted unsigned.
    let unconfigured = harness();
    assert_eq!(
        twilio(&unconfigured, &wk, &receipt, None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let req = Request::post("/v1/webhooks/sms/carrier-pigeon")
        .body(Body::empty())
        .expect("req");
    assert_eq!(h.send(req).await.0, StatusCode::NOT_FOUND);
}

async fn generic(h: &Harness, body: &str, signature: Option<String>) -> (StatusCode, Value) {
    let signature = signature.unwrap_or_else(|| {
        leadstream_ingest::signatures::generic_signature(
            SMS_SECRET,
            chrono::Utc::now().timestamp(),
            KEY,
            body.as_bytes(),
        )
    });
    let req = Request::post(format!("/v1/webhooks/sms/generic?wk={KEY}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-leadstream-signature", signature)
        .body(Body::from(body.to_string()))
        .expect("req");
    let (status, _, body) = h.send(req).await;
    (status, body)
}

#[tokio::test]
async fn the_generic_sms_format_is_signed_json() {
    let h = sms_harness();
    let body = json!({"events": [
        {"type": "sent", "message_id": "g1", "to": "+15550003333", "from": "ACME", "timestamp": "2026-11-01T10:00:00Z"},
        {"type": "received", "message_id": "g2", "to": "ACME", "from": "+15550003333", "body": "UNSUBSCRIBE"}
    ]}).to_string();
    let (status, resp) = generic(&h, &body, None).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let written = h.written().await;
    let names: Vec<&str> = written
        .iter()
        .map(|(_, r)| r.event.event.as_deref().expect("name"))
        .collect();
    assert_eq!(names, vec!["SMS Sent", "SMS Opted Out"]);
    assert!(written.iter().all(|(k, _)| k == "acme/sms:+15550003333"));

    let (status, resp) = generic(&h, &body, Some("sha256=00".into())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&resp, "bad_signature", "signature");
    let (status, resp) = generic(&h, "{\"events\": [", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "malformed_json", "body");
    let (status, resp) = generic(
        &h,
        &json!({"events": [{"type": "beamed", "message_id": "g", "to": "a", "from": "b"}]})
            .to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "events[0].type");
    let (status, resp) = generic(
        &h,
        &json!({"events": [{"type": "sent", "to": "a", "from": "b"}]}).to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&resp, "invalid_field", "events[0].message_id");
    assert_eq!(h.written().await.len(), 2, "nothing more was written");
}
